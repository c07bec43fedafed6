"""Benchmark: one official TD-MPC2 update of the torch reference (world model + policy + Polyak).

The batch is random (obs N(0, 1), actions U[-1, 1], rewards N(0, 1)) in the official shapes
(H+1, B, obs_dim) / (H, B, A) / (H, B, 1); what is timed is `TDMPC2.update`, noise drawing included, with a
CUDA synchronisation inside the timed function on GPU. The first call is untimed and reported as
`compile_seconds`; `warmup_rounds` more calls precede the timed rounds.
"""

from __future__ import annotations

import time

import pytest

from harness.benchmeta import BenchProfile, bench_config, make_extra_info

torch = pytest.importorskip("torch")


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return str(device)


def test_bench_torch_update(benchmark, bench_profile: BenchProfile) -> None:
    from torch_ref.agent import TDMPC2

    cfg = bench_config(bench_profile, backend="torch", profile="official")
    agent = TDMPC2(cfg)
    dev, dt = agent.device, agent.dtype
    gen = torch.Generator(device="cpu").manual_seed(0)
    H, B = cfg.horizon, cfg.batch_size
    batch = (
        torch.randn(H + 1, B, cfg.obs_dim, generator=gen, dtype=dt).to(dev),
        (torch.rand(H, B, cfg.action_dim, generator=gen, dtype=dt) * 2 - 1).to(dev),
        torch.randn(H, B, 1, generator=gen, dtype=dt).to(dev),
    )

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def one_update() -> None:
        agent.update(batch)
        sync()

    sync()
    t0 = time.perf_counter()
    one_update()
    first_call = time.perf_counter() - t0

    params = agent.model.param_counts()["total"]
    benchmark.extra_info.update(make_extra_info(
        cfg, bench="update", device=_device_label(dev), compile_seconds=first_call, agent_steps_per_call=0,
        updates_per_call=1, model_size=bench_profile.model_label, params=params,
    ))
    benchmark.pedantic(one_update, rounds=bench_profile.rounds, warmup_rounds=bench_profile.warmup_rounds,
                       iterations=1)
    timed_calls = 1 if benchmark.disabled else bench_profile.warmup_rounds + bench_profile.rounds
    assert agent.num_updates == 1 + timed_calls  # the timed function really ran the updates
