"""Benchmark: env stepping alone, U[-1, 1] actions, `env_steps_per_call` agent steps of n_envs envs per call.

torch: dm_control behind gymnasium (`torch_ref.env.make_vector_env`, a `SyncVectorEnv`), actions drawn with
NumPy, `vec.reset()` at the shared episode end (autoreset is off, as in the training loop). JAX: the
Playground MJX env, `MJXEnv.step_batch` (the step vmapped over n_envs, one reset guarded by any(done), as
the JAX training loop) inside one jitted `lax.scan` (`bench.protocol.JaxEnvRollout`), the env state
donated and threaded into the next call. Each call's actions
come from the call itself (NumPy generator / the threaded PRNG key). Rates: env steps = agent steps x
action_repeat, summed over envs.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.protocol import (
    case_param,
    config_for,
    config_profile,
    extra_info_fn,
    import_backend,
    jax_device_label,
    jax_rollout,
    jit_cache_size,
    profile_label,
    profile_of,
    record_sanity,
    time_call,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    name, sizes = profile_of(metafunc)
    params = [case_param((b, n), b, name, f"{b}-E{n}") for n in sizes.env_n_envs for b in ("torch", "jax")]
    params += [case_param(("jax", n), "jax", name, f"jax-E{n}") for n in sizes.env_n_envs_jax_only]
    metafunc.parametrize("case", params)


def test_bench_env_step(benchmark, bench_profile, sizes, case) -> None:
    backend, n_envs = case
    import_backend(backend)
    label = profile_label(n_envs, sizes)
    # the physics' own precision whatever --bench-precision (jax_impl.runtime.PHYSICS_PRECISION; dm_control: C)
    cfg = config_for(bench_profile, sizes, backend, config_profile(label), n_envs=n_envs, matmul_precision="highest")
    K = sizes.env_steps_per_call
    info = dict(bench="env_step", agent_steps_per_call=K * n_envs, updates_per_call=0, profile=label)

    if backend == "torch":
        from torch_ref.env import make_vector_env

        vec = make_vector_env(cfg, n_envs, cfg.seed)
        vec.reset()
        rng = np.random.default_rng(0)
        steps = [0]

        def call() -> None:
            for _ in range(K):
                action = rng.uniform(-1.0, 1.0, (n_envs, cfg.action_dim)).astype(np.float32)
                _, _, _, truncated, _ = vec.step(action)
                steps[0] += 1
                if truncated.any():  # all envs end together (fixed-length episodes)
                    assert truncated.all()
                    vec.reset()

        calls = time_call(benchmark, bench_profile, call,
                          extra_info_fn(cfg, bench_profile, device="cpu", **info))
        assert steps[0] == calls * K
        vec.close()
        return

    import jax

    roll = jax_rollout(cfg, n_envs, K)
    state = list(roll.start(cfg.seed))

    def call() -> None:
        env_state, key, out = roll.fn(*state)
        jax.block_until_ready((env_state, out))
        state[:] = env_state, key

    traces = roll.traces
    calls = time_call(benchmark, bench_profile, call,
                      extra_info_fn(cfg, bench_profile, device=jax_device_label(), **info))
    record_sanity(benchmark, no_retrace=roll.traces <= traces + 1 and jit_cache_size(roll.fn) in (1, None),
                  state_advanced=int(state[0].t[0]) == calls * K % cfg.episode_length)
