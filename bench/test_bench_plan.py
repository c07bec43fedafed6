"""Benchmark: one MPPI act (training mode) for n_envs envs: `agent.act(obs, t0=False)`, noise drawing included.

The observations are fixed N(0, 1) vectors (MPPI's work does not depend on their values: a fixed number of
iterations, samples and elites); the warm start (previous mean) and the RNG state are carried from call
to call, as in training. torch: `TDMPC2.act` (batched over envs). JAX: `jax.jit(TDMPC2.act)` with the agent
state donated and threaded into the next call. One call = n_envs actions = n_envs agent steps; the report's
rate is env steps/s (x action_repeat); the latency of one act is the median time per call.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.protocol import (
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    name, sizes = profile_of(metafunc)
    metafunc.parametrize("case", [case_param((b, n), b, name, f"{b}-E{n}-mppi")
                                  for n in sizes.plan_n_envs for b in ("torch", "jax")])


def test_bench_plan(benchmark, bench_profile, sizes, case) -> None:
    backend, n_envs = case
    import_backend(backend)
    cfg = config_for(bench_profile, sizes, backend, "official", n_envs=n_envs)  # MPPI collector
    assert cfg.mpc and cfg.collector == "mppi"
    label = "official" if n_envs == 1 else "custom"  # the fast profile collects with the policy, not MPPI
    obs_np = np.random.default_rng(0).standard_normal((n_envs, cfg.obs_dim)).astype(np.float32)
    info = dict(bench="plan", agent_steps_per_call=n_envs, updates_per_call=0, profile=label, collector="mppi")

    if backend == "torch":
        import torch

        from torch_ref.agent import TDMPC2

        agent = TDMPC2(cfg)
        dev, sync = agent.device, torch_sync(agent.device)
        obs = torch.as_tensor(obs_np, device=dev, dtype=agent.dtype)
        t0 = torch.zeros(n_envs, dtype=torch.bool, device=dev)
        acts = [0]

        def call() -> None:
            action = agent.act(obs, t0)
            sync()
            acts[0] += 1
            assert action.shape == (n_envs, cfg.action_dim)

        calls = time_call(benchmark, bench_profile, call, extra_info_fn(
            cfg, bench_profile, device=torch_device_label(dev), params=agent.model.param_counts()["total"], **info))
        assert acts[0] == calls
        return

    import jax
    import jax.numpy as jnp

    from jax_impl.agent import TDMPC2

    agent = TDMPC2(cfg)
    state = [jax_commit(jax_agent_init(agent)(jax.random.PRNGKey(cfg.seed)))]
    obs, t0 = jax_commit((jnp.asarray(obs_np), jnp.zeros((n_envs,), bool)))
    act = jax.jit(lambda s, o, t: agent.act(s, o, t), donate_argnums=0)
    params = jax_param_count(state[0].params)

    def call() -> None:
        new_state, action = act(state[0], obs, t0)
        jax.block_until_ready((new_state, action))
        state[0] = new_state

    key0 = np.asarray(state[0].key).copy()
    time_call(benchmark, bench_profile, call, extra_info_fn(
        cfg, bench_profile, device=jax_device_label(), params=params, **info))
    record_sanity(benchmark, no_retrace=jit_cache_size(act) in (1, None),
                  rng_advanced=not np.array_equal(np.asarray(state[0].key), key0))
