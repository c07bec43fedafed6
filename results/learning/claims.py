"""The study's two claims from its run folders (results/learning/learning.md): printed as markdown.

1. Each backend beats its untrained agent: per seed, improvement = eval return at the last eval step - eval return
   at env step 0; the mean over seeds with the one-sided 95 % percentile-bootstrap lower bound
   (tdmpc_parity.core.stats.mean_ci, scipy.stats.bootstrap); the claim holds when the bound is above 0.
2. The backends are not distinguishable: Welch's t-test and Mann-Whitney U on the seeds' returns at each eval
   step (tdmpc_parity.analysis.compare does it at the final step; here every step is listed, step 0 included), with the
   Bonferroni-adjusted p-values min(1, m p) over the m steps tested: with m tests at alpha = 0.05, about
   0.05 m unadjusted "distinguishable" verdicts are expected even between identical algorithms.

    python results/learning/claims.py [STUDY_DIR]   (default results/learning/study)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import stats

from tdmpc_parity.analysis.compare import read_eval_csv
from tdmpc_parity.core.stats import mean_ci


def curves(study: Path) -> dict[str, dict[int, dict[int, float]]]:
    """backend -> seed -> {env step: eval return}."""
    out: dict[str, dict[int, dict[int, float]]] = {"torch": {}, "jax": {}}
    for path in sorted(study.glob("torch_s*/eval.csv")):
        steps, returns = read_eval_csv(path)
        out["torch"][int(path.parent.name[7:])] = dict(zip(steps.tolist(), returns.tolist(), strict=True))
    for path in sorted(study.glob("jax/seed_*/eval.csv")):
        steps, returns = read_eval_csv(path)
        out["jax"][int(path.parent.name[5:])] = dict(zip(steps.tolist(), returns.tolist(), strict=True))
    return out


def main(study: Path) -> None:
    data = curves(study)
    final = min(max(c) for runs in data.values() for c in runs.values())
    print(f"## Claim 1: each backend beats its untrained agent (env step 0 vs {final:,})\n")
    print("| backend | seeds | return at step 0 (mean) | return at the end (mean) | improvement per seed | "
          "mean improvement | one-sided 95 % lower bound | holds |")
    print("|---|---:|---:|---:|---|---:|---:|---|")
    for backend, runs in data.items():
        first = np.array([r[0] for r in runs.values()])
        last = np.array([r[final] for r in runs.values()])
        mean, lower, _ = mean_ci(last - first, 0.95, alternative="greater")
        print(f"| {backend} | {len(runs)} | {first.mean():.1f} | {last.mean():.1f} | "
              f"{', '.join(f'{d:+.1f}' for d in last - first)} | {mean:+.1f} | {lower:+.1f} | "
              f"{'yes' if lower > 0 else 'NO'} |")
    steps = sorted(set.intersection(*[set(r) for runs in data.values() for r in runs.values()]))
    print("\n## Claim 2: torch vs JAX per eval step (two-sided tests over seeds, alpha = 0.05)\n")
    m = len(steps)
    print(f"| env step | torch mean | jax mean | Welch p | Mann-Whitney p | verdict (unadjusted) | "
          f"Bonferroni-adjusted p, x{m} (Welch / MWU) | verdict (adjusted) |")
    print("|---:|---:|---:|---:|---:|---|---|---|")
    for step in steps:
        x = np.array([r[step] for r in data["torch"].values()])
        y = np.array([r[step] for r in data["jax"].values()])
        p_t = stats.ttest_ind(x, y, equal_var=False).pvalue
        p_u = stats.mannwhitneyu(x, y, alternative="two-sided").pvalue
        a_t, a_u = min(1.0, m * p_t), min(1.0, m * p_u)
        verdict = "distinguishable" if min(p_t, p_u) < 0.05 else "not distinguishable"
        adjusted = "distinguishable" if min(a_t, a_u) < 0.05 else "not distinguishable"
        print(f"| {step:,} | {x.mean():.1f} | {y.mean():.1f} | {p_t:.3g} | {p_u:.3g} | {verdict} | "
              f"{a_t:.3g} / {a_u:.3g} | {adjusted} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/learning/study"))
