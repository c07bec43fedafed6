"""The untrained agent's eval return per backend, from the runs of run_untrained.sh (their one eval, agent step 0).

Prints markdown: per backend the seeds, mean, sd, median and the sorted per-seed returns, then Welch's t-test and
the Mann-Whitney U test (two-sided) of torch against JAX. Usage: python results/learning/untrained_returns.py DIR
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from scipy import stats


def step0_returns(runs: list[Path]) -> np.ndarray:
    """The eval return at agent step 0 of each run folder (its eval.csv's first row)."""
    out = []
    for run in runs:
        with open(run / "eval.csv", newline="") as f:
            row = next(csv.DictReader(f))
        if int(row["agent_step"]) != 0:
            raise SystemExit(f"{run}/eval.csv: the first eval is at agent step {row['agent_step']}, not 0")
        out.append(float(row["episode_reward"]))
    return np.asarray(out)


def main(folder: Path) -> None:
    def seed(p: Path) -> int:
        return int(p.name.rsplit("_", 1)[1].lstrip("s"))

    groups = {"torch": sorted(folder.glob("torch_s*"), key=seed),
              "jax": sorted((folder / "jax").glob("seed_*"), key=seed)}
    if not groups["torch"] or not groups["jax"]:
        raise SystemExit(f"{folder}: needs torch_s*/ and jax/seed_*/ run folders (results/learning/run_untrained.sh)")
    returns = {name: step0_returns(runs) for name, runs in groups.items()}
    print("## The untrained agent's eval return (agent step 0, 10 episodes per seed)\n")
    print("| backend | seeds | mean | sd | median | per seed, sorted |\n|---|---:|---:|---:|---:|---|")
    for name, r in returns.items():
        print(f"| {name} | {r.size} | {r.mean():.1f} | {r.std(ddof=1):.1f} | {np.median(r):.1f} | "
              f"{', '.join(f'{x:.1f}' for x in np.sort(r))} |")
    t, j = returns["torch"], returns["jax"]
    print(f"\nWelch's t-test p = {stats.ttest_ind(t, j, equal_var=False).pvalue:.3g}; "
          f"Mann-Whitney U p = {stats.mannwhitneyu(t, j).pvalue:.3g} (two-sided).")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python results/learning/untrained_returns.py DIR (a run_untrained.sh output folder)")
    main(Path(sys.argv[1]))
