"""The torch training loop (official `online_trainer.py` semantics, ARCHITECTURE.md "The training loop").

Seed phase with uniform random actions, the one-off pre-training updates, then `updates_per_iteration`
updates per vector step; evaluation at episode boundaries every `eval_freq` agent steps (and at step 0);
a progress bar; rows appended to the run folder; checkpoints at episode boundaries; a NaN guard.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tdmpc_parity.core.checkpoints import read_latest, require_checkpoint
from tdmpc_parity.core.config import Config
from tdmpc_parity.core.noise import NoiseSpec
from tdmpc_parity.core.runlog import NonFiniteError, RunLog, update_row
from tdmpc_parity.core.schedule import Schedule, q_reset_due
from tdmpc_parity.core.time_budget import TimeBudget
from tdmpc_parity.core.training_video import drop_videos_after, require_video_writer, video_due, video_index
from torch_ref import checkpoint
from torch_ref.agent import TDMPC2
from torch_ref.buffer import Buffer
from torch_ref.env import make_vector_env
from torch_ref.episodes import run_episodes, write_training_video
from torch_ref.world_model import WorldModel


def param_counts(cfg: Config) -> dict[str, int]:
    """Learnable parameters per module of the torch world model for `cfg`."""
    glass = None
    if cfg.glass.enabled:
        from torch_ref.glass import GlassHead

        glass = GlassHead(cfg)
    return WorldModel(cfg, glass=glass).param_counts()


def _env_rng_states(vec) -> list[Any]:
    return [env.task.random.get_state() for env in vec.envs]


def _set_env_rng_states(vec, states: list[Any]) -> None:
    for env, state in zip(vec.envs, states, strict=True):
        env.task.random.set_state(state)


def _check_finite(metrics: dict[str, torch.Tensor], agent_step: int, run_dir: Path) -> None:
    """One device sync per update: raise NonFiniteError naming the first non-finite metric."""
    values = torch.stack([v.detach().reshape(()).to(torch.float64) for v in metrics.values()])
    if not bool(torch.isfinite(values).all()):
        name = next(k for k, v in metrics.items() if not bool(torch.isfinite(v).all()))
        raise NonFiniteError(agent_step, name, _last_checkpoint(run_dir))


def _last_checkpoint(run_dir: Path) -> str | None:
    try:
        found = read_latest(run_dir)
    except ValueError:
        return None
    return str(found[0]) if found else None


class Trainer:
    """One torch TD-MPC2 run in a run folder."""

    def __init__(self, cfg: Config, run_dir: str | Path, resume: bool = False, overwrite: bool = False,
                 progress: bool = True, max_seconds: float | None = None):
        self.budget = TimeBudget(max_seconds)  # train --max-minutes: stop at the first episode end after it
        require_video_writer(cfg)  # video_every: a missing renderer fails now, not at the first video
        if resume:  # a folder without a checkpoint is refused before anything is touched
            require_checkpoint(run_dir)
        self.cfg, self.run_dir, self.progress = cfg, Path(run_dir), progress
        self.sched = Schedule(cfg)
        self.log = RunLog(self.run_dir, cfg, resume=resume, overwrite=overwrite)
        self.agent = TDMPC2(cfg)
        self.device, self.dtype = self.agent.device, self.agent.dtype
        self.env = make_vector_env(cfg, cfg.n_envs, cfg.seed)
        self.eval_env = make_vector_env(cfg, cfg.eval_episodes, cfg.seed + 10_000)
        self.buffer = Buffer(cfg, cfg.n_envs, self.device, self.dtype)
        self.iteration = 0
        self.last_eval, self.last_save, self.last_diag = -1, 0, 0
        self.last_video = -1  # tdmpc_parity/core/training_video.py: index of the last video written
        self.elapsed_before = 0.0
        self.resumed = resume and self._restore()
        if self.resumed:  # the videos past the checkpoint are written again, as its rows are logged again
            drop_videos_after(self.run_dir, self.sched.env_step(self.iteration))

    # -- checkpoints -----------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "agent": self.agent.state_dict(),
            "iteration": self.iteration,
            "last_eval": self.last_eval, "last_save": self.last_save, "last_diag": self.last_diag,
            "last_video": self.last_video,
            "elapsed": self.elapsed_before + time.perf_counter() - self.t_start,
            "env_rng": _env_rng_states(self.env),
            "eval_env_rng": _env_rng_states(self.eval_env),
        }

    def save(self) -> Path:
        return checkpoint.save(self.run_dir, self.sched.agent_step(self.iteration), self.cfg, self._state(),
                               self.buffer.state_dict())

    def _restore(self) -> bool:
        found = checkpoint.load(self.run_dir, self.cfg)
        if found is None:
            return False
        state, buffer = found
        self.agent.load_state_dict(state["agent"])
        self.buffer.load_state_dict(buffer)
        self.iteration = int(state["iteration"])
        self.last_eval, self.last_save, self.last_diag = state["last_eval"], state["last_save"], state["last_diag"]
        self.last_video = state.get("last_video", -1)
        self.elapsed_before = float(state["elapsed"])
        _set_env_rng_states(self.env, state["env_rng"])
        _set_env_rng_states(self.eval_env, state["eval_env_rng"])
        return True

    # -- pieces of the loop ----------------------------------------------------------------------------------
    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), device=self.device, dtype=self.dtype)

    def evaluate(self) -> float:
        """eval_episodes episodes side by side on the eval envs (their RNG goes on from episode to episode), MPPI
        in eval mode (torch_ref/episodes.py `run_episodes`); mean undiscounted return."""
        def bar(steps: range) -> tqdm:
            return tqdm(steps, desc=f"eval ({self.cfg.eval_episodes} episodes)", leave=False, unit="step",
                        disable=not self.progress, dynamic_ncols=True)

        return float(run_episodes(self.agent, self.eval_env, self.cfg.episode_length, progress=bar).returns.mean())

    def glass_diagnostics(self) -> dict[str, float]:
        """Glass scalars on a fresh batch, and the S/P/A matrices saved to the run folder."""
        from torch_ref.glass import glass_loss, glass_matrices

        model = self.agent.model
        obs, action, _ = self.buffer.sample(self.agent.generator)
        with torch.no_grad():
            next_z = model.encode(obs[1:])
            z = model.encode(obs[0])
            zs = [z]
            for t in range(self.cfg.horizon - 1):
                z = model.next(z, action[t])
                zs.append(z)
            z_src = torch.stack(zs)
            _, metrics = glass_loss(model._glass, z_src, next_z, self.cfg.glass)
            self.log.save_glass_matrices(self.sched.agent_step(self.iteration),
                                         glass_matrices(model._glass, z_src, next_z, self.cfg.glass))
        return {k: float(v) for k, v in metrics.items()}

    def _act(self, obs: np.ndarray) -> torch.Tensor:
        E, A = self.cfg.n_envs, self.cfg.action_dim
        if self.sched.random_actions(self.iteration):
            return self.agent.draw({"a": NoiseSpec((E, A), "uniform")})["a"]
        t0 = torch.full((E,), self.buffer.t == 0, device=self.device)
        return self.agent.act(self._tensor(obs), t0, env_step=self.sched.env_step(self.iteration))

    def _log_eval(self) -> None:
        reward = self.evaluate()
        self.log.log("eval", {**self._counters(), "episode_reward": reward})
        self.last_eval = self.sched.eval_index(self.iteration)
        env_step = self.sched.env_step(self.iteration)
        if video_due(self.cfg, env_step, self.last_video):
            from torch_ref.weights import to_canonical

            write_training_video(self.cfg, to_canonical(self.agent.model), self.cfg.seed, self.run_dir, env_step)
            self.last_video = video_index(self.cfg, env_step)

    def _counters(self) -> dict[str, Any]:
        it = self.iteration
        return {"agent_step": self.sched.agent_step(it), "env_step": self.sched.env_step(it),
                "elapsed": self.elapsed_before + time.perf_counter() - self.t_start}

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg, sched = self.cfg, self.sched
        self.t_start = time.perf_counter()
        total = sched.total_iterations
        obs, _ = self.env.reset()
        self.buffer.add_reset(self._tensor(obs))
        if sched.eval_due(self.iteration, self.last_eval):
            self._log_eval()
        ep_return = np.zeros(cfg.n_envs)
        window: dict[str, list[float]] = {}
        window_start, window_iter = time.perf_counter(), self.iteration
        bar = tqdm(total=sched.env_step(total), initial=sched.env_step(self.iteration), unit="env step",
                   unit_scale=True, disable=not self.progress, dynamic_ncols=True, desc=f"torch {cfg.task}")
        last = {}
        while self.iteration < total:
            it = self.iteration
            action = self._act(obs)
            next_obs, reward, _, _, _ = self.env.step(action.cpu().numpy())
            if not (np.isfinite(next_obs).all() and np.isfinite(reward).all()):
                raise NonFiniteError(sched.agent_step(it + 1), "env state (observation/reward)",
                                     _last_checkpoint(self.run_dir))
            self.buffer.add(self._tensor(next_obs), action, self._tensor(reward))
            ep_return += reward
            if q_reset_due(cfg, it):  # Phase 1c: online Q <- target Q, fresh Q Adam state (off by default)
                self.agent.reset_q()
            n_updates = sched.updates_after(it)
            pretraining = it == cfg.seed_iterations - 1  # the one-off pre-training updates after the seed phase
            for _ in tqdm(range(n_updates), desc="pre-training updates", leave=False, unit="update",
                          disable=not (self.progress and pretraining), dynamic_ncols=True):
                metrics = self.agent.update(self.buffer.sample(self.agent.generator), env_steps=sched.env_step(it + 1))
                _check_finite(metrics, sched.agent_step(it + 1), self.run_dir)
                for k, v in metrics.items():
                    window.setdefault(k, []).append(float(v))
            self.iteration += 1
            bar.update(sched.env_step(1))
            obs = next_obs
            if not sched.episode_end(it):
                continue
            # ---- episode boundary
            now = time.perf_counter()
            last = {**self._counters(), "episode_reward": float(ep_return.mean()),
                    "episode_length": cfg.episode_length,
                    "steps_per_second": sched.env_step(self.iteration - window_iter) / max(now - window_start, 1e-9),
                    **update_row({k: float(np.mean(v)) for k, v in window.items()})}
            self.log.log("train", last)
            bar.set_postfix(ret=f"{last['episode_reward']:.1f}", sps=f"{last['steps_per_second']:.0f}")
            ep_return[:], window = 0.0, {}
            if sched.eval_due(self.iteration, self.last_eval):
                self._log_eval()
            if sched.glass_diag_due(self.iteration, self.last_diag) and self.iteration >= cfg.seed_iterations:
                self.log.log("glass", {**self._counters(), **self.glass_diagnostics()})
                self.last_diag = sched.glass_diag_index(self.iteration)
            if sched.save_due(self.iteration, self.last_save):
                self.save()
                self.last_save = sched.save_index(self.iteration)
            if self.iteration < total and self.budget.spent():
                break  # checkpointed below, like the final boundary
            if self.iteration < total:  # the final boundary is checkpointed before any reset
                obs, _ = self.env.reset()
                self.buffer.add_reset(self._tensor(obs))
            window_start, window_iter = time.perf_counter(), self.iteration
        bar.close()
        if sched.episode_end(self.iteration - 1) and self.iteration > 0:
            self.save()  # the final checkpoint (only at an episode boundary: resume restarts at a reset)
        self._save_final_model()
        self.log.close()
        return {"run_dir": str(self.run_dir), "agent_steps": sched.agent_step(self.iteration),
                "env_steps": sched.env_step(self.iteration), "last_train": last,
                "stopped_early": self.iteration < total}

    def _save_final_model(self) -> None:
        from tdmpc_parity.core.weights import save_weights
        from torch_ref.weights import to_canonical

        save_weights(self.run_dir / "model.npz", to_canonical(self.agent.model))


def train(cfg: Config, run_dir: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True, max_seconds: float | None = None) -> int:
    """Console entry: run (or resume) a training run; 0 on success (also when --max-minutes stopped it)."""
    trainer = Trainer(cfg, run_dir, resume=resume, overwrite=overwrite, progress=progress, max_seconds=max_seconds)
    summary = trainer.run()
    print(f"run folder: {summary['run_dir']} ({summary['env_steps']} env steps)")
    if summary["stopped_early"]:
        print(trainer.budget.message(summary["run_dir"], summary["env_steps"]))
    return 0
