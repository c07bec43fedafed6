"""Where a torch training iteration's time goes: each stage of the trainer's loop body timed on its own.

The loop body of `torch_ref.train.Trainer.run` after the seed phase, stage by stage, with a device sync after
each stage so a stage's time is its own (on CPU the sync is free; on CUDA it serialises what would overlap, so
the stages' sum can exceed the plain iteration, which is timed separately without the per-stage syncs):
  act     planning/acting: MPPI (or the `policy` collector) for the n_envs observations
  env     physics: the vector env's step (dm_control, action_repeat control steps) and the NaN check
  buffer  replay insert (and the episode-end reset row), and the updates' batch sampling
  update  the `updates_per_iteration` gradient updates (forward, backward, Adam, Polyak, RunningScale) with
          the trainer's per-update finiteness sync and metric read-back
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.noise import NoiseSpec
from tdmpc_parity.core.profile_stages import STAGES
from tdmpc_parity.core.schedule import Schedule
from torch_ref.agent import TDMPC2
from torch_ref.buffer import Buffer
from torch_ref.env import make_vector_env
from torch_ref.train import _check_finite


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Loop:
    """The trainer's loop state: agent, vector env, buffer, the current observation and iteration."""

    def __init__(self, cfg: Config):
        self.cfg, self.sched = cfg, Schedule(cfg)
        self.agent = TDMPC2(cfg)
        self.device, self.dtype = self.agent.device, self.agent.dtype
        self.env = make_vector_env(cfg, cfg.n_envs, cfg.seed)
        self.buffer = Buffer(cfg, cfg.n_envs, self.device, self.dtype)
        self.obs, _ = self.env.reset()
        self.buffer.add_reset(self._tensor(self.obs))
        self.iteration = 0

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), device=self.device, dtype=self.dtype)

    def iterate(self, times: dict[str, float] | None = None) -> None:
        """One iteration; with `times`, each stage synced and its seconds added to times[stage]."""
        cfg, sched, it = self.cfg, self.sched, self.iteration
        clock = [time.perf_counter()]

        def lap(stage: str) -> None:
            if times is not None:
                _sync(self.device)
                now = time.perf_counter()
                times[stage] += now - clock[0]
                clock[0] = now

        if sched.random_actions(it):
            action = self.agent.draw({"a": NoiseSpec((cfg.n_envs, cfg.action_dim), "uniform")})["a"]
        else:
            action = self.agent.act(self._tensor(self.obs), torch.full((cfg.n_envs,), self.buffer.t == 0,
                                                                      device=self.device))
        lap("act")
        next_obs, reward, _, _, _ = self.env.step(action.cpu().numpy())
        if not (np.isfinite(next_obs).all() and np.isfinite(reward).all()):
            raise FloatingPointError(f"non-finite env state at iteration {it}")
        lap("env")
        self.buffer.add(self._tensor(next_obs), action, self._tensor(reward))
        lap("buffer")
        n_updates = cfg.updates_per_iteration if it >= cfg.seed_iterations else 0  # the one-off pretrain skipped
        for _ in range(n_updates):
            batch = self.buffer.sample(self.agent.generator)
            lap("buffer")
            metrics = self.agent.update(batch, env_steps=sched.env_step(it + 1))
            _check_finite(metrics, sched.agent_step(it + 1), Path("."))
            {k: float(v) for k, v in metrics.items()}  # noqa: B018 (the trainer's metric read-back)
            lap("update")
        self.iteration += 1
        self.obs = next_obs
        if sched.episode_end(it):
            self.obs, _ = self.env.reset()
            lap("env")
            self.buffer.add_reset(self._tensor(self.obs))
            lap("buffer")


def profile(cfg: Config, iterations: int, progress: bool = True) -> dict[str, Any]:
    """Seconds per training iteration by stage (after a seed phase and warm-up), and of the plain iteration."""
    from tqdm import tqdm

    loop = _Loop(cfg)
    for _ in tqdm(range(cfg.seed_iterations + 2), desc="torch: seed phase + warm-up", leave=False,
                  disable=not progress):
        loop.iterate()
    times = dict.fromkeys(STAGES, 0.0)
    plain = 0.0
    # staged and plain iterations alternate, so both see the same machine load
    for _ in tqdm(range(iterations), desc="torch: staged and plain iterations", leave=False, disable=not progress):
        loop.iterate(times)
        _sync(loop.device)
        start = time.perf_counter()
        loop.iterate()
        _sync(loop.device)
        plain += time.perf_counter() - start
    plain /= iterations
    return {"backend": "torch", "device": str(loop.device), "iterations": iterations,
            "stage_seconds": {k: v / iterations for k, v in times.items()}, "iteration_seconds": plain,
            "compile_seconds": {}}
