"""Benchmark: the JAX env_step and train_iteration cases in both physics modes, what MuJoCo Playground's re-tuned
models save against dm_control's (the report's table g) and the JAX `dm_control` partners of the torch `fast` cases
(table c: torch steps dm_control only, so it never pairs with a JAX `playground` record).

The cases (`bench.protocol.physics_cases`) are those of bench/test_bench_env.py (JAX, each `env_n_envs`) and
bench/test_bench_train.py (the settings of `BenchSizes.physics_train`, the seed's `fast` policy one first) on
each task of `bench.protocol.physics_tasks` (the main task, then the profile's `physics_tasks`: in the gpu profile
cartpole-swingup without contacts, walker-walk with contacts and humanoid-run with many) in `dm_control` and in
`playground` physics, leaving out the main task's case in the physics its main case already runs. Each case is
timed as its single-backend twin (`bench.cases.jax_env_case`, `bench.cases.train_case`) and its record says its
physics. torch has one physics (dm_control): its cases are bench/test_bench_env.py's and bench/test_bench_train.py's.

The cpu profile runs the main task's cases only; the smoke mode its env cases and its `fast` policy training case,
once each. Under `--bench-budget` these cases run after every other (bench/budget.py ranks them last, and this
file is collected after the paired one), and `-k env_step` does not select them (`-k train_iteration` does).
"""

from __future__ import annotations

import pytest

from bench.cases import jax_env_case, train_case
from bench.protocol import (
    case_param,
    config_for,
    config_profile,
    import_backend,
    physics_cases,
    profile_of,
    record_sanity,
    time_call,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "physics_case" not in metafunc.fixturenames:
        return
    name, sizes = profile_of(metafunc)
    bench = "env_step" if metafunc.function.__name__ == "test_bench_physics_env" else "train_iteration"
    params = [case_param(c, "jax", name, c.case_id) for c in physics_cases(sizes, bench)]
    if not params:  # a main task MuJoCo Playground lacks, and no other task: a skip that says why
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason=f"no physics cases: {sizes.task} has one physics (MuJoCo Playground has no such env)"))]
    metafunc.parametrize("physics_case", params)


def test_bench_physics_env(benchmark, bench_profile, sizes, physics_case) -> None:
    c = physics_case
    import_backend("jax")
    # the physics' own precision whatever --bench-precision, as bench/test_bench_env.py
    cfg = config_for(bench_profile, sizes, "jax", config_profile(c.profile), task=c.task, physics=c.physics,
                     n_envs=c.n_envs, matmul_precision="highest")
    timed = jax_env_case(cfg, bench_profile, c.n_envs, sizes.env_steps_per_call, c.profile)
    calls = time_call(benchmark, bench_profile, timed.call, timed.info)
    record_sanity(benchmark, **timed.checks(calls))


def test_bench_physics_train_iteration(benchmark, bench_profile, sizes, physics_case, tmp_path) -> None:
    c = physics_case
    import_backend("jax")
    cfg = config_for(bench_profile, sizes, "jax", c.profile, task=c.task, physics=c.physics, n_envs=c.n_envs,
                     collector=c.collector, seed_steps=1)
    timed = train_case(cfg, bench_profile, sizes, c.profile, c.n_envs, 1, tmp_path, benchmark.disabled)
    calls = time_call(benchmark, bench_profile, timed.call, timed.info)
    record_sanity(benchmark, **timed.checks(calls))
