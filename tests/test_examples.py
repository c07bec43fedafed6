"""examples/: each script run as a user runs it (a subprocess), with tiny settings, checked on what it prints and
writes. examples/my_tasks.py has its own test (tests/test_register_task.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.analysis.official_results import official_curve
from tdmpc_parity.core.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(script: str, *args: str, timeout: int = 1200) -> str:
    """The script's stdout; it must exit 0."""
    env = {**os.environ, "MUJOCO_GL": "disable", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_every_example_is_short_and_says_how_to_run_it() -> None:
    for script in ("train_from_python.py", "eval_official_checkpoint_jax.py", "compare_with_official.py"):
        text = (EXAMPLES / script).read_text()
        assert len(text.splitlines()) < 60, script
        assert text.startswith('"""') and f"python examples/{script}" in text.split('"""')[1], script


def test_train_from_python(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    run = tmp_path / "run"
    out = _run("train_from_python.py", "--backend", "torch", "--steps", "60", "--episode-length", "20",
               "--eval-freq", "40", "--eval-episodes", "1", "--run-dir", str(run))
    with (run / "eval.csv").open(newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    assert (last["agent_step"], last["env_step"]) == ("40", "80")
    assert f"run folder: {run}" in out
    assert (f"final eval: mean return {float(last['episode_reward']):.2f} over 1 episode(s) at env step 80 "
            "(agent step 40)") in out


def test_eval_official_checkpoint_jax(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    from torch_ref.official_checkpoint import save_official
    from torch_ref.world_model import WorldModel

    cfg = load_config(yaml_path="tiny", overrides=["task=cartpole-balance", "episode_length=10"])
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_official(WorldModel(cfg), path)  # a checkpoint as the official code writes it
    out = _run("eval_official_checkpoint_jax.py", str(path), "--task", "cartpole-balance", "--config", "tiny",
               "--episode-length", "10", "--episodes", "2")
    assert f"loaded: {path} (official TD-MPC2 checkpoint)" in out
    returns = [float(r) for r in re.findall(r"^episode \d: return (\S+)$", out, re.M)]
    assert len(returns) == 2 and all(0 <= r <= 20 for r in returns)  # 10 agent steps x action_repeat 2
    mean = float(re.search(r"mean return over 2 episode\(s\): (\S+)", out).group(1))
    assert mean == pytest.approx(np.mean(returns), abs=0.01)


def test_compare_with_official(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    cfg = load_config(yaml_path="tiny", overrides=["task=cartpole-balance"])
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    (run / "eval.csv").write_text("agent_step,env_step,elapsed,episode_reward\n0,0,1.0,12.5\n"
                                  "50000,100000,2.0,150.25\n")
    out = _run("compare_with_official.py", str(run), "--out", str(tmp_path / "cmp"), timeout=300)
    official = official_curve("cartpole-balance")
    lines = out.splitlines()
    assert lines[0] == f"cartpole-balance: torch seed 1 vs official TD-MPC2 ({int(official.n.max())} seeds)"
    at_100k = official.mean[list(official.steps).index(100_000)]  # an official eval step: no interpolation
    assert lines[2].split() == ["0", "12.50", f"{official.mean[0]:.2f}"]
    assert lines[3].split() == ["100000", "150.25", f"{at_100k:.2f}"]
    png = tmp_path / "cmp" / "learning_cartpole-balance.png"
    assert f"plot: {png}" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "note: " in out  # 100-step episodes: returns on another scale than the official ones
