"""What a load change does to a speedup measured unpaired vs paired (alternating rounds), on this machine.

    python -m bench.paired_demo [--rounds 30] [--out results/paired_demo.md]

The torch and JAX `update` cases of the cpu bench profile (bench/cases.py, the tiny model: 4 updates per call)
are timed three ways, each time with a CPU load (one busy process per core) switched on half-way:
1. quiet, paired: alternating rounds (torch, JAX, ...), no load: the reference speedup;
2. paired, load from the middle round on: the median over all rounds of torch_i / jax_i;
3. unpaired, as two separate records are: all torch rounds, then all JAX rounds, the load starting between
   them (and, 4., the other way round: JAX first, the load during torch).
The speedup is torch seconds / JAX seconds per call (the same work). Writes a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np


def _spin(stop) -> None:  # a busy loop until told to stop
    while not stop.is_set():
        sum(i * i for i in range(10_000))


class Load:
    """One busy process per core while active."""

    def __init__(self) -> None:
        self.stop = mp.Event()
        self.procs: list[mp.Process] = []

    def start(self) -> None:
        self.procs = [mp.Process(target=_spin, args=(self.stop,), daemon=True) for _ in range(os.cpu_count() or 1)]
        for p in self.procs:
            p.start()
        time.sleep(0.5)

    def end(self) -> None:
        self.stop.set()
        for p in self.procs:
            p.join()
        self.stop.clear()


def _time(call) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.paired_demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--task", default="pendulum-swingup")
    p.add_argument("--out", default=None, help="write the table here (Markdown)")
    args = p.parse_args(argv)

    from bench.cases import update_case
    from bench.protocol import bench_sizes, config_for, paired_speedup
    from tdmpc_parity.analysis.benchmeta import get_bench_profile

    profile, sizes = get_bench_profile("cpu"), bench_sizes("cpu", args.task)
    cases = {b: update_case(config_for(profile, sizes, b, "official", glass="off"), profile, sizes.updates_per_call)
             for b in ("torch", "jax")}
    for _ in range(3):  # compile and warm up both
        cases["torch"].call()
        cases["jax"].call()
    n, half = args.rounds, args.rounds // 2
    load = Load()
    rows = []

    def paired(load_from: int | None) -> tuple[list[float], list[float]]:
        t, j = [], []
        for i in range(n):
            if load_from is not None and i == load_from:
                load.start()
            t.append(_time(cases["torch"].call))
            j.append(_time(cases["jax"].call))
        if load_from is not None:
            load.end()
        return t, j

    def ratio_row(name: str, t: list[float], j: list[float], paired_rounds: bool) -> None:
        if paired_rounds:
            med, lo, hi = paired_speedup(t, j)
        else:
            med, lo, hi = float(np.median(t) / np.median(j)), float("nan"), float("nan")
        ci = "" if np.isnan(lo) else f" [{lo:.2f}–{hi:.2f}]"
        rows.append(f"| {name} | {np.median(t) * 1e3:.1f} | {np.median(j) * 1e3:.1f} | **{med:.2f}×**{ci} |")

    t, j = paired(None)
    ratio_row("paired, quiet (reference)", t, j, True)
    t, j = paired(half)
    ratio_row(f"paired, load from round {half} of {n}", t, j, True)
    t = [_time(cases["torch"].call) for _ in range(n)]
    load.start()
    j = [_time(cases["jax"].call) for _ in range(n)]
    load.end()
    ratio_row("unpaired: torch quiet, then JAX under load", t, j, False)
    j = [_time(cases["jax"].call) for _ in range(n)]
    load.start()
    t = [_time(cases["torch"].call) for _ in range(n)]
    load.end()
    ratio_row("unpaired: JAX quiet, then torch under load", t, j, False)
    text = "\n".join([
        f"# Paired vs unpaired speedup under a load change ({args.task}, `update`, cpu bench profile, "
        f"{os.cpu_count()} cores, {n} rounds)", "",
        f"Made by `python -m bench.paired_demo --rounds {n}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"; load average before: {os.getloadavg()[0]:.2f}. The load is one busy process per core.", "",
        "| measurement | torch ms/call (median) | JAX ms/call (median) | speedup torch/JAX [95 % CI] |",
        "|---|---:|---:|---|", *rows, ""])
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
