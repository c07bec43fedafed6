"""The GPU learning protocol's shortened mode (bench/device/learning.py), rehearsed on the CPU with the tiny config."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from bench.device.learning import (
    FINAL_RESERVE_SECONDS,
    KILL_GRACE_SECONDS,
    PROTOCOL_ENV_STEPS,
    PROTOCOL_SEEDS,
    projection,
    training_deadline,
    write_archive,
)

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


def test_training_ends_in_time_to_write_everything_before_the_device_limit() -> None:
    # --learning 8 on a 600 s command: 8 min of training would leave nothing for the archive and compare
    assert training_deadline(1000.0, 8.0, 560.0, 990.0) == 990.0 + 560.0 - FINAL_RESERVE_SECONDS
    assert training_deadline(1000.0, 1.0, 560.0, 990.0) == 1000.0 + 60.0 + KILL_GRACE_SECONDS


def test_archive_holds_the_runs_small_files_and_the_logs(tmp_path: Path) -> None:
    work, logs = tmp_path / "runs", tmp_path / "logs"
    for run in ("jax/seed_1", "torch_s1"):
        (work / run / "checkpoints").mkdir(parents=True)
        (work / run / "config.json").write_text("{}")
        (work / run / "eval.csv").write_text("env_step\n0\n")
        (work / run / "checkpoints" / "state.pt").write_bytes(b"x" * 1000)
    logs.mkdir()
    (logs / "jax_0.log").write_text("hello")
    write_archive(work, logs, tmp_path / "out" / "runs.tar.gz")
    with tarfile.open(tmp_path / "out" / "runs.tar.gz") as tar:
        names = sorted(tar.getnames())
    assert names == ["logs/jax_0.log", "runs/jax/seed_1/config.json", "runs/jax/seed_1/eval.csv",
                     "runs/torch_s1/config.json", "runs/torch_s1/eval.csv"]


def _returned(out_root: Path) -> list[Path]:
    """What a device command brings back of `out_root`: files at most 2 folders deep (checked: none deeper)."""
    files = [p for p in out_root.rglob("*") if p.is_file()]
    assert all(len(p.relative_to(out_root).parts) <= 3 for p in files), files
    return files


def _archive(out: Path) -> dict[str, bytes]:
    with tarfile.open(out / "runs.tar.gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _dry_run(tmp_path: Path, backends: str, seeds: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.device.learning", "--out", str(out), "--minutes", "0.001",
           "--task", "cartpole-balance", "--config", "tiny", "--seeds", seeds, "--backends", backends,
           "--steps", "300", "--eval-freq", "100", "eval_episodes=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return proc, out / "learning"


def _check_dry_run(proc: subprocess.CompletedProcess, out: Path, runs: list[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = _returned(out.parent)
    assert sorted(p.name for p in files) == ["learning.json", "learning.md", "learning_cartpole-balance.png",
                                             "projection.json", "projection.md", "runs.tar.gz"]
    archive = _archive(out)
    for run in runs:  # a spent budget: every run stopped at its first episode end (100 agent steps)
        rows = csv.DictReader(io.StringIO(archive[f"runs/{run}/eval.csv"].decode()))
        assert [int(r["agent_step"]) for r in rows] == [0, 100]
    assert not [n for n in archive if "checkpoints" in n], "checkpoints must stay in the temporary folder"
    proj = json.loads((out / "projection.json").read_text())
    for backend, p in proj.items():
        assert p["env_steps_reached"] == [200] * p["runs"], (backend, p)
        assert p["env_steps_per_second_per_seed"] > 0
    assert (out / "learning.md").exists() and (out / "learning_cartpole-balance.png").stat().st_size > 10_000
    assert "stopped by --max-minutes" in "".join(v.decode() for k, v in archive.items() if k.startswith("logs/"))


def test_torch_dry_run_stops_at_the_budget_and_compares(tmp_path: Path):
    proc, out = _dry_run(tmp_path, "torch", "1,2")
    _check_dry_run(proc, out, ["torch_s1", "torch_s2"])


@pytest.mark.slow
def test_both_backends_dry_run(tmp_path: Path):
    proc, out = _dry_run(tmp_path, "jax,torch", "1,2")
    _check_dry_run(proc, out, ["jax/seed_1", "jax/seed_2", "torch_s1", "torch_s2"])
    assert "Welch" in (out / "learning.md").read_text()


@pytest.mark.slow
def test_a_learning_run_killed_at_its_limit_still_returns_what_it_trained(tmp_path: Path):
    """SIGKILL mid-training (the device's 600 s limit): the archive written while training is complete and readable."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.device.learning", "--out", str(out), "--minutes", "30",
           "--task", "cartpole-balance", "--config", "tiny", "--seeds", "1", "--backends", "torch",
           "--steps", "100000", "--eval-freq", "100", "eval_episodes=1"]
    env = {**os.environ, "TDMPC_LEARNING_SNAPSHOT_SECONDS": "5"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    archive = out / "learning" / "runs.tar.gz"
    try:
        t0 = time.time()
        while time.time() - t0 < 600:
            time.sleep(2)
            evals = _archive(out / "learning").get("runs/torch_s1/eval.csv", b"") if archive.exists() else b""
            if len(evals.splitlines()) >= 3:  # the header and two evals
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    names = [p.name for p in _returned(out)]  # (a kill during a rewrite may leave its temporary file beside it)
    assert "runs.tar.gz" in names and all(n == "runs.tar.gz" or n.startswith(".runs.tar.gz.") for n in names)
    rows = list(csv.DictReader(io.StringIO(_archive(out / "learning")["runs/torch_s1/eval.csv"].decode())))
    assert [int(r["agent_step"]) for r in rows][:2] == [0, 100]
