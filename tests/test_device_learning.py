"""The GPU learning protocol's shortened mode (bench/device_learning.py), rehearsed on the CPU with the tiny config."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.device_learning import PROTOCOL_ENV_STEPS, PROTOCOL_SEEDS, projection

ROOT = Path(__file__).resolve().parents[1]


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_projection_rate_counts_from_the_first_eval(tmp_path: Path):
    """rate = (last train env step - first eval env step) / (elapsed there - elapsed at the first eval)."""
    runs = {}
    for name, backend, elapsed_eval, elapsed_last, last_step in (("jax/seed_1", "jax", 30.0, 130.0, 5000),
                                                                  ("torch_s1", "torch", 2.0, 52.0, 1000)):
        run = tmp_path / name
        _write_csv(run / "eval.csv", [{"agent_step": 0, "env_step": 0, "elapsed": elapsed_eval, "episode_reward": 1}])
        _write_csv(run / "metrics.csv", [{"agent_step": 100, "env_step": 200, "elapsed": elapsed_eval + 1},
                                         {"agent_step": last_step // 2, "env_step": last_step,
                                          "elapsed": elapsed_last}])
        runs[run] = backend
    proj = projection(list(runs), runs)
    assert proj["jax"]["env_steps_reached"] == [5000] and proj["torch"]["env_steps_reached"] == [1000]
    assert proj["jax"]["env_steps_per_second_per_seed"] == pytest.approx(50.0)  # 5000 / 100 s
    assert proj["torch"]["env_steps_per_second_per_seed"] == pytest.approx(20.0)  # 1000 / 50 s
    assert proj["jax"]["projected_hours_1M_5_seeds"] == pytest.approx(PROTOCOL_ENV_STEPS / 50.0 / 3600)
    assert proj["torch"]["projected_hours_1M_5_seeds"] == pytest.approx(
        PROTOCOL_ENV_STEPS / 20.0 / 3600 * PROTOCOL_SEEDS)


def _dry_run(tmp_path: Path, backends: str, seeds: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.device_learning", "--out", str(out), "--minutes", "0.001",
           "--task", "cartpole-balance", "--config", "configs/tiny.yaml", "--seeds", seeds, "--backends", backends,
           "--steps", "300", "--eval-freq", "100", "eval_episodes=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return proc, out / "learning"


def _check_dry_run(proc: subprocess.CompletedProcess, out: Path, runs: list[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for run in runs:  # a spent budget: every run stopped at its first episode end (100 agent steps)
        with (out / "runs" / run / "eval.csv").open(newline="") as fh:
            assert [int(r["agent_step"]) for r in csv.DictReader(fh)] == [0, 100]
        assert not list((out / "runs" / run).glob("checkpoints*")), "checkpoints must stay in the temporary folder"
    proj = json.loads((out / "projection.json").read_text())
    for backend, p in proj.items():
        assert p["env_steps_reached"] == [200] * p["runs"], (backend, p)
        assert p["env_steps_per_second_per_seed"] > 0
    assert (out / "learning.md").exists() and (out / "learning_cartpole-balance.png").stat().st_size > 10_000
    assert "stopped by --max-minutes" in "".join(p.read_text() for p in (out / "logs").glob("*.log"))


def test_torch_dry_run_stops_at_the_budget_and_compares(tmp_path: Path):
    proc, out = _dry_run(tmp_path, "torch", "1,2")
    _check_dry_run(proc, out, ["torch_s1", "torch_s2"])


@pytest.mark.slow
def test_both_backends_dry_run(tmp_path: Path):
    proc, out = _dry_run(tmp_path, "jax,torch", "1,2")
    _check_dry_run(proc, out, ["jax/seed_1", "jax/seed_2", "torch_s1", "torch_s2"])
    assert "Welch" in (out / "learning.md").read_text()
