"""tdmpc_parity/core/stats.py: TOST, the normalised AUC, the IQM with its stratified-bootstrap CI and the probability of
improvement, against values computed by hand and with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tdmpc_parity.core.stats import iqm_stratified_ci, normalized_auc, probability_of_improvement, welch_tost

X = np.array([184.0, 182.9, 184.2, 176.6, 188.5])
Y = np.array([186.5, 187.3, 176.7, 165.6, 179.8])


def test_tost_p_values_are_scipys_one_sided_welch_tests_shifted_by_the_margin():
    margin = 10.0
    t = welch_tost(X, Y, margin)
    # H0: diff <= -margin  <=>  mean(x + margin) <= mean(y): Welch, alternative "greater"
    lower = stats.ttest_ind(X + margin, Y, equal_var=False, alternative="greater")
    upper = stats.ttest_ind(X - margin, Y, equal_var=False, alternative="less")
    assert t.p_lower == pytest.approx(lower.pvalue, rel=1e-10) and t.p_upper == pytest.approx(upper.pvalue, rel=1e-10)
    assert t.diff == pytest.approx(X.mean() - Y.mean())
    # 90 % CI = scipy's 90 % Welch interval of the difference
    ci = stats.ttest_ind(X, Y, equal_var=False).confidence_interval(0.90)
    assert (t.ci_low, t.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert t.ci_level == pytest.approx(0.90)
    # by hand: se and the Welch-Satterthwaite df
    vx, vy = X.var(ddof=1) / 5, Y.var(ddof=1) / 5
    assert t.se == pytest.approx(np.sqrt(vx + vy)) and t.df == pytest.approx((vx + vy) ** 2 / (vx**2 / 4 + vy**2 / 4))


def test_tost_verdict_follows_the_ci_inside_the_margin():
    t = welch_tost(X, Y, 10.0)
    assert t.ci_high > 10.0 and not t.equivalent and t.verdict() == "not shown equivalent within ±10.0"
    wide = welch_tost(X, Y, 20.0)
    assert -20 < wide.ci_low and wide.ci_high < 20 and wide.equivalent and wide.verdict() == "equivalent within ±20.0"
    # the decision equals "90 % CI inside (-margin, margin)" at margins either side of the CI's outer bound
    edge = max(abs(t.ci_low), abs(t.ci_high))
    assert not welch_tost(X, Y, edge * 0.999).equivalent and welch_tost(X, Y, edge * 1.001).equivalent
    # a large true difference is never equivalent, however many seeds
    rng = np.random.default_rng(0)
    assert not welch_tost(rng.normal(0, 1, 200), rng.normal(5, 1, 200), 1.0).equivalent


def test_tost_edge_cases():
    one = welch_tost([1.0], [1.0, 2.0], 5.0)
    assert not one.tested and not one.equivalent and one.verdict().startswith("not tested")
    same = welch_tost([3.0, 3.0], [2.0, 2.0], 2.0)  # se = 0: the exact difference 1 is inside (-2, 2)
    assert same.equivalent and (same.p_lower, same.p_upper) == (0.0, 0.0)
    assert not welch_tost([3.0, 3.0], [0.0, 0.0], 2.0).equivalent
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="margin must be a positive number"):
            welch_tost(X, Y, bad)


def test_normalized_auc_is_the_step_weighted_mean():
    # trapezoid by hand: steps 0, 10, 30; values 0, 10, 10 -> area 50 + 200 = 250 over 30 steps
    assert normalized_auc(np.array([0, 10, 30]), np.array([0.0, 10.0, 10.0])) == pytest.approx(250 / 30)
    assert normalized_auc(np.array([5, 9]), np.array([7.0, 7.0])) == pytest.approx(7.0)
    with pytest.raises(ValueError, match="at least 2 increasing steps"):
        normalized_auc(np.array([3]), np.array([1.0]))


def test_iqm_and_its_stratified_bootstrap():
    point, lo, hi = iqm_stratified_ci(np.arange(1.0, 9.0), reps=2000)
    assert point == pytest.approx(4.5)  # 1..8: drop 1, 2, 7, 8 -> mean(3, 4, 5, 6)
    assert 1 <= lo < 4.5 < hi <= 8
    # stratified: each task keeps its number of runs in every resample, so task 0 (all 0) and task 1 (all 10)
    # always give IQM 5; resampling the runs of both tasks together would not
    two = np.stack([np.zeros(4), np.full(4, 10.0)], axis=1)  # (runs, tasks)
    assert iqm_stratified_ci(two, reps=2000) == (5.0, 5.0, 5.0)
    # with one run there is no interval
    assert np.isnan(iqm_stratified_ci(np.array([3.0]))[1])
    # the bootstrap distribution is of the IQM: its CI matches a direct resampling loop with the same draws
    x = np.array([1.0, 4.0, 2.0, 8.0, 5.0])
    idx = np.random.default_rng(0).integers(0, 5, size=(1000, 5, 1))
    direct = [stats.trim_mean(x[i[:, 0]], 0.25) for i in idx]
    _, lo, hi = iqm_stratified_ci(x, reps=1000, seed=0)
    assert (lo, hi) == (pytest.approx(np.percentile(direct, 2.5)), pytest.approx(np.percentile(direct, 97.5)))


def test_probability_of_improvement():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 0.0])
    # by hand: 5 of 9 pairs x > y, 2 ties -> (5 + 2 / 2) / 9
    point, lo, hi = probability_of_improvement(x, y, reps=2000)
    assert point == pytest.approx(6 / 9)
    assert point == pytest.approx(stats.mannwhitneyu(x, y, alternative="greater").statistic / 9)
    assert 0 <= lo <= point <= hi <= 1
    # two tasks: the mean of the per-task probabilities
    xs, ys = np.stack([x, x + 10], axis=1), np.stack([y, y], axis=1)
    assert probability_of_improvement(xs, ys, reps=100)[0] == pytest.approx((6 / 9 + 1.0) / 2)
    # identical samples: 0.5 exactly; disjoint samples: 1 with a degenerate CI
    assert probability_of_improvement(x, x, reps=100)[0] == pytest.approx(0.5)
    assert probability_of_improvement(x + 10, y, reps=500) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement(xs, y[:, None])
