"""Benchmark: end-to-end training iterations (act -> env step -> buffer insert -> updates), past the seed phase.

Cases: the `official` profile (1 env, MPPI, 1 update per agent step) and the `fast` profile (UTD 0.25 = n_envs
/ 4 updates per vector step; 256 envs and 64 updates in the gpu bench profile, 8 envs and 2 updates in the cpu
one, recorded as n_envs) with the `policy` and the `mppi` collector; with `--bench-devices N` also the JAX
fast cases with the agent's envs sharded over N devices (jax_impl/sharding.py, the trainer's `--devices N`
program; recorded as extra_info.devices, which the report matches on: no torch partner). One call =
`iterations` training iterations (`bench.protocol.SIZES`), so env steps per call = iterations x n_envs x
action_repeat and updates per call = iterations x updates_per_iteration.

Set-up (untimed): the seed phase is one episode of U[-1, 1] actions in every env (`seed_steps=1`), so the
buffer holds complete episodes; the one-off pretrain updates are skipped in both backends. torch:
`bench.protocol.TorchTrainLoop`, the loop body of `torch_ref/train.py` (with its per-update finiteness
sync and metric read-back). JAX: `Programs.run_iterations(ts, iterations, random=False)` of
`jax_impl.train.programs_for(cfg)` (the body of `Programs.train_chunk`), vmapped over the seed axis by
`Programs.seed_program` as `train_chunk`, with the trainer's shared `Clock` and static episode end (`ends`: a
call that ends an episode is the second compiled program, so `iterations` must divide the episode length),
jitted once each with the TrainState donated and threaded into the next call; each call also fetches the
chunk's per-iteration outputs to the host, as the trainer does for its NaN check and logging.

Physics (extra_info.physics): torch steps dm_control's; a JAX case steps its config profile's, `dm_control` in the
official profile and `playground` in the fast one. bench/test_bench_physics.py runs the JAX cases in the other
physics mode too, which is what table (c) of the report pairs the torch `fast` cases with.
"""

from __future__ import annotations

import pytest

from bench.cases import train_case
from bench.protocol import case_param, config_for, import_backend, profile_of, record_sanity, time_call


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    name, sizes = profile_of(metafunc)
    settings = [("official", 1, "mppi"), ("fast", sizes.fast_n_envs, "policy"), ("fast", sizes.fast_n_envs, "mppi")]
    cases = [case_param((b, p, n, c, 1), b, name, f"{b}-{p}-E{n}-{c}")
             for p, n, c in settings for b in ("torch", "jax")]
    devices = metafunc.config.getoption("bench_devices")
    if devices > 1:  # one agent's envs over several devices: JAX only
        cases += [case_param(("jax", p, n, c, devices), "jax", name, f"jax-{p}-E{n}-{c}-D{devices}")
                  for p, n, c in settings if p == "fast"]
    metafunc.parametrize("case", cases)


def test_bench_train_iteration(benchmark, bench_profile, sizes, case, tmp_path) -> None:
    backend, profile, n_envs, collector, devices = case
    import_backend(backend)
    cfg = config_for(bench_profile, sizes, backend, profile, n_envs=n_envs, collector=collector, seed_steps=1)
    assert cfg.seed_iterations == cfg.episode_length  # one seed episode
    timed = train_case(cfg, bench_profile, sizes, profile, n_envs, devices, tmp_path, benchmark.disabled)
    calls = time_call(benchmark, bench_profile, timed.call, timed.info)
    record_sanity(benchmark, **timed.checks(calls))
