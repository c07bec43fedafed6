"""Statistics over seeds shared by `compare` and the official results: mean, bootstrap CI, IQM, curves.

Every interval is a percentile bootstrap of the mean over seeds (`scipy.stats.bootstrap`, method "percentile",
9,999 resamples, a fixed generator so reruns print the same numbers), the interval rliable reports for few
seeds. With fewer than 2 seeds there is no interval (NaN bounds): one seed says nothing about the spread.
The IQM is the 25 %-trimmed mean (`scipy.stats.trim_mean(x, 0.25)`: the lowest and highest
floor(n / 4) values dropped; with n < 4 nothing is dropped and it equals the mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 9999
BOOTSTRAP_SEED = 0


def mean_ci(values: np.ndarray, confidence: float = CONFIDENCE, alternative: str = "two-sided",
            ) -> tuple[float, float, float]:
    """(mean, lower, upper) of `values`: the sample mean and its percentile-bootstrap confidence interval.

    `alternative` as scipy.stats.bootstrap: "greater" gives the one-sided interval [lower, inf), "less"
    (-inf, upper]. Fewer than 2 values: the mean (NaN for none) and NaN bounds.
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(np.mean(x))
    if x.size < 2:
        return mean, float("nan"), float("nan")
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=N_RESAMPLES,
                          method="percentile", alternative=alternative, rng=np.random.default_rng(BOOTSTRAP_SEED))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: `scipy.stats.trim_mean(values, 0.25)` (NaN for no values)."""
    x = np.asarray(values, dtype=float).ravel()
    return float(stats.trim_mean(x, 0.25)) if x.size else float("nan")


@dataclass(frozen=True)
class Curve:
    """Per-step statistics over seeds: at steps[i], n[i] seeds have a value; their mean, CI and IQM."""

    steps: np.ndarray  # int64, increasing
    n: np.ndarray  # int64, seeds with a value at that step
    mean: np.ndarray
    low: np.ndarray  # NaN where n < 2
    high: np.ndarray
    iqm: np.ndarray


def seed_curve(per_seed: Mapping[object, tuple[np.ndarray, np.ndarray]]) -> Curve:
    """Aggregate (steps, values) per seed into a Curve over the union of their steps.

    At each step the statistics use the seeds that have a value there (a shorter run drops out, `n` says so).
    """
    steps = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s, _ in per_seed.values()] or [[]]))
    steps = steps.astype(np.int64)
    lookup = [dict(zip(np.asarray(s).tolist(), np.asarray(v, dtype=float).tolist(), strict=True))
              for s, v in per_seed.values()]
    rows = []
    for step in steps.tolist():
        vals = np.array([d[step] for d in lookup if step in d])
        rows.append((vals.size, *mean_ci(vals), iqm(vals)))
    table = np.array(rows, dtype=float).reshape(-1, 5)
    return Curve(steps=steps, n=table[:, 0].astype(np.int64), mean=table[:, 1], low=table[:, 2],
                 high=table[:, 3], iqm=table[:, 4])
