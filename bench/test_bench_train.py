"""Benchmark: end-to-end training iterations (act -> env step -> buffer insert -> updates), past the seed phase.

Cases: the `official` profile (1 env, MPPI, 1 update per agent step) and the `fast` profile (UTD 0.25 = n_envs
/ 4 updates per vector step; 256 envs and 64 updates in the gpu bench profile, 8 envs and 2 updates in the cpu
one, recorded as n_envs) with the `policy` and the `mppi` collector; with `--bench-devices N` also the JAX
fast cases with the agent's envs sharded over N devices (jax_impl/sharding.py, the trainer's `--devices N`
program; recorded as extra_info.devices, which the report matches on: no torch partner). One call =
`iterations` training iterations (`bench.harness_utils.SIZES`), so env steps per call = iterations x n_envs x
action_repeat and updates per call = iterations x updates_per_iteration.

Set-up (untimed): the seed phase is one episode of U[-1, 1] actions in every env (`seed_steps=1`), so the
buffer holds complete episodes; the one-off pretrain updates are skipped in both backends. torch:
`bench.harness_utils.TorchTrainLoop`, the loop body of `torch_ref/train.py` (with its per-update finiteness
sync and metric read-back). JAX: `Programs.run_iterations(ts, iterations, random=False)` of
`jax_impl.train.programs_for(cfg)` (the body of `Programs.train_chunk`), vmapped over the seed axis by
`Programs.seed_program` as `train_chunk`, with the trainer's shared `Clock` and static episode end (`ends`: a
call that ends an episode is the second compiled program, so `iterations` must divide the episode length),
jitted once each with the TrainState donated and threaded into the next call; each call also fetches the
chunk's per-iteration outputs to the host, as the trainer does for its NaN check and logging.
"""

from __future__ import annotations

import pytest

from bench.harness_utils import (
    case_param,
    config_for,
    extra_info_fn,
    import_backend,
    jax_device_label,
    jax_param_count,
    jax_post_seed_state,
    jax_rollout,
    jit_cache_size,
    profile_of,
    record_sanity,
    time_call,
    torch_device_label,
)


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
    k = sizes.train_iterations[profile]
    info = dict(bench="train_iteration", agent_steps_per_call=k * n_envs,
                updates_per_call=k * cfg.updates_per_iteration, profile=profile)

    if backend == "torch":
        from bench.harness_utils import TorchTrainLoop, torch_sync

        loop = TorchTrainLoop(cfg, tmp_path)
        loop.run_seed_phase()
        sync = torch_sync(loop.device)
        start = loop.iteration

        def call() -> None:
            for _ in range(k):
                loop.iterate()
            sync()

        calls = time_call(benchmark, bench_profile, call, extra_info_fn(
            cfg, bench_profile, device=torch_device_label(loop.device),
            params=loop.agent.model.param_counts()["total"], **info))
        assert loop.iteration - start == calls * k
        assert loop.num_updates == calls * k * cfg.updates_per_iteration
        return

    import jax
    import jax.numpy as jnp
    import numpy as np

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
    # no timed call compiles; the smoke mode (one untimed call) skips it
    host = {"iteration": start, "updates": int(ts[0].agent.num_updates[0]), "warm": benchmark.disabled}

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
        assert bool(np.all(out["env_finite"]))

    base_info = extra_info_fn(cfg, bench_profile, device=jax_device_label(), params=params, **info)
    calls = time_call(benchmark, bench_profile, call,
                      lambda seconds: {**base_info(seconds), **({"devices": devices} if devices > 1 else {})})
    retraced = [programs.trace_counts[key] - t for key, t in zip(trace_keys, traces, strict=True)]
    record_sanity(benchmark, no_retrace=retraced == [1, 0 if benchmark.disabled else 1],
                  no_second_compile=all(jit_cache_size(c) in (0, 1, None) for c in chunks.values()),
                  iterations_advanced=int(ts[0].iteration[0]) - start == calls * k,
                  updates_advanced=int(ts[0].agent.num_updates[0]) == calls * k * cfg.updates_per_iteration)
