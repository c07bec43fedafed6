"""The JAX training loop: device-resident, one compiled program per chunk of training iterations.

One iteration (ARCHITECTURE.md "The training loop") = act for all envs (MPPI or the `policy` collector;
uniform actions in the seed phase) -> vmapped MJX env step -> buffer insert (+ reset row at an episode end)
-> `updates_per_iteration` updates fused in a `lax.scan`. A chunk = one episode of iterations in a
`lax.scan`, jitted once per shape; the host only logs between chunks. The whole state (agent, envs,
buffer, keys, counters) is one pytree with a leading seed axis, so `--seeds 1,2,3` trains independent agents
vmapped in one program (the PureJaxRL pattern); a single seed is the same program with one seed. Each seed's
train row logs its own rate: `steps_per_second` = all seeds' env steps / seconds / number of seeds.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from jax_impl.agent import TDMPC2, AgentState
from jax_impl.buffer import Buffer, BufferState
from jax_impl.env import EnvState, MJXEnv
from jax_impl.episodes import run_episodes, write_training_video
from jax_impl.runtime import agent_precision
from jax_impl.sharding import Layout, constrain_state, replicated, state_shardings, train_layout
from tdmpc_parity.core.checkpoints import require_checkpoint
from tdmpc_parity.core.config import Config
from tdmpc_parity.core.runlog import NonFiniteError, RunLog, update_row
from tdmpc_parity.core.schedule import Schedule, q_reset_due
from tdmpc_parity.core.time_budget import TimeBudget
from tdmpc_parity.core.training_video import drop_videos_after, require_video_writer, video_due, video_index


def param_counts(cfg: Config) -> dict[str, int]:
    """Learnable parameters per module of the JAX world model for `cfg` (shapes only, nothing computed)."""
    agent = TDMPC2(cfg, n_envs=1)
    params = jax.eval_shape(lambda: agent.init(jax.random.PRNGKey(0)).params)
    return agent.model.param_counts(params)


class TrainState(NamedTuple):
    agent: AgentState
    env: EnvState  # batched over n_envs
    buffer: BufferState
    key: jax.Array
    iteration: jax.Array  # int32 (): vector steps done


class Clock(NamedTuple):
    """Counters every seed shares (all seeds run in lockstep), passed to the vmapped programs unbatched.

    Glass's activity is computed from them, so it is one flag for all seeds and its `lax.cond` really skips
    the Glass work on inactive updates (a per-seed, batched flag makes vmap compute both branches).
    """

    iteration: jax.Array  # int32 (): vector steps done
    num_updates: jax.Array  # int32 (): updates done


def _first_bad(tree: dict[str, np.ndarray]) -> tuple[int, str] | None:
    """(iteration index, name) of the first non-finite entry of per-iteration metric arrays, else None."""
    first: tuple[int, str] | None = None
    for name, arr in tree.items():
        bad = ~np.isfinite(np.asarray(arr, dtype=np.float64))
        if bad.any():
            idx = int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1))) if bad.ndim else 0
            if first is None or idx < first[0]:
                first = (idx, name)
    return first


# Fields that only steer the host loop: programs compiled for one value serve every value.
LOOP_FIELDS = ("steps", "seed", "eval_freq", "save_every", "profile", "logger", "wandb_project", "devices",
               "video_every")


class Programs:
    """The pure pieces of training and their jitted (seed-vmapped) forms, for one program-shaping config.

    Cached per config and device layout (`programs_for`), so several runs in one process (tests, resume)
    compile once. `trace_counts` counts Python traces of each chunk: a retrace between iterations is a bug.
    With a `layout` (jax_impl/sharding.py) the chunks take and return the state sharded over its devices and
    the updates' sampled batch is gathered whole (the update replicated over a seed's env devices).
    """

    def __init__(self, cfg: Config, layout: Layout | None = None):
        self.cfg, self.layout = cfg, layout
        self.agent = TDMPC2(cfg)
        self.dtype = self.agent.dtype
        self.env = MJXEnv(cfg)
        self.buffer = Buffer(cfg, cfg.n_envs, self.dtype)
        self.trace_counts: Counter[str] = Counter()
        L = cfg.episode_length
        self.seed_chunk = self._chunk(L, random=True)
        self.train_chunk = self._chunk(L, random=False)
        self.pretrain = self.seed_program(self.pretrain_updates)
        self.evaluate = jax.jit(jax.vmap(self.eval_episodes))
        self.init = jax.jit(jax.vmap(self.init_state))
        self._partial: dict[tuple[int, bool], Any] = {}

    def _chunk(self, n: int, random: bool):
        """`run_iterations` of `n` iterations from an episode start (ending it iff n = episode_length), jitted
        and vmapped over the seed axis of the state; the clock is shared (unbatched); the state is donated
        (updated in place: no copy of the replay buffer)."""
        ends = n == self.cfg.episode_length
        return self.seed_program(lambda ts, clock: self.run_iterations(ts, n, random, clock, ends=ends))

    def seed_program(self, fn):
        """`fn(ts, clock) -> (ts, out)` vmapped over the seed axis (clock shared), jitted with the state donated;
        with a layout, the state is pinned to it on the way in and out (a chunk never reshards it)."""
        layout = self.layout
        vmapped = jax.vmap(fn, in_axes=(0, None), spmd_axis_name=None if layout is None else "seeds")

        def program(ts, clock):
            ts, out = vmapped(constrain_state(layout, ts), clock)
            return constrain_state(layout, ts), out

        return jax.jit(program, donate_argnums=0)

    def partial_chunk(self, n: int, random: bool):
        """A final partial episode of `n` iterations: its own compiled shape."""
        if (n, random) not in self._partial:
            self._partial[(n, random)] = self._chunk(n, random)
        return self._partial[(n, random)]

    def init_state(self, seed: jax.Array) -> TrainState:
        """Fresh agent, envs (random initial states) and buffer (with the reset rows) for one seed."""
        k_agent, k_env, k_loop = jax.random.split(jax.random.PRNGKey(seed), 3)
        env_state = self.env.reset_batch(k_env, self.cfg.n_envs)
        buffer = self.buffer.add_reset(self.buffer.init(), env_state.obs)
        return TrainState(self.agent.init(k_agent), env_state, buffer, k_loop, jnp.zeros((), jnp.int32))

    def updates(self, agent: AgentState, buffer: BufferState, key: jax.Array, n: int, env_steps: jax.Array,
                num_updates: jax.Array | None = None):
        """`n` updates in a lax.scan, each on a fresh uniform batch; returns (agent, mean metrics).

        With `num_updates` (the shared count of updates done before these) Glass's activity is computed from
        it and `env_steps` instead of from each agent's own counter (the same value; see `Clock`)."""
        def one(agent, xs):
            k, j = xs
            active = None if num_updates is None else self.agent.glass_active(num_updates + j, env_steps)
            batch = replicated(self.layout, self.buffer.sample(buffer, k))  # gathered from the env shards
            return self.agent.update(agent, batch, env_steps, glass_active=active)

        xs = (jax.random.split(key, n), jnp.arange(n, dtype=jnp.int32))
        agent, metrics = jax.lax.scan(one, agent, xs)
        return agent, jax.tree.map(lambda m: m.mean(0), metrics)

    def iteration(self, ts: TrainState, random: bool, clock: Clock | None = None, end: bool | None = None):
        """One vector step: act -> env step -> insert (-> reset row) -> updates (train phase only).

        `clock` (unbatched, before this step) gives the updates their env steps and update count; without it
        they come from the state (then batched under vmap). `end`: whether this step ends the (lockstep)
        episode, when the caller knows it statically (no reset traced / an unconditional reset); None: decided
        at run time by a `lax.cond`, which a vmap over seeds turns into computing both branches."""
        cfg, E = self.cfg, self.cfg.n_envs
        key, k_act, k_upd = jax.random.split(ts.key, 3)
        obs = ts.env.obs
        if random:
            agent = ts.agent
            action = jax.random.uniform(k_act, (E, cfg.action_dim), self.dtype, -1.0, 1.0)
        else:
            t0 = jnp.broadcast_to(ts.buffer.t == 0, (E,))
            done = ts.iteration if clock is None else clock.iteration  # vector steps before this one
            agent, action = self.agent.act(ts.agent, obs, t0, env_step=done * E * cfg.action_repeat)
        env, tr = self.env.step_batch(ts.env, action, reset=end)
        buffer = self.buffer.add(ts.buffer, tr.next_obs, action, tr.reward)
        if end is None:
            buffer = jax.lax.cond(tr.done[0], lambda b: self.buffer.add_reset(b, env.obs), lambda b: b, buffer)
        elif end:
            buffer = self.buffer.add_reset(buffer, env.obs)
        it = ts.iteration + 1
        out = {"reward": tr.reward, "env_finite": jnp.isfinite(tr.next_obs).all() & jnp.isfinite(tr.reward).all()}
        if not random:
            shared = it if clock is None else clock.iteration + 1
            env_steps = shared * E * cfg.action_repeat
            if cfg.q_reset_every_env_steps > 0:  # Phase 1c Q reset (off by default: the program is unchanged)
                agent = self.agent.maybe_reset_q(agent, q_reset_due(cfg, shared - 1))
            agent, out["metrics"] = self.updates(agent, buffer, k_upd, cfg.updates_per_iteration, env_steps,
                                                 None if clock is None else clock.num_updates)
        return TrainState(agent, env, buffer, key, it), out

    def run_iterations(self, ts: TrainState, n: int, random: bool, clock: Clock | None = None,
                       ends: bool | None = None):
        """A chunk: `n` iterations in a lax.scan (traced once per (n, random, ends)); `clock` as in `iteration`.

        `ends`, when the caller knows where the (lockstep) episode ends: True = the chunk's last iteration ends
        it and no earlier one does (the trainer's chunks: one episode from its start), False = no iteration of
        the chunk ends it (a final partial episode). Then the scan holds no reset at all: n - 1 plain
        iterations, then one that resets every env and starts the buffer's next episode. None: each
        iteration decides at run time (a `lax.cond`: under the seed vmap both branches are computed)."""
        self.trace_counts[f"chunk(n={n}, random={random}" + ("" if ends is None else f", ends={ends}") + ")"] += 1
        per_step = 0 if random else self.cfg.updates_per_iteration

        def step(carry, _, end=None if ends is None else False):
            s, c = carry
            s, out = self.iteration(s, random, c, end=end)
            c = None if c is None else Clock(c.iteration + 1, c.num_updates + per_step)
            return (s, c), out

        (ts, clock), out = jax.lax.scan(step, (ts, clock), None, length=n - 1 if ends else n)
        if ends:
            (ts, clock), last = step((ts, clock), None, end=True)
            out = jax.tree.map(lambda xs, x: jnp.concatenate([xs, x[None]]), out, last)
        return ts, out

    def pretrain_updates(self, ts: TrainState, clock: Clock | None = None):
        """The one-off `pretrain_updates` updates at the end of the seed phase; `clock` as in `iteration`."""
        key, sub = jax.random.split(ts.key)
        iteration = ts.iteration if clock is None else clock.iteration
        env_steps = iteration * self.cfg.n_envs * self.cfg.action_repeat
        agent, metrics = self.updates(ts.agent, ts.buffer, sub, self.cfg.pretrain_updates, env_steps,
                                      None if clock is None else clock.num_updates)
        return ts._replace(agent=agent, key=key), metrics

    def eval_episodes(self, ts: TrainState, index: jax.Array) -> jax.Array:
        """eval_episodes episodes side by side on fresh eval envs, MPPI in eval mode (jax_impl/episodes.py
        `run_episodes`); mean return.

        Eval keys derive from (seed key, eval index) only, so evaluation never perturbs training."""
        cfg, n = self.cfg, self.cfg.eval_episodes
        k_env, k_act = jax.random.split(jax.random.fold_in(jax.random.fold_in(ts.key, 10_000), index))
        env = self.env.reset_batch(k_env, n)
        agent = ts.agent._replace(key=k_act, prev_mean=jnp.zeros((n, cfg.horizon, cfg.action_dim), self.dtype))
        return run_episodes(self.agent, self.env, agent, env, cfg.episode_length).returns.mean()



_PROGRAMS: dict[tuple[Config, tuple[int, int] | None], Programs] = {}


def programs_for(cfg: Config, layout: Layout | None = None) -> Programs:
    """The (cached) compiled programs of `cfg` on `layout`; host-loop fields do not change them."""
    key = replace(cfg, **{f: Config.__dataclass_fields__[f].default for f in LOOP_FIELDS})
    shape = None if layout is None else (layout.seeds, layout.envs)
    if (key, shape) not in _PROGRAMS:
        _PROGRAMS[(key, shape)] = Programs(key, layout)
    return _PROGRAMS[(key, shape)]


class Trainer:
    """Runs `len(seeds)` independent JAX TD-MPC2 agents vmapped over a leading seed axis."""

    def __init__(self, cfg: Config, run_dirs: list[Path], seeds: list[int], resume: bool = False,
                 overwrite: bool = False, progress: bool = True, max_seconds: float | None = None):
        self.budget = TimeBudget(max_seconds)  # train --max-minutes: stop at the first episode end after it
        require_video_writer(cfg)  # video_every: a missing renderer fails now, not at the first video
        if len(run_dirs) != len(seeds):
            raise ValueError("one run folder per seed")
        if resume:  # a folder without a checkpoint is refused before anything is touched
            for run_dir in run_dirs:
                require_checkpoint(run_dir)
        self.layout = train_layout(len(seeds), cfg.n_envs, cfg.devices)  # bad input refused before any writing
        self.cfg, self.seeds, self.run_dirs, self.progress = cfg, seeds, run_dirs, progress
        self.sched = Schedule(cfg)
        self.programs = programs_for(cfg, self.layout)
        self.agent, self.buffer = self.programs.agent, self.programs.buffer
        self.logs = [RunLog(d, replace(cfg, seed=s), resume=resume, overwrite=overwrite)
                     for d, s in zip(run_dirs, seeds, strict=True)]
        self.compile_seconds: dict[str, float] = {}
        self.last_eval, self.last_save, self.last_diag = -1, 0, 0
        self.last_video = -1  # tdmpc_parity/core/training_video.py: index of the last video written
        self.elapsed_before = 0.0
        self.state = self._restore() if resume else None
        self.resumed = self.state is not None
        if self.resumed:  # the videos past the checkpoint are written again, as its rows are logged again
            for run_dir in run_dirs:
                drop_videos_after(run_dir, self.sched.env_step(int(np.asarray(self.state.iteration)[0])))
        if self.state is None:
            self.state = self.programs.init(jnp.asarray(seeds, jnp.uint32))
        if self.layout is not None:  # seeds and envs over the devices (jax_impl/sharding.py)
            self.state = jax.device_put(self.state, state_shardings(self.layout, self.state))

    # -- host side -----------------------------------------------------------------------------------------
    def _timed(self, name: str, fn, *args):
        if name not in self.compile_seconds and self.progress:
            tqdm.write(f"jax: compiling {name} (first call; later calls reuse the compiled program)...")
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        if name not in self.compile_seconds:
            self.compile_seconds[name] = time.perf_counter() - start  # first call: compile + one run
        return out

    def _clock(self, iteration: int) -> Clock:
        """The shared counters before the next program call (all seeds hold the same update count)."""
        num_updates = int(np.asarray(self.state.agent.num_updates)[0])
        return Clock(jnp.asarray(iteration, jnp.int32), jnp.asarray(num_updates, jnp.int32))

    def _counters(self, iteration: int) -> dict[str, Any]:
        return {"agent_step": self.sched.agent_step(iteration), "env_step": self.sched.env_step(iteration),
                "elapsed": self.elapsed_before + time.perf_counter() - self.t_start}

    def _check(self, out: dict[str, Any], iteration0: int) -> None:
        """NaN guard on a chunk's outputs: the first non-finite metric or env state stops the run."""
        arrays = {"env state (observation/reward)": np.where(np.asarray(out["env_finite"]), 0.0, np.nan)}
        arrays.update({k: np.asarray(v) for k, v in out.get("metrics", {}).items()})
        for s in range(len(self.seeds)):
            bad = _first_bad({k: v[s] for k, v in arrays.items()})
            if bad is not None:
                from jax_impl.checkpoint import last_checkpoint

                step = self.sched.agent_step(iteration0 + bad[0] + 1)
                raise NonFiniteError(step, f"{bad[1]} (seed {self.seeds[s]})", last_checkpoint(self.run_dirs[s]))

    def _log_eval(self, iteration: int) -> None:
        self._status(f"evaluating {self.cfg.eval_episodes} episodes")
        index = self.sched.eval_index(iteration)
        returns = np.asarray(self._timed("evaluate", self.programs.evaluate, self.state,
                                         jnp.full((len(self.seeds),), index, jnp.int32)))
        for log, r in zip(self.logs, returns, strict=True):
            log.log("eval", {**self._counters(iteration), "episode_reward": float(r)})
        self.last_eval = index
        env_step = self.sched.env_step(iteration)
        if video_due(self.cfg, env_step, self.last_video):
            from jax_impl.weights import to_canonical

            self._status("rendering the training video (the first compiles its episode program)")
            for s, (run_dir, seed) in enumerate(zip(self.run_dirs, self.seeds, strict=True)):
                params = jax.tree.map(lambda x: x[s], self.state.agent.params)  # noqa: B023
                write_training_video(self.cfg, to_canonical(self.agent.model, params), seed, run_dir, env_step)
            self.last_video = video_index(self.cfg, env_step)

    def _status(self, text: str) -> None:
        """Say on the progress bar what the next (single, compiled) program call does."""
        bar = getattr(self, "bar", None)
        if bar is not None and self.progress:
            bar.set_postfix_str(text + "...", refresh=True)

    @agent_precision  # the config's matmul precision, as in the agent's own programs
    def glass_diagnostics(self, ts: TrainState) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Glass scalars and S/P/A matrices on a fresh batch (host side, at diagnostic intervals)."""
        from jax_impl.glass import glass_loss, glass_matrices

        model, params = self.agent.model, ts.agent.params
        obs, action, _ = self.buffer.sample(ts.buffer, jax.random.fold_in(ts.key, 20_000))
        next_z = model.encode(params, obs[1:])
        zs = [model.encode(params, obs[0])]
        for t in range(self.cfg.horizon - 1):
            zs.append(model.next(params, zs[-1], action[t]))
        z_src = jnp.stack(zs)
        _, metrics = glass_loss(params["_glass"], z_src, next_z, self.cfg.glass)
        return ({k: float(v) for k, v in metrics.items()},
                glass_matrices(params["_glass"], z_src, next_z, self.cfg.glass))

    def _log_glass(self, iteration: int) -> None:
        for s, log in enumerate(self.logs):
            ts = jax.tree.map(lambda x: x[s], self.state)  # noqa: B023
            metrics, matrices = self.glass_diagnostics(ts)
            log.log("glass", {**self._counters(iteration), **metrics})
            log.save_glass_matrices(self.sched.agent_step(iteration), matrices)
        self.last_diag = self.sched.glass_diag_index(iteration)

    def run(self) -> dict[str, Any]:
        cfg, sched, L = self.cfg, self.sched, self.cfg.episode_length
        self.t_start = time.perf_counter()
        iteration = int(np.asarray(self.state.iteration)[0])
        total = sched.total_iterations
        if sched.eval_due(iteration, self.last_eval):
            self._log_eval(iteration)
        self.bar = bar = tqdm(total=sched.env_step(total) * len(self.seeds),
                              initial=sched.env_step(iteration) * len(self.seeds), unit="env step", unit_scale=True,
                              disable=not self.progress, dynamic_ncols=True,
                              desc=f"jax {cfg.task} x{len(self.seeds)} seeds")
        rows: list[dict[str, Any]] = [{} for _ in self.seeds]
        while iteration < total:
            n = min(L, total - iteration)
            random = sched.random_actions(iteration)
            p = self.programs
            if n == L:
                fn, name = (p.seed_chunk, "seed_chunk") if random else (p.train_chunk, "train_chunk")
            else:  # a final partial episode: its own (second) compiled shape
                fn, name = p.partial_chunk(n, random), "partial_chunk"
            clock = self._clock(iteration)
            start = time.perf_counter()
            self.state, out = self._timed(name, fn, self.state, clock)
            chunk_seconds = time.perf_counter() - start
            self._check(out, iteration)
            iteration += n
            bar.update(sched.env_step(n) * len(self.seeds))
            metrics = {k: np.asarray(v).mean(axis=1) for k, v in out.get("metrics", {}).items()}
            if iteration == cfg.seed_iterations:
                self._status(f"pre-training: {cfg.pretrain_updates} updates in one program")
                self.state, pre = self._timed("pretrain", p.pretrain, self.state, self._clock(iteration))
                self._check({"env_finite": np.ones((len(self.seeds), 1), bool),
                             "metrics": {k: np.asarray(v)[:, None] for k, v in pre.items()}}, iteration - 1)
                metrics = {k: np.asarray(v) for k, v in pre.items()}
            if n < L:
                break
            # ---- episode boundary (the envs have auto-reset inside the chunk)
            ep_return = np.asarray(out["reward"]).sum(axis=1).mean(axis=-1)  # (seeds,)
            sps = sched.env_step(n) / max(chunk_seconds, 1e-9)  # per seed: all seeds' env steps / seeds
            for s, log in enumerate(self.logs):
                rows[s] = log.log("train", {**self._counters(iteration), "episode_reward": float(ep_return[s]),
                                            "episode_length": L, "steps_per_second": sps,
                                            **update_row({k: float(v[s]) for k, v in metrics.items()})})
            bar.set_postfix(ret=f"{float(ep_return.mean()):.1f}", sps=f"{sps:.0f}")
            if sched.eval_due(iteration, self.last_eval):
                self._log_eval(iteration)
            if sched.glass_diag_due(iteration, self.last_diag) and iteration >= cfg.seed_iterations:
                self._log_glass(iteration)
            if sched.save_due(iteration, self.last_save):
                self.save(iteration)
                self.last_save = sched.save_index(iteration)
            if iteration < total and self.budget.spent():
                break  # checkpointed below, like the final boundary
        bar.close()
        if iteration > 0 and iteration % L == 0:
            self.save(iteration)
        self._save_final_models()
        for log in self.logs:
            log.close()
        return {"run_dirs": [str(d) for d in self.run_dirs], "agent_steps": sched.agent_step(iteration),
                "env_steps": sched.env_step(iteration), "compile_seconds": dict(self.compile_seconds),
                "last_train": rows, "stopped_early": iteration < total}

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save(self, iteration: int) -> None:
        from jax_impl import checkpoint

        meta = {"last_eval": self.last_eval, "last_save": self.sched.save_index(iteration),
                "last_diag": self.last_diag, "elapsed": self.elapsed_before + time.perf_counter() - self.t_start,
                "last_video": self.last_video}
        for s, run_dir in enumerate(self.run_dirs):
            ts = jax.tree.map(lambda x: x[s], self.state)  # noqa: B023
            checkpoint.save(run_dir, self.sched.agent_step(iteration), self.cfg, ts, meta)

    def _restore(self) -> TrainState | None:
        from jax_impl import checkpoint

        template = jax.eval_shape(lambda: jax.vmap(self.programs.init_state)(jnp.zeros((1,), jnp.uint32)))
        template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), template)
        states, metas = [], []
        for run_dir in self.run_dirs:
            found = checkpoint.load(run_dir, self.cfg, template)
            if found is None:
                return None
            states.append(found[0])
            metas.append(found[1])
        meta = metas[0]
        self.last_eval, self.last_save, self.last_diag = meta["last_eval"], meta["last_save"], meta["last_diag"]
        self.last_video = meta.get("last_video", -1)
        self.elapsed_before = float(meta["elapsed"])
        return jax.tree.map(lambda *xs: jnp.stack(xs), *states)

    def _save_final_models(self) -> None:
        from jax_impl.weights import to_canonical
        from tdmpc_parity.core.weights import save_weights

        for s, run_dir in enumerate(self.run_dirs):
            params = jax.tree.map(lambda x: x[s], self.state.agent.params)  # noqa: B023
            save_weights(Path(run_dir) / "model.npz", to_canonical(self.agent.model, params))


def _run_dirs(run_dir: Path, seeds: list[int]) -> list[Path]:
    return [Path(run_dir)] if len(seeds) == 1 else [Path(run_dir) / f"seed_{s}" for s in seeds]


def train(cfg: Config, run_dir: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True, max_seconds: float | None = None) -> int:
    """Console entry: run (or resume) one seed; 0 on success (also when --max-minutes stopped it)."""
    return train_seeds(cfg, [cfg.seed], run_dir, resume=resume, overwrite=overwrite, progress=progress,
                       max_seconds=max_seconds)


def train_seeds(cfg: Config, seeds: list[int], run_dir: str | Path, resume: bool = False, overwrite: bool = False,
                progress: bool = True, max_seconds: float | None = None) -> int:
    """Console entry: `--seeds 1,2,3` trains independent agents vmapped in one program."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds has a repeated seed: {seeds}")
    trainer = Trainer(cfg, _run_dirs(Path(run_dir), seeds), seeds, resume=resume, overwrite=overwrite,
                      progress=progress, max_seconds=max_seconds)
    summary = trainer.run()
    compiled = ", ".join(f"{k} {v:.1f}s" for k, v in summary["compile_seconds"].items())
    sharded = "" if trainer.layout is None else f"; {trainer.layout.describe()}"
    print(f"run folder(s): {', '.join(summary['run_dirs'])} ({summary['env_steps']} env steps per seed; "
          f"first calls incl. compile: {compiled}{sharded})")
    if summary["stopped_early"]:
        print(trainer.budget.message(str(run_dir), summary["env_steps"]))
    return 0
