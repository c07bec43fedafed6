"""Compare a run folder's evaluations with the official TD-MPC2 learning curve of its task: a table and a PNG.

    python examples/compare_with_official.py runs/cartpole-balance-torch-s1-20250101-120000 --out compare/

The official curves (nicklashansen/tdmpc2's results: the 5M model, 3 seeds, an evaluation every 100,000 env
steps) ship with the package; the table interpolates their mean at the run's env steps. A run with episodes
shorter than the official 1000 control steps has returns on another scale (a note says so).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tdmpc_parity.analysis.compare import compare, load_seed_run
from tdmpc_parity.analysis.official_results import official_curve


def main() -> None:
    p = argparse.ArgumentParser(description="A run folder against the official TD-MPC2 curve of its task.")
    p.add_argument("run_dir", help="a run folder (config.json, eval.csv)")
    p.add_argument("--out", default="compare", help="where learning_<task>.png goes (default: compare/)")
    args = p.parse_args()

    run = load_seed_run(args.run_dir)  # its config and eval curve (env steps, mean returns)
    official = official_curve(run.task)  # mean over the official seeds per env step
    at_run_steps = np.interp(run.steps, official.steps, official.mean)

    print(f"{run.task}: {run.backend} seed {run.seed} vs official TD-MPC2 ({int(official.n.max())} seeds)")
    print(f"{'env step':>10}  {'run':>8}  {'official':>8}")
    for step, ret, ref in zip(run.steps, run.returns, at_run_steps, strict=True):
        print(f"{step:>10}  {ret:>8.2f}  {ref:>8.2f}")

    result = compare([args.run_dir], Path(args.out), official=True)  # also learning.md and learning.json
    print(f"plot: {next(f for f in result.files if f.suffix == '.png')}")
    for note in result.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
