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

import numpy as np
import pytest

from bench.harness_utils import (
    case_param,
    config_for,
    extra_info_fn,
    import_backend,
    jax_agent_init,
    jax_commit,
    jax_device_label,
    jax_param_count,
    jit_cache_size,
    profile_of,
    record_sanity,
    time_call,
    torch_device_label,
    torch_sync,
)

GLASS_PRESET = "phase1"  # the default Glass settings (cosine assignment, hinge balance)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    name, _ = profile_of(metafunc)
    metafunc.parametrize("case", [case_param((b, g), b, name, f"{b}-{'glass' if g else 'noglass'}")
                                  for g in (False, True) for b in ("torch", "jax")])


def _batch(cfg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    H, B = cfg.horizon, cfg.batch_size
    return (rng.standard_normal((H + 1, B, cfg.obs_dim)).astype(np.float32),
            rng.uniform(-1.0, 1.0, (H, B, cfg.action_dim)).astype(np.float32),
            rng.standard_normal((H, B, 1)).astype(np.float32))


def test_bench_update(benchmark, bench_profile, sizes, case) -> None:
    backend, glass = case
    import_backend(backend)
    cfg = config_for(bench_profile, sizes, backend, "official", glass=GLASS_PRESET if glass else "off")
    assert cfg.glass.enabled == glass
    n = sizes.updates_per_call
    assert n % cfg.glass.every_k_updates == 0, "a call must hold whole Glass cycles"
    env_steps = cfg.glass.warmup_env_steps  # past the Glass warm-up: active every every_k_updates updates
    batch_np = _batch(cfg)
    info = dict(bench="update", agent_steps_per_call=0, updates_per_call=n)

    if backend == "torch":
        import torch

        from torch_ref.agent import TDMPC2

        agent = TDMPC2(cfg)
        dev, sync = agent.device, torch_sync(agent.device)
        batch = tuple(torch.as_tensor(x, device=dev, dtype=agent.dtype) for x in batch_np)

        def call() -> None:
            for _ in range(n):
                agent.update(batch, env_steps=env_steps)
            sync()

        calls = time_call(benchmark, bench_profile, call, extra_info_fn(
            cfg, bench_profile, device=torch_device_label(dev), params=agent.model.param_counts()["total"], **info))
        assert agent.num_updates == calls * n  # the timed function really ran the updates
        return

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

    calls = time_call(benchmark, bench_profile, call, extra_info_fn(
        cfg, bench_profile, device=jax_device_label(), params=params, **info))
    record_sanity(benchmark, no_retrace=jit_cache_size(fn) in (1, None),
                  updates_advanced=int(state[0].num_updates) == calls * n)
