"""Paired timing (bench/protocol.py `time_pair`): alternating rounds of two cases, the speedup of each round
and its bootstrap interval, the record the report reads, and the report's paired table. The cases here are
trivial sleeps in a real pytest-benchmark session; bench/test_bench_paired.py times the real agents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.protocol import paired_speedup
from tdmpc_parity.analysis.report import collect, render_markdown
from tdmpc_parity.app.pytest_env import child_pytest_env

ROOT = Path(__file__).resolve().parents[1]

PAIR_TEST = '''
import time

from bench.cases import Case
from bench.protocol import config_for, extra_info_fn, time_pair

ORDER = []


def test_bench_pair_of_sleeps(benchmark, bench_profile, sizes):
    def case(backend, seconds):
        cfg = config_for(bench_profile, sizes, backend, "official", glass="off")
        def call():
            ORDER.append(backend)
            time.sleep(seconds)
        info = extra_info_fn(cfg, bench_profile, bench="update", device="cpu", agent_steps_per_call=0,
                             updates_per_call=4, params=1)
        return Case(call, info, lambda calls: {})

    calls = time_pair(benchmark, bench_profile, case("torch", 0.004), case("jax", 0.002))
    benchmark.extra_info["order"] = "".join(b[0] for b in ORDER)
    assert calls == (1 + 2 + 10, 1 + 2 + 10)  # first calls, the cpu profile's 2 warm-up and 10 timed rounds
'''


def test_paired_speedup_is_the_median_of_per_round_ratios() -> None:
    median, low, high = paired_speedup([4.0, 6.0, 9.0, 2.0, 5.0], [2.0, 2.0, 3.0, 2.0, 1.0])
    assert median == pytest.approx(3.0)  # ratios 2, 3, 3, 1, 5
    assert 1.0 <= low <= median <= high <= 5.0
    assert paired_speedup([1.0, 1.0, 1.0], [0.5, 0.5, 0.5]) == (2.0, 2.0, 2.0)


def test_pairs_alternate_and_the_report_shows_them(tmp_path: Path) -> None:
    bench_dir = tmp_path / "bench_pair"
    bench_dir.mkdir()
    (bench_dir / "test_bench_pair.py").write_text(PAIR_TEST)
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(ROOT),
           "-c", str(ROOT / "pyproject.toml"), "--confcutdir", str(ROOT), "-p", "bench.conftest",
           "--bench-results", str(results), str(bench_dir / "test_bench_pair.py")]
    res = subprocess.run(cmd, cwd=ROOT, env=child_pytest_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (path,) = results.glob("*/*.json")
    (rec,) = json.loads(path.read_text())["benchmarks"]
    info = rec["extra_info"]
    assert info["order"] == "tj" * 13  # torch then JAX in every round, first calls and warm-ups included
    paired = info["paired"]
    assert paired["with"] == "torch" and paired["rounds"] == rec["stats"]["rounds"] == 10
    assert len(paired["first_seconds"]) == len(rec["stats"]["data"]) == 10
    ratios = np.asarray(paired["first_seconds"]) / np.asarray(rec["stats"]["data"])
    assert paired["speedup_median"] == pytest.approx(float(np.median(ratios)))
    assert paired["speedup_ci95"][0] <= paired["speedup_median"] <= paired["speedup_ci95"][1]
    data = collect(results)
    assert [r.name for r in data.paired] == ["test_bench_pair_of_sleeps"] and data.records == [] and not data.pairs
    text = render_markdown(data)
    section = text[text.index("## (p) Paired"):]
    row = next(line for line in section.splitlines() if line.startswith("| ") and "update" in line)
    assert "| 10 |" in row and "×** [" in row


def test_a_malformed_paired_record_is_refused(tmp_path: Path) -> None:
    from tdmpc_parity.analysis.report import _check_paired

    _check_paired(None, "x")
    _check_paired({"rounds": 2, "first_seconds": [0.1, 0.2], "speedup_median": 2.0, "speedup_ci95": [1, 3]}, "x")
    with pytest.raises(ValueError, match="x: extra_info field 'paired' is malformed"):
        _check_paired({"rounds": 3, "first_seconds": [0.1, 0.2], "speedup_median": 2.0, "speedup_ci95": [1, 3]}, "x")
