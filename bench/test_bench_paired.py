"""Benchmark: torch and JAX of the same settings in alternating rounds, for a speedup that a load change cannot move.

Each case builds the torch and the JAX work of one setting (bench/cases.py, the same work as the single-backend
`update` and `train_iteration` benchmarks) and times them round by round, torch then JAX
(`bench.protocol.time_pair`): the record is JAX's, and `extra_info.paired` holds torch's seconds of the
same rounds and the median per-round speedup with its 95 % bootstrap interval. A load that starts or stops
during the case slows both calls of a round alike, where two records timed minutes apart each see another
machine. The report lists these in their own table (`tdmpc-parity report`, "paired").

Physics: torch steps dm_control's, so the JAX side of a training pair does too (`physics=dm_control`, also in
the `fast` profile, whose JAX default is MuJoCo Playground's physics): a pair is the same work in both backends.

The smoke mode (CI, nothing timed) runs only the update pair: the training pairs compile the same programs as
bench/test_bench_train.py's cases, which the smoke already runs.
"""

from __future__ import annotations

import pytest

from bench.cases import train_case, update_case
from bench.protocol import (
    benchmarks_disabled,
    config_for,
    import_backend,
    profile_of,
    record_sanity,
    time_pair,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pair" not in metafunc.fixturenames:
        return
    _, sizes = profile_of(metafunc)
    pairs = [pytest.param(("update", "official", 1, "mppi"), id="update-noglass")]
    if not benchmarks_disabled(metafunc.config):
        pairs += [pytest.param(("train_iteration", "fast", sizes.fast_n_envs, "policy"),
                               id=f"train_iteration-fast-E{sizes.fast_n_envs}-policy"),
                  pytest.param(("train_iteration", "official", 1, "mppi"), id="train_iteration-official-E1-mppi")]
    metafunc.parametrize("pair", pairs)


def test_bench_paired(benchmark, bench_profile, sizes, pair, tmp_path) -> None:
    kind, profile, n_envs, collector = pair
    for backend in ("torch", "jax"):
        import_backend(backend)
    cases = {}
    for backend in ("torch", "jax"):
        if kind == "update":
            cfg = config_for(bench_profile, sizes, backend, "official", glass="off")
            cases[backend] = update_case(cfg, bench_profile, sizes.updates_per_call)
        else:
            cfg = config_for(bench_profile, sizes, backend, profile, n_envs=n_envs, collector=collector,
                             seed_steps=1, physics="dm_control")
            cases[backend] = train_case(cfg, bench_profile, sizes, profile, n_envs, 1, tmp_path / backend,
                                        benchmark.disabled)
    torch_calls, jax_calls = time_pair(benchmark, bench_profile, cases["torch"], cases["jax"])
    torch_checks = {f"torch_{k}": v for k, v in cases["torch"].checks(torch_calls).items()}
    record_sanity(benchmark, **cases["jax"].checks(jax_calls), **torch_checks)
