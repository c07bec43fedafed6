"""Does each backend learn? A tiny run per backend on cartpole-balance over several seeds (slow: `-m slow`).

Each backend trains the shipped `tiny` config on cartpole-balance for STEPS agent steps with several seeds (torch: one
process per seed, run side by side; JAX: one `--seeds` program, the seeds vmapped), evaluating the untrained
agent at step 0 and the trained one at the end (10 eval episodes each). Claim, per backend: the mean over
seeds of (final eval return - step-0 eval return) is positive at 95 % confidence, i.e. the lower bound of the
one-sided percentile-bootstrap interval [lower, inf) of that mean (tdmpc_parity/core/stats.py, scipy.stats.bootstrap) is
above 0. The runs are then passed to `compare` (learning.md, the backend test), which is printed, not asserted.

Knobs (environment): TDMPC_LEARNING_STEPS (agent steps, default 5000; a multiple of the tiny episode length
100, so the last episode end falls on the final eval), TDMPC_LEARNING_SEEDS (default 1,2,3,4,5),
TDMPC_LEARNING_WORKERS (torch seed processes at once, default: the CPU count).

Why 5000: returns first fall below the untrained agent's (about 120 of at most 200 with 100-step episodes) and
recover from about 2000 agent steps. Measured on the 2-core machine (JAX, seeds 1-5, 10 eval episodes): step 0
mean 121.9, 1000 steps 78.1, 2000 104.4, 3000 131.7, 4000 149.0 (improvements 25.8, 48.9, -1.3, 28.6, 33.4;
one-sided bound 14.7); 5000 leaves a margin. Cost there: JAX about 7 min for 4000 steps (compile included);
torch about 20 agent steps/s per process (one thread); the 5 seeds of both backends take about 20 min.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.analysis.compare import compare, overall_verdict, read_eval_csv
from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.core.stats import mean_ci
from tests.train_helpers import TINY_YAML

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STEPS = int(os.environ.get("TDMPC_LEARNING_STEPS", "5000"))
SEEDS = tuple(int(s) for s in os.environ.get("TDMPC_LEARNING_SEEDS", "1,2,3,4,5").split(","))
WORKERS = int(os.environ.get("TDMPC_LEARNING_WORKERS", str(os.cpu_count() or 1)))
CONFIDENCE = 0.95
EPISODE_LENGTH = 100  # the shipped tiny config
OVERRIDES = ("task=cartpole-balance", f"eval_freq={STEPS}", "eval_episodes=10", "save_every=0")


def train_args(backend: str, run_dir: Path, seeds: tuple[int, ...]) -> list[str]:
    seed_flag = ["--seed", str(seeds[0])] if len(seeds) == 1 else ["--seeds", ",".join(map(str, seeds))]
    return ["train", "--backend", backend, "--config", str(TINY_YAML), "--steps", str(STEPS), *seed_flag,
            "--run-dir", str(run_dir), "--no-progress", *OVERRIDES]


def train_torch_seeds(root: Path) -> list[Path]:
    """One `tdmpc-parity train` process per seed, at most WORKERS at once; returns the run folders."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MUJOCO_GL": "disable"}
    pending = [(s, root / f"torch_s{s}") for s in SEEDS]
    running: list[tuple[int, subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < max(1, WORKERS):
            seed, run_dir = pending.pop(0)
            cmd = [sys.executable, "-m", "tdmpc_parity.app.cli", *train_args("torch", run_dir, (seed,))]
            running.append((seed, subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, text=True)))
        seed, proc = running.pop(0)
        out, _ = proc.communicate()
        assert proc.returncode == 0, f"torch seed {seed} failed (exit {proc.returncode}):\n{out[-3000:]}"
    return [root / f"torch_s{s}" for s in SEEDS]


def improvement(run_dirs: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(step-0 returns, final returns) per seed; the final eval must be at the run's last env step."""
    first, last = [], []
    for run_dir in run_dirs:
        steps, returns = read_eval_csv(run_dir / "eval.csv")
        assert steps[0] == 0 and steps[-1] == 2 * STEPS, (run_dir, steps)  # env steps = agent steps x 2
        first.append(returns[0])
        last.append(returns[-1])
    return np.array(first), np.array(last)


@pytest.mark.skipif(STEPS % EPISODE_LENGTH != 0, reason="TDMPC_LEARNING_STEPS must be a multiple of 100")
def test_both_backends_learn_cartpole_balance(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    assert len(SEEDS) >= 2, "the confidence bound needs at least 2 seeds"
    t0 = time.perf_counter()
    # torch seeds in processes (a thread waits on them) while JAX trains its vmapped seeds in this process
    with ThreadPoolExecutor(1) as pool:
        torch_runs = pool.submit(train_torch_seeds, tmp_path)
        jax_dir = tmp_path / "jax"
        assert cli(train_args("jax", jax_dir, SEEDS)) == 0
        torch_dirs = torch_runs.result()
    elapsed = time.perf_counter() - t0

    runs = {"torch": torch_dirs, "jax": [jax_dir / f"seed_{s}" for s in SEEDS]}
    lines = [f"{STEPS} agent steps, seeds {SEEDS}, {elapsed:.0f} s"]
    bounds = {}
    for backend, dirs in runs.items():
        first, last = improvement(dirs)
        mean, lower, _ = mean_ci(last - first, CONFIDENCE, alternative="greater")
        bounds[backend] = lower
        lines.append(f"{backend}: step-0 return {np.round(first, 1).tolist()} (mean {first.mean():.1f}), final "
                     f"{np.round(last, 1).tolist()} (mean {last.mean():.1f}); improvement mean {mean:.1f}, one-sided "
                     f"{CONFIDENCE:.0%} bootstrap lower bound {lower:.1f}")
    result = compare([*runs["torch"], jax_dir], tmp_path / "compare", official=True)
    assert (tmp_path / "compare" / "learning.md").exists()
    lines += [f"compare: torch vs jax at env step {t.step}: {overall_verdict(t)} (Welch p = {t.welch_p:.3g}, "
              f"Mann-Whitney p = {t.mwu_p:.3g})" for t in result.tests]
    report = "\n".join(lines)
    print(report)
    for backend, lower in bounds.items():
        assert lower > 0, f"{backend} did not learn at {CONFIDENCE:.0%} confidence:\n{report}"
