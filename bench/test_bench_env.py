"""Benchmark: env stepping alone, U[-1, 1] actions, `env_steps_per_call` agent steps of n_envs envs per call.

torch: dm_control behind gymnasium (`torch_ref.env.make_vector_env`, a `SyncVectorEnv`), actions drawn with
NumPy, `vec.reset()` at the shared episode end (autoreset is off, as in the training loop). JAX: the
MJX env, `MJXEnv.step_batch` (the step vmapped over n_envs, one reset guarded by any(done), as
the JAX training loop) inside one jitted `lax.scan` (`bench.cases.jax_env_case`), the env state
donated and threaded into the next call. Each call's actions
come from the call itself (NumPy generator / the threaded PRNG key). Rates: env steps = agent steps x
action_repeat, summed over envs.

Physics (extra_info.physics): torch steps dm_control's; a JAX case steps its config profile's, `dm_control` for
1 env (official) and `playground` for the `fast` n_envs (the fast profile's). bench/test_bench_physics.py runs the
JAX cases in the other physics mode too.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.cases import jax_env_case
from bench.protocol import (
    case_param,
    config_for,
    config_profile,
    extra_info_fn,
    import_backend,
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

    timed = jax_env_case(cfg, bench_profile, n_envs, K, label)
    calls = time_call(benchmark, bench_profile, timed.call, timed.info)
    record_sanity(benchmark, **timed.checks(calls))
