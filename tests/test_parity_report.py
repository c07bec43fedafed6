"""The parity report: one table from the whole suite, also when pytest-xdist splits the suite over workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tdmpc_parity.analysis.parity_report import ParityLog
from tdmpc_parity.app.pytest_env import child_pytest_env

ROOT = Path(__file__).resolve().parents[1]
RECORDS = [  # component, dtype, leaf, max_abs, max_rel, rtol, atol, test
    ("math/symlog", "float32", "y", 1e-7, 2e-7, 1e-5, 1e-5, "t1"),
    ("math/symlog", "float32", "dy", 3e-7, 1e-7, 1e-5, 1e-6, "t2"),
    ("math/symlog", "float64", "y", 0.0, 0.0, 1e-10, 1e-10, "t1"),
    ("update", "float32", "loss", 2e-6, 4e-6, 1e-4, 1e-5, "t3"),
    ("update", "float32", "grad", 2e-6, 1e-6, 1e-5, 1e-5, "t4"),
]


def _rows(log: ParityLog) -> list[dict]:
    return log.to_json()["rows"]


def test_merged_worker_logs_equal_one_log_of_everything() -> None:
    whole = ParityLog()
    for r in RECORDS:
        whole.record(*r)
    whole.failures.append("update: loss differs")
    first, second = ParityLog(), ParityLog()
    for i, r in enumerate(RECORDS):
        (first if i % 2 else second).record(*r)
    second.failures.append("update: loss differs")
    merged = ParityLog()
    for part in (first, second):
        merged.merge(json.loads(json.dumps(part.to_json())))  # what travels from a worker is JSON
    assert _rows(merged) == _rows(whole) and merged.failures == whole.failures
    symlog32 = next(r for r in _rows(merged) if r["component"] == "math/symlog" and r["dtype"] == "float32")
    assert symlog32["max_abs"] == 3e-7 and symlog32["worst_leaf"] == "dy" and symlog32["max_rel"] == 2e-7
    assert symlog32["leaves"] == 2 and symlog32["tests"] == ["t1", "t2"] and symlog32["atol"] == 1e-5


def test_report_of_a_suite_split_over_two_workers_equals_the_single_process_report(tmp_path: Path) -> None:
    suite = ["parity/test_math_parity.py", "parity/test_buffer_parity.py"]
    reports = {}
    for name, extra in (("single", []), ("xdist", ["-n", "2", "--dist", "load"])):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "pytest", *suite, "-q", "-p", "no:cacheprovider", "--no-cov",
               "--parity-report", str(out), *extra]
        proc = subprocess.run(cmd, cwd=ROOT, env=child_pytest_env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        reports[name] = json.loads((out / "parity.json").read_text())
        md = (out / "parity.md").read_text()
        assert all(f"| {r['component']} | {r['dtype']} |" in md for r in reports[name]["rows"])
    single, split = reports["single"], reports["xdist"]
    assert split["rows"] == single["rows"] and split["failures"] == single["failures"] == []
    components = {r["component"] for r in split["rows"]}  # both files' comparisons, from both workers
    assert {"buffer/sample_core", "math/two_hot", "math/simnorm"} <= components
