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


# ----------------------------------------------------------------------------------------------------------
# Equivalence (TOST) and the aggregate metrics of Agarwal et al. 2021 (rliable)
# ----------------------------------------------------------------------------------------------------------

TOST_ALPHA = 0.05
RLIABLE_REPS = 50_000  # rliable's default number of bootstrap replications


@dataclass(frozen=True)
class Tost:
    """Two one-sided Welch t-tests of |mean(x) - mean(y)| < margin (Schuirmann's TOST).

    H0_lower: d <= -margin, rejected by t_lower = (d + margin) / se large; H0_upper: d >= margin, rejected by
    t_upper = (d - margin) / se small; d = mean(x) - mean(y), se = sqrt(s_x^2 / n_x + s_y^2 / n_y), Welch-
    Satterthwaite degrees of freedom `df`. Equivalent at `alpha` when both are rejected, i.e. max(p) < alpha,
    i.e. the 100 (1 - 2 alpha) % Welch CI of d (90 % at alpha = 0.05) lies inside (-margin, margin).
    """

    margin: float
    alpha: float
    n_x: int
    n_y: int
    diff: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_lower: float
    p_upper: float

    @property
    def tested(self) -> bool:
        return self.n_x >= 2 and self.n_y >= 2

    @property
    def p(self) -> float:
        """The TOST p-value: the larger of the two one-sided p-values."""
        return max(self.p_lower, self.p_upper)

    @property
    def equivalent(self) -> bool:
        return self.tested and self.p < self.alpha

    @property
    def ci_level(self) -> float:
        return 1 - 2 * self.alpha

    def verdict(self, digits: int = 1) -> str:
        """'equivalent within ±margin' or 'not shown equivalent within ±margin' (or why not tested)."""
        m = f"±{self.margin:.{digits}f}"
        if not self.tested:
            return f"not tested: TOST needs at least 2 seeds per side ({self.n_x}, {self.n_y})"
        return f"equivalent within {m}" if self.equivalent else f"not shown equivalent within {m}"


def welch_tost(x: np.ndarray, y: np.ndarray, margin: float, alpha: float = TOST_ALPHA) -> Tost:
    """TOST of mean(x) - mean(y) against the equivalence margin (-margin, margin), margin > 0 (see `Tost`).

    Fewer than 2 values on a side: NaN statistics (`tested` False). Both samples constant (se = 0): p = 0 on a
    side whose null hypothesis the exact difference contradicts, else 1.
    """
    if not margin > 0 or not np.isfinite(margin):
        raise ValueError(f"the equivalence margin must be a positive number, not {margin!r}")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    nan = float("nan")
    if x.size < 2 or y.size < 2:
        d = float(x.mean() - y.mean()) if x.size and y.size else nan
        return Tost(margin, alpha, x.size, y.size, d, nan, nan, nan, nan, nan, nan)
    d = float(x.mean() - y.mean())
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = float(np.sqrt(vx + vy))
    if se == 0:
        return Tost(margin, alpha, x.size, y.size, d, 0.0, nan, d, d, float(d <= -margin), float(d >= margin))
    df = float((vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1)))
    p_lower = float(stats.t.sf((d + margin) / se, df))
    p_upper = float(stats.t.cdf((d - margin) / se, df))
    half = float(stats.t.ppf(1 - alpha, df)) * se
    return Tost(margin, alpha, x.size, y.size, d, se, df, d - half, d + half, p_lower, p_upper)


def normalized_auc(steps: np.ndarray, values: np.ndarray) -> float:
    """Area under the curve over its step range, divided by the range: the step-weighted mean of `values`
    (trapezoid rule), in the values' units, so the margin of the final return applies to it too."""
    s, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if s.size < 2 or s[-1] <= s[0]:
        raise ValueError("the area under a curve needs at least 2 increasing steps")
    return float(np.trapezoid(v, s) / (s[-1] - s[0]))


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def _as_runs_by_tasks(scores: np.ndarray) -> np.ndarray:
    a = np.asarray(scores, dtype=float)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"scores must be a (runs, tasks) array, not shape {np.shape(scores)}")
    return a


def iqm_stratified_ci(scores: np.ndarray, confidence: float = CONFIDENCE, reps: int = RLIABLE_REPS,
                      seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(IQM, lower, upper): rliable's `aggregate_iqm` (trim_mean(scores, 0.25) over all runs and tasks) with its
    stratified percentile-bootstrap CI (runs resampled with replacement within each task; `reps` resamples).

    `scores`: (runs, tasks), or (runs,) for one task. One run: NaN bounds.
    """
    a = _as_runs_by_tasks(scores)
    point = float(stats.trim_mean(a, 0.25, axis=None))
    n, m = a.shape
    if n < 2:
        return point, float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, n, size=(reps, n, m))
    resampled = np.take_along_axis(a[None], idx, axis=1).reshape(reps, n * m)
    return (point, *_percentile_ci(stats.trim_mean(resampled, 0.25, axis=1), confidence))


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 per task over all pairs of runs; x (..., n_x, tasks), y (..., n_y, tasks)."""
    gt = (x[..., :, None, :] > y[..., None, :, :]).mean(axis=(-3, -2))
    eq = (x[..., :, None, :] == y[..., None, :, :]).mean(axis=(-3, -2))
    return gt + 0.5 * eq


def probability_of_improvement(x: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE,
                               reps: int = RLIABLE_REPS, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(P(X > Y), lower, upper): rliable's `probability_of_improvement` (per task the Mann-Whitney U statistic
    / (n_x n_y) = P(X > Y) + P(X = Y) / 2 over all pairs of runs, averaged over tasks) with its stratified
    independent percentile-bootstrap CI (the runs of x and of y resampled separately within each task).

    `x`: (runs_x, tasks), `y`: (runs_y, tasks) (or 1-D for one task). Fewer than 2 runs on a side: NaN bounds.
    """
    a, b = _as_runs_by_tasks(x), _as_runs_by_tasks(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same tasks: {a.shape[1]} vs {b.shape[1]} columns")
    point = float(_improvement(a, b).mean())
    if a.shape[0] < 2 or b.shape[0] < 2:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    out = np.empty(reps)
    chunk = 5_000  # bounded memory: (chunk, n_x, n_y, tasks) comparisons at a time
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        ra = np.take_along_axis(a[None], rng.integers(0, a.shape[0], size=(k, *a.shape)), axis=1)
        rb = np.take_along_axis(b[None], rng.integers(0, b.shape[0], size=(k, *b.shape)), axis=1)
        out[start:start + k] = _improvement(ra, rb).mean(axis=-1)
    return (point, *_percentile_ci(out, confidence))
