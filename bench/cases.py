"""The timed work of the update and train_iteration benchmarks (and the JAX env_step one), built per backend: what
one call does, what its record says and what is checked after timing. `bench/test_bench_update.py`,
`bench/test_bench_train.py` and `bench/test_bench_env.py` time one backend's case; `bench/test_bench_paired.py`
times the torch and the JAX case of the same settings in alternating rounds; `bench/test_bench_physics.py` times
the JAX env_step and train_iteration cases in the other physics mode and on more tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.protocol import (
    BenchSizes,
    extra_info_fn,
    jax_agent_init,
    jax_commit,
    jax_device_label,
    jax_param_count,
    jax_post_seed_state,
    jax_rollout,
    jit_cache_size,
    torch_device_label,
    torch_sync,
)
from tdmpc_parity.analysis.benchmeta import BenchProfile
from tdmpc_parity.core.config import Config


@dataclass
class Case:
    """One backend's timed work: `call()` is one timed call; `info(compile_seconds)` its extra_info;
    `checks(calls)` the sanity checks after `calls` calls (name -> passed)."""

    call: Callable[[], None]
    info: Callable[[float], dict[str, Any]]
    checks: Callable[[int], dict[str, bool]]


def jax_env_case(cfg: Config, bench_profile: BenchProfile, n_envs: int, steps: int, profile: str) -> Case:
    """`steps` agent steps of `n_envs` MJX envs in cfg's physics per call (`bench.protocol.JaxEnvRollout`, the env
    state donated and threaded into the next call), recorded with the record label `profile`."""
    import jax

    roll = jax_rollout(cfg, n_envs, steps)
    state = list(roll.start(cfg.seed))
    traces = roll.traces

    def call() -> None:
        env_state, key, out = roll.fn(*state)
        jax.block_until_ready((env_state, out))
        state[:] = env_state, key

    info = extra_info_fn(cfg, bench_profile, bench="env_step", device=jax_device_label(),
                         agent_steps_per_call=steps * n_envs, updates_per_call=0, profile=profile)
    return Case(call, info, lambda calls: {
        "no_retrace": roll.traces <= traces + 1 and jit_cache_size(roll.fn) in (1, None),
        "state_advanced": int(state[0].t[0]) == calls * steps % cfg.episode_length})


def update_batch(cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed random batch in the official shapes: obs N(0, 1) (H+1, B, obs), actions U[-1, 1] (H, B, A),
    rewards N(0, 1) (H, B, 1)."""
    rng = np.random.default_rng(0)
    H, B = cfg.horizon, cfg.batch_size
    return (rng.standard_normal((H + 1, B, cfg.obs_dim)).astype(np.float32),
            rng.uniform(-1.0, 1.0, (H, B, cfg.action_dim)).astype(np.float32),
            rng.standard_normal((H, B, 1)).astype(np.float32))


def update_case(cfg: Config, bench_profile: BenchProfile, n: int) -> Case:
    """`n` consecutive updates on a fixed batch, past the Glass warm-up (one Glass cycle when `n` is
    glass.every_k_updates): torch `TDMPC2.update` in a loop; JAX `TDMPC2.update` in a jitted `lax.scan`."""
    env_steps = cfg.glass.warmup_env_steps
    batch_np = update_batch(cfg)
    info = dict(bench="update", agent_steps_per_call=0, updates_per_call=n)
    if cfg.backend == "torch":
        import torch

        from torch_ref.agent import TDMPC2

        agent = TDMPC2(cfg)
        dev, sync = agent.device, torch_sync(agent.device)
        batch = tuple(torch.as_tensor(x, device=dev, dtype=agent.dtype) for x in batch_np)

        def call() -> None:
            for _ in range(n):
                agent.update(batch, env_steps=env_steps)
            sync()

        return Case(call, extra_info_fn(cfg, bench_profile, device=torch_device_label(dev),
                                        params=agent.model.param_counts()["total"], **info),
                    lambda calls: {"updates_advanced": agent.num_updates == calls * n})

    import jax

    from jax_impl.agent import TDMPC2

    agent = TDMPC2(cfg)
    state = [jax_commit(jax_agent_init(agent)(jax.random.PRNGKey(cfg.seed)))]
    batch = jax_commit(tuple(jax.numpy.asarray(x) for x in batch_np))
    params = jax_param_count(state[0].params)

    def updates(s, b):
        return jax.lax.scan(lambda s, _: agent.update(s, b, env_steps), s, None, length=n)

    fn = jax.jit(updates, donate_argnums=0)

    def call() -> None:
        new_state, metrics = fn(state[0], batch)
        jax.block_until_ready((new_state, metrics))
        state[0] = new_state

    return Case(call, extra_info_fn(cfg, bench_profile, device=jax_device_label(), params=params, **info),
                lambda calls: {"no_retrace": jit_cache_size(fn) in (1, None),
                               "updates_advanced": int(state[0].num_updates) == calls * n})


def train_case(cfg: Config, bench_profile: BenchProfile, sizes: BenchSizes, profile: str, n_envs: int,
               devices: int, tmp_path: Path, disabled: bool) -> Case:
    """`k = sizes.train_iterations[profile]` training iterations past the seed phase (bench/test_bench_train.py's
    docstring says what each backend runs); `disabled`: the smoke mode (one untimed call)."""
    k = sizes.train_iterations[profile]
    info = dict(bench="train_iteration", agent_steps_per_call=k * n_envs,
                updates_per_call=k * cfg.updates_per_iteration, profile=profile)
    if cfg.backend == "torch":
        from bench.protocol import TorchTrainLoop

        loop = TorchTrainLoop(cfg, tmp_path)
        loop.run_seed_phase()
        sync = torch_sync(loop.device)
        start = loop.iteration

        def call() -> None:
            for _ in range(k):
                loop.iterate()
            sync()

        return Case(call, extra_info_fn(cfg, bench_profile, device=torch_device_label(loop.device),
                                        params=loop.agent.model.param_counts()["total"], **info),
                    lambda calls: {"iterations_advanced": loop.iteration - start == calls * k,
                                   "updates_advanced": loop.num_updates == calls * k * cfg.updates_per_iteration})

    import jax
    import jax.numpy as jnp

    from jax_impl.sharding import state_shardings, train_layout
    from jax_impl.train import Clock, programs_for

    L = cfg.episode_length
    if L % k:
        raise ValueError(f"{k} iterations per call do not divide the episode ({L}): the static episode end "
                         "needs calls aligned with episodes")
    layout = train_layout(1, n_envs, devices) if devices > 1 else None  # bad --bench-devices: a clear error
    programs = programs_for(cfg, layout)
    ts = [jax_post_seed_state(programs, jax_rollout(cfg, n_envs, sizes.env_steps_per_call), cfg.seed)]
    if layout is not None:
        ts[0] = jax.device_put(ts[0], state_shardings(layout, ts[0]))
    # the trainer's program: the episode end is static, so a call that ends an episode is its own program
    chunks = {ends: programs.seed_program(lambda s, c, e=ends: programs.run_iterations(s, k, False, c, ends=e))
              for ends in (False, True)}
    trace_keys = [f"chunk(n={k}, random=False, ends={e})" for e in (False, True)]
    traces = [programs.trace_counts[key] for key in trace_keys]
    params = jax_param_count(jax.tree.map(lambda x: x[0], ts[0].agent.params))
    start = int(ts[0].iteration[0])
    # timed runs: the first (untimed) call also compiles the episode-ending program, on a copy of the state, so
    # no timed call compiles; the smoke mode (one untimed call) skips it, and so does a case whose calls cannot
    # reach the episode's end (at most 2 untimed calls + the profile's warm-up and timed rounds, or twice that
    # when paired): no program is compiled that no timed call uses
    max_calls = 2 * (2 + bench_profile.warmup_rounds + bench_profile.rounds)
    reaches_end = (L - start % L) <= max_calls * k
    host = {"iteration": start, "updates": int(ts[0].agent.num_updates[0]), "warm": disabled or not reaches_end,
            "finite": True}

    def clock() -> Clock:  # the trainer's shared counters, from the host
        return Clock(jnp.asarray(host["iteration"], jnp.int32), jnp.asarray(host["updates"], jnp.int32))

    def call() -> None:
        if not host["warm"]:
            jax.block_until_ready(chunks[True](jax.tree.map(jnp.copy, ts[0]), clock()))
            host["warm"] = True
        ends = (host["iteration"] + k) % L == 0
        new_ts, out = chunks[ends](ts[0], clock())
        jax.block_until_ready(new_ts)
        out = jax.device_get(out)  # the trainer reads the chunk's outputs (NaN check, logging)
        ts[0] = new_ts
        host["iteration"] += k
        host["updates"] += k * cfg.updates_per_iteration
        host["finite"] &= bool(np.all(out["env_finite"]))

    base_info = extra_info_fn(cfg, bench_profile, device=jax_device_label(), params=params, **info)

    def checks(calls: int) -> dict[str, bool]:
        retraced = [programs.trace_counts[key] - t for key, t in zip(trace_keys, traces, strict=True)]
        return {"no_retrace": retraced == [1, 1 if reaches_end and not disabled else 0],
                "no_second_compile": all(jit_cache_size(c) in (0, 1, None) for c in chunks.values()),
                "env_finite": host["finite"],
                "iterations_advanced": int(ts[0].iteration[0]) - start == calls * k,
                "updates_advanced": int(ts[0].agent.num_updates[0]) == calls * k * cfg.updates_per_iteration}

    return Case(call, lambda seconds: {**base_info(seconds), **({"devices": devices} if devices > 1 else {})},
                checks)
