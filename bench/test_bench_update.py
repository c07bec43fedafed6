"""Benchmark: official TD-MPC2 updates (world model + policy + Polyak), batch 256, horizon 3, Glass off / on.

The batch is random and fixed (obs N(0, 1), actions U[-1, 1], rewards N(0, 1)) in the official shapes
(H+1, B, obs_dim) / (H, B, A) / (H, B, 1); what is timed is `updates_per_call` consecutive updates with
noise drawing included. One call is one Glass cycle (`glass.every_k_updates` updates, past the Glass
warm-up), so with Glass on each call holds exactly one update with the Glass gradient, in both backends
(torch computes the Glass loss on every update and back-propagates it on the active ones; JAX computes it
on every update and masks it). torch: `TDMPC2.update` in a loop. JAX: `TDMPC2.update` in a `lax.scan`,
jitted, the agent state donated and threaded into the next call.
"""

from __future__ import annotations

import pytest

from bench.cases import update_case
from bench.protocol import case_param, config_for, import_backend, profile_of, record_sanity, time_call

GLASS_PRESET = "phase1"  # the default Glass settings (cosine assignment, hinge balance)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    name, _ = profile_of(metafunc)
    metafunc.parametrize("case", [case_param((b, g), b, name, f"{b}-{'glass' if g else 'noglass'}")
                                  for g in (False, True) for b in ("torch", "jax")])


def test_bench_update(benchmark, bench_profile, sizes, case) -> None:
    backend, glass = case
    import_backend(backend)
    cfg = config_for(bench_profile, sizes, backend, "official", glass=GLASS_PRESET if glass else "off")
    assert cfg.glass.enabled == glass
    n = sizes.updates_per_call
    assert n % cfg.glass.every_k_updates == 0, "a call must hold whole Glass cycles"
    timed = update_case(cfg, bench_profile, n)
    calls = time_call(benchmark, bench_profile, timed.call, timed.info)
    record_sanity(benchmark, **timed.checks(calls))
