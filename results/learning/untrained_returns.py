"""The untrained agent's eval return per backend, from the runs of run_untrained.sh (their one eval, agent step 0).

Prints markdown: per backend the seeds, mean, sd, median and the sorted per-seed returns, then Welch's t-test and
the Mann-Whitney U test (two-sided) of torch against JAX. Usage: python results/learning/untrained_returns.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from claims import curves  # results/learning/claims.py: backend -> seed -> {env step: eval return}
from scipy import stats


def main(folder: Path) -> None:
    data = curves(folder)
    if not data["torch"] or not data["jax"]:
        raise SystemExit(f"{folder}: needs torch_s*/ and jax/seed_*/ run folders (results/learning/run_untrained.sh)")
    returns = {}
    for name, runs in data.items():
        if any(0 not in curve for curve in runs.values()):
            raise SystemExit(f"{folder}: a {name} run has no eval at step 0 (the untrained agent)")
        returns[name] = np.asarray([runs[seed][0] for seed in sorted(runs)])
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
