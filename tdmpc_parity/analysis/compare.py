"""`tdmpc-parity compare`: learning curves of run folders aggregated over seeds, per backend, task and config.

Input: run folders (tdmpc_parity/core/runlog.py: `config.json` + `eval.csv` with the columns `env_step` and
`episode_reward`) and JAX `--seeds` folders (RUN/seed_<s>/, one run folder per seed, each counted as a seed).
Runs are grouped by (backend, task, config without `seed`); the config part is named by a short hash of the
resolved config (backend, task and seed removed) and, in labels, by the keys in which the groups of a task
differ.

Statistics (tdmpc_parity/core/stats.py), per group and eval env step, over the seeds that have that step:
  mean, 95 % percentile-bootstrap CI of the mean (scipy.stats.bootstrap; none with 1 seed), and the IQM
  (scipy.stats.trim_mean(x, 0.25)).
Backend equality, per task and config that exactly one torch group and one jax group share, on the final
returns (each seed's return at the last env step that every run of both groups evaluated):
  Welch's t-test (scipy.stats.ttest_ind, equal_var=False) and the Mann-Whitney U test
  (scipy.stats.mannwhitneyu), both two-sided, at alpha = 0.05.
Backend equivalence, on the same final returns and on each seed's normalised area under the curve (the
step-weighted mean return over the env steps that every run of both groups evaluated): TOST, two one-sided
Welch t-tests against a margin ±delta declared before the data (`margin`: "10%" = 10 % of the return range
[0, episode_length x action_repeat] of the groups' episodes, a DMC reward being at most 1 per control step, so
10 % of [0, 1000] at the official length; or an absolute return), verdict "equivalent within ±delta" when both
one-sided p-values are below 0.05 (the 90 % CI of the difference inside the margin). Per backend the IQM of the
final returns with its stratified-bootstrap 95 % CI and the probability of improvement P(torch > jax) with its
CI, as defined by Agarwal et al. 2021 (rliable). See docs/statistics.md.

Output (in --out): `learning_<task>.png` per task (one line + shaded CI per group; with --official the
official TD-MPC2 mean and CI in grey, tdmpc_parity/analysis/official_results.py), `learning.md` (a table per task, the
tests, the runs of each group) and `learning.json` (the backend tests' numbers).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from tdmpc_parity.analysis.official_results import available_tasks, official_curve
from tdmpc_parity.analysis.runs import GROUP_FIELDS, config_hash, flat_config, seed_dirs
from tdmpc_parity.core.runlog import CONFIG_FILE, CSV_FILES, is_run_dir, read_config
from tdmpc_parity.core.stats import (
    CONFIDENCE,
    RLIABLE_REPS,
    TOST_ALPHA,
    Curve,
    Tost,
    iqm_stratified_ci,
    normalized_auc,
    probability_of_improvement,
    seed_curve,
    welch_tost,
)
from tdmpc_parity.core.tasks import get_task

EVAL_FILE = CSV_FILES["eval"]
STEP_COLUMN, RETURN_COLUMN = "env_step", "episode_reward"
ALPHA = 0.05
MAX_LABEL_KEYS = 4


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRun:
    """One seed's eval curve and what groups it."""

    path: Path
    backend: str
    task: str
    seed: int
    config: dict[str, Any]  # the resolved config without GROUP_FIELDS, glass.* flattened
    steps: np.ndarray  # env steps, increasing
    returns: np.ndarray  # mean eval episode return at each step


def run_folders(paths: Sequence[str | Path]) -> list[Path]:
    """The run folders of `paths`: a run folder stands for itself, a `--seeds` folder for its seed folders.

    Duplicates (the same folder given twice) count once. ValueError for a path that is neither.
    """
    out: list[Path] = []
    for path in map(Path, paths):
        seeds = seed_dirs(path)
        if not seeds and not (path.is_dir() and is_run_dir(path)):
            what = "does not exist" if not path.exists() else f"has no {CONFIG_FILE} and no seed_<s>/ run folders"
            raise ValueError(f"{str(path)!r} is not a run folder: it {what}")
        for run in seeds or [path]:
            if not is_run_dir(run):
                raise ValueError(f"{str(run)!r} is not a run folder (no {CONFIG_FILE})")
            if run.resolve() not in {p.resolve() for p in out}:
                out.append(run)
    return out


def read_eval_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(env_step int64, episode_reward float64) of an eval.csv, sorted by env step.

    A last line without its newline (the run was killed while writing it) is skipped. An env step logged twice
    counts once, with its later row: a run resumed after a crash repeats the rows written after its last
    checkpoint (on CPU with the same values). ValueError naming the file, line and column for a missing
    column, an empty or non-numeric cell, a step that is not a non-negative integer, or no rows at all.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{str(path)!r} does not exist: the run has no eval rows yet")
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]  # torn last row
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{str(path)!r} is empty")
    missing = [c for c in (STEP_COLUMN, RETURN_COLUMN) if c not in header]
    if missing:
        raise ValueError(f"{str(path)!r} line 1: missing column(s) {missing} (the header is {header}); "
                         f"an eval.csv needs {STEP_COLUMN} and {RETURN_COLUMN}")
    idx = {c: header.index(c) for c in (STEP_COLUMN, RETURN_COLUMN)}
    points: dict[int, float] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        values = {}
        for col, i in idx.items():
            cell = cells[i].strip() if i < len(cells) else ""
            try:
                values[col] = float(cell)
            except ValueError:
                raise ValueError(f"{str(path)!r} line {line}, column {col!r}: {cell!r} is not a number") from None
            if not math.isfinite(values[col]):
                raise ValueError(f"{str(path)!r} line {line}, column {col!r}: {cell!r} is not finite")
        step = values[STEP_COLUMN]
        if step != int(step) or step < 0:
            raise ValueError(f"{str(path)!r} line {line}, column {STEP_COLUMN!r}: {step} is not an env step")
        points[int(step)] = values[RETURN_COLUMN]  # a step logged twice: the later row (see the docstring)
    if not points:
        raise ValueError(f"{str(path)!r} has no eval rows")
    steps = np.array(sorted(points), dtype=np.int64)
    return steps, np.array([points[s] for s in steps.tolist()], dtype=np.float64)


def load_seed_run(run_dir: str | Path) -> SeedRun:
    """One run folder: its config (tdmpc_parity.core.runlog.read_config, so an invalid config.json is an error) and eval
    curve."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    steps, returns = read_eval_csv(run_dir / EVAL_FILE)
    config = {k: v for k, v in flat_config(cfg.to_dict()).items() if k not in GROUP_FIELDS}
    return SeedRun(path=run_dir, backend=cfg.backend, task=cfg.task, seed=cfg.seed, config=config, steps=steps,
                   returns=returns)


# ----------------------------------------------------------------------------------------------------------
# Grouping and statistics
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Group:
    """The seeds of one (backend, task, config)."""

    backend: str
    task: str
    key: str  # config_hash of the config
    config: dict[str, Any]
    runs: list[SeedRun] = field(default_factory=list)
    label: str = ""

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    def curve(self) -> Curve:
        """Mean, 95 % bootstrap CI and IQM over seeds per eval env step (tdmpc_parity.core.stats.seed_curve)."""
        return seed_curve({r.seed: (r.steps, r.returns) for r in self.runs})


def group_runs(runs: Sequence[SeedRun]) -> list[Group]:
    """Groups by (backend, task, config key), sorted by task, key, backend (torch before jax); labels set.

    ValueError when two runs of a group have the same seed (a seed counts once).
    """
    groups: dict[tuple[str, str, str], Group] = {}
    for run in runs:
        key = config_hash(run.config)
        group = groups.setdefault((run.backend, run.task, key), Group(run.backend, run.task, key, run.config))
        twin = next((r for r in group.runs if r.seed == run.seed), None)
        if twin is not None:
            raise ValueError(f"{str(twin.path)!r} and {str(run.path)!r} are both seed {run.seed} of {run.backend} "
                             f"{run.task} with the same config: a seed counts once, pass one of them")
        group.runs.append(run)
    order = {"torch": 0, "jax": 1}
    out = sorted(groups.values(), key=lambda g: (g.task, g.key, order.get(g.backend, 2), g.backend))
    for g in out:
        g.runs.sort(key=lambda r: r.seed)
    for task in {g.task for g in out}:
        _set_labels([g for g in out if g.task == task])
    return out


def differing_keys(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Config keys whose value is not the same in all `configs` (sorted)."""
    keys = sorted(set().union(*configs)) if configs else []
    return [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]


def scale_note(group: Group) -> str | None:
    """Why the group's returns are not on the official scale: its episodes are not the task's official length
    (`episode_length` x `action_repeat` control steps vs TaskSpec.control_steps, 1000 for DMC); else None."""
    control = get_task(group.task).control_steps
    length, repeat = group.config.get("episode_length"), group.config.get("action_repeat")
    if isinstance(length, int) and isinstance(repeat, int) and length * repeat != control:
        return (f"{group.label}: episodes of {length * repeat} control steps (episode_length={length}, "
                f"action_repeat={repeat}), the official ones have {control}: its returns are not on the official "
                "scale")
    return None


def _set_labels(groups: Sequence[Group]) -> None:
    """`backend [hash]`, plus up to MAX_LABEL_KEYS `key=value` in which the task's groups differ."""
    diff = differing_keys([g.config for g in groups])
    for g in groups:
        shown = [f"{k}={g.config.get(k)}" for k in diff[:MAX_LABEL_KEYS]]
        more = f", +{len(diff) - MAX_LABEL_KEYS} keys" if len(diff) > MAX_LABEL_KEYS else ""
        g.label = f"{g.backend} [{g.key}]" + (f" {', '.join(shown)}{more}" if shown else "")


@dataclass(frozen=True)
class Margin:
    """The equivalence margin as declared: a fraction of the return range (`10%`) or an absolute return."""

    value: float
    relative: bool  # True: `value` is a fraction of the groups' return range

    def resolve(self, group: Group) -> tuple[float, str]:
        """(delta in return units, how it was obtained) for `group`'s episodes."""
        if not self.relative:
            return self.value, f"±{self.value:g} (absolute)"
        high = return_range(group)
        delta = self.value * high
        return delta, f"±{delta:g} = {100 * self.value:g} % of the return range [0, {high:g}]"


def parse_margin(text: str | float | None) -> Margin | None:
    """`10%` -> 10 % of the return range; `25` -> an absolute return of 25; None -> no margin (no TOST).

    ValueError for anything else, a margin that is not positive, or a percentage of 100 or more."""
    if text is None:
        return None
    raw = str(text).strip()
    relative = raw.endswith("%")
    try:
        value = float(raw[:-1] if relative else raw)
    except ValueError:
        raise ValueError(f"margin {raw!r} is not a number: give an absolute return such as 25 or a share of the "
                         "task's return range such as 10%") from None
    if not (math.isfinite(value) and value > 0) or (relative and value >= 100):
        raise ValueError(f"margin {raw!r} must be a positive return or a percentage in (0 %, 100 %), e.g. 10%")
    return Margin(value / 100 if relative else value, relative)


def return_range(group: Group) -> float:
    """The upper end of the group's return range: episode_length x action_repeat control steps, a DMC reward
    being in [0, 1] per control step (1000 for the official episodes)."""
    length, repeat = group.config.get("episode_length"), group.config.get("action_repeat")
    if not (isinstance(length, int) and isinstance(repeat, int)):
        raise ValueError(f"{group.label}: its config has no integer episode_length and action_repeat, so a "
                         "margin in % of the return range is undefined; give an absolute margin")
    return float(length * repeat)


@dataclass(frozen=True)
class Equivalence:
    """TOST on the final returns and on the normalised AUC, IQMs with stratified-bootstrap CIs, P(torch > jax)."""

    margin: float
    margin_note: str
    final: Tost
    auc: Tost | None  # None with fewer than 2 common eval steps
    auc_steps: tuple[int, int, int] | None  # (first, last, number) of the common eval steps
    torch_auc: np.ndarray
    jax_auc: np.ndarray


@dataclass(frozen=True)
class BackendTest:
    """Welch's t-test and Mann-Whitney U on the final returns of one torch and one jax group; the IQMs, the
    probability of improvement and, with a margin, the equivalence tests."""

    task: str
    key: str
    step: int  # the env step whose returns are compared
    torch_returns: np.ndarray
    jax_returns: np.ndarray
    welch_t: float
    welch_p: float
    mwu_u: float
    mwu_p: float
    torch_iqm: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # IQM, 95 % CI (stratified bootstrap)
    jax_iqm: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    improvement: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # P(torch > jax), 95 % CI
    equivalence: Equivalence | None = None  # None: no margin declared

    @property
    def testable(self) -> bool:
        return self.torch_returns.size >= 2 and self.jax_returns.size >= 2


def final_step(groups: Sequence[Group]) -> int | None:
    """The last env step that every run of `groups` evaluated (None when they share none)."""
    common = set.intersection(*[set(r.steps.tolist()) for g in groups for r in g.runs])
    return max(common) if common else None


def common_steps(groups: Sequence[Group]) -> list[int]:
    """The env steps that every run of `groups` evaluated, increasing."""
    return sorted(set.intersection(*[set(r.steps.tolist()) for g in groups for r in g.runs]))


def equivalence(torch_group: Group, jax_group: Group, x: np.ndarray, y: np.ndarray, margin: Margin) -> Equivalence:
    """TOST of the final returns `x` (torch) and `y` (jax), and of the seeds' normalised AUC over the common
    eval steps, against the margin resolved for the groups' episodes."""
    delta, note = margin.resolve(torch_group)
    steps = common_steps([torch_group, jax_group])

    def aucs(group: Group) -> np.ndarray:
        return np.array([normalized_auc(np.array(steps), r.returns[np.searchsorted(r.steps, steps)])
                         for r in group.runs])

    if len(steps) < 2:
        return Equivalence(delta, note, welch_tost(x, y, delta), None, None, np.array([]), np.array([]))
    ta, ja = aucs(torch_group), aucs(jax_group)
    return Equivalence(delta, note, welch_tost(x, y, delta), welch_tost(ta, ja, delta),
                       (steps[0], steps[-1], len(steps)), ta, ja)


def backend_test(torch_group: Group, jax_group: Group, margin: Margin | None = None) -> BackendTest | None:
    """Two-sided Welch's t-test and Mann-Whitney U of the seeds' returns at `final_step` (None: no common step),
    the IQMs and P(torch > jax) with their CIs, and with a `margin` the equivalence tests.

    With fewer than 2 seeds on a side the statistics are NaN (`testable` is False).
    """
    step = final_step([torch_group, jax_group])
    if step is None:
        return None

    def at(group: Group) -> np.ndarray:
        return np.array([float(r.returns[np.searchsorted(r.steps, step)]) for r in group.runs])

    x, y = at(torch_group), at(jax_group)
    t = p_t = u = p_u = float("nan")
    if x.size >= 2 and y.size >= 2:
        if np.ptp(x) > 0 or np.ptp(y) > 0:  # both constant: the t statistic is undefined
            res = stats.ttest_ind(x, y, equal_var=False)
            t, p_t = float(res.statistic), float(res.pvalue)
        mw = stats.mannwhitneyu(x, y, alternative="two-sided")
        u, p_u = float(mw.statistic), float(mw.pvalue)
    eq = equivalence(torch_group, jax_group, x, y, margin) if margin is not None else None
    return BackendTest(torch_group.task, torch_group.key, step, x, y, t, p_t, u, p_u, iqm_stratified_ci(x),
                       iqm_stratified_ci(y), probability_of_improvement(x, y), eq)


def backend_tests(groups: Sequence[Group], margin: Margin | None = None) -> list[BackendTest]:
    """A BackendTest for each (task, config) held by exactly one torch group and one jax group."""
    out = []
    for task, key in sorted({(g.task, g.key) for g in groups}):
        same = [g for g in groups if (g.task, g.key) == (task, key)]
        torch_g = [g for g in same if g.backend == "torch"]
        jax_g = [g for g in same if g.backend == "jax"]
        if len(torch_g) == 1 and len(jax_g) == 1:
            test = backend_test(torch_g[0], jax_g[0], margin)
            if test is not None:
                out.append(test)
    return out


def verdict(p: float, alpha: float = ALPHA) -> str:
    """'distinguishable' when p < alpha, else 'not distinguishable' (NaN: 'undefined')."""
    if math.isnan(p):
        return "undefined"
    return f"distinguishable at alpha={alpha}" if p < alpha else f"not distinguishable at alpha={alpha}"


# ----------------------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------------------


def _num(x: float, digits: int = 1) -> str:
    return "–" if math.isnan(x) else f"{x:,.{digits}f}"


def _ci(lo: float, hi: float) -> str:
    return "–" if math.isnan(lo) else f"[{_num(lo)}, {_num(hi)}]"


def curve_rows(label: str, curve: Curve, max_step: int | None = None) -> list[str]:
    """Markdown table rows `| label | env step | n | mean | CI | IQM |` (steps <= max_step when given)."""
    rows = []
    for i, step in enumerate(curve.steps.tolist()):
        if max_step is not None and step > max_step:
            break
        rows.append(f"| {label} | {step:,} | {curve.n[i]} | {_num(curve.mean[i])} | "
                    f"{_ci(curve.low[i], curve.high[i])} | {_num(curve.iqm[i])} |")
    return rows


def overall_verdict(test: BackendTest, alpha: float = ALPHA) -> str:
    """One sentence: distinguishable when every defined test rejects equality at `alpha`, not distinguishable
    when none does, inconclusive when they disagree; 'not tested' with fewer than 2 seeds on a side."""
    nt, nj = test.torch_returns.size, test.jax_returns.size
    if not test.testable:
        return f"not tested: both tests need at least 2 seeds per backend (torch {nt}, jax {nj})"
    defined = {name: p for name, p in (("Welch", test.welch_p), ("Mann-Whitney", test.mwu_p)) if not math.isnan(p)}
    rejects = [name for name, p in defined.items() if p < alpha]
    seeds = f"torch {nt} seeds, jax {nj} seeds"
    if not rejects:
        return f"not distinguishable at alpha={alpha} ({seeds})"
    if len(rejects) == len(defined):
        return f"distinguishable at alpha={alpha} ({seeds})"
    return f"inconclusive: only {rejects[0]} rejects equality at alpha={alpha} ({seeds})"


def backend_test_lines(test: BackendTest) -> list[str]:
    """The markdown paragraph of one backend-equality test: p-values, seeds per backend, explicit verdicts."""
    nt, nj = test.torch_returns.size, test.jax_returns.size
    head = (f"**Backend equality, config `{test.key}`** — final returns at env step {test.step:,}: torch "
            f"{nt} seeds (mean {_num(float(np.mean(test.torch_returns)))}), jax {nj} seeds "
            f"(mean {_num(float(np.mean(test.jax_returns)))}).")
    if not test.testable:
        return [head, "", f"Verdict: {overall_verdict(test)}.", ""]
    welch = ("Welch's t-test: undefined (every seed of both backends has the same return)"
             if math.isnan(test.welch_p) else
             f"Welch's t-test (two-sided, unequal variances): t = {test.welch_t:.3f}, p = {test.welch_p:.4g} → "
             f"{verdict(test.welch_p)}")
    mwu = f"Mann-Whitney U (two-sided): U = {test.mwu_u:g}, p = {test.mwu_p:.4g} → {verdict(test.mwu_p)}"
    return [head, "", f"- {welch}", f"- {mwu}",
            f"- Verdict: the backends are **{overall_verdict(test)}** (not distinguishable is not proof of "
            "equality: few seeds give a test little power).", *aggregate_lines(test), *equivalence_lines(test), ""]


def _tost_line(what: str, t: Tost) -> str:
    if not t.tested:
        return f"- TOST, {what}: {t.verdict()}"
    level = int(round(100 * t.ci_level))
    return (f"- TOST, {what}: torch - jax = {t.diff:+.2f}, {level} % CI [{t.ci_low:+.2f}, {t.ci_high:+.2f}], "
            f"one-sided p = {t.p_lower:.3g} (H0: diff <= -{t.margin:g}) and {t.p_upper:.3g} (H0: diff >= "
            f"+{t.margin:g}) → **{t.verdict(2)}**")


def aggregate_lines(test: BackendTest) -> list[str]:
    """IQMs with stratified-bootstrap CIs and the probability of improvement (Agarwal et al. 2021)."""
    ti, ji, poi = test.torch_iqm, test.jax_iqm, test.improvement
    return [f"- IQM of the final returns (stratified bootstrap, {RLIABLE_REPS:,} resamples, 95 % CI): torch "
            f"{_num(ti[0])} {_ci(ti[1], ti[2])}, jax {_num(ji[0])} {_ci(ji[1], ji[2])}; probability of improvement "
            f"P(torch > jax) = {_num(poi[0], 2)} " + ("[–]" if math.isnan(poi[1]) else
                                                      f"[{poi[1]:.2f}, {poi[2]:.2f}]") + " (0.5: neither better)"]


def equivalence_lines(test: BackendTest) -> list[str]:
    """The TOST lines, or why there are none."""
    eq = test.equivalence
    if eq is None:
        return ["- Equivalence (TOST): not tested, no margin declared (`tdmpc-parity compare --margin 10%`)."]
    lines = [f"- Equivalence margin {eq.margin_note}, declared before the data; alpha = {TOST_ALPHA} per side:",
             "  " + _tost_line(f"final return at env step {test.step:,}", eq.final)]
    if eq.auc is None or eq.auc_steps is None:
        lines.append("  - TOST, area under the curve: not tested (fewer than 2 eval steps common to every run)")
    else:
        first, last, n = eq.auc_steps
        lines.append("  " + _tost_line(f"area under the curve (mean return over env steps {first:,}–{last:,}, "
                                       f"{n} evals)", eq.auc))
    return lines


def render_markdown(groups: Sequence[Group], tests: Sequence[BackendTest], official: dict[str, Curve | str],
                    plots: dict[str, str]) -> str:
    """learning.md: per task a table (a row per group and eval step), the official rows, tests, runs."""
    conf = int(round(CONFIDENCE * 100))
    out = ["# Learning curves", "",
           f"Eval return (`{RETURN_COLUMN}` of eval.csv: mean return of the eval episodes) per env step, over seeds: "
           f"n seeds, mean, {conf} % percentile-bootstrap CI of the mean (scipy.stats.bootstrap, 9,999 "
           "resamples; – with 1 seed), IQM (25 %-trimmed mean, scipy.stats.trim_mean). A group is one backend, "
           "task and config (seed excluded); `[hash]` names the config.", ""]
    for task in sorted({g.task for g in groups}):
        task_groups = [g for g in groups if g.task == task]
        out += [f"## {task}", ""]
        if task in plots:
            out += [f"![learning curves of {task}]({plots[task]})", ""]
        out += ["| group | env step | n | mean | 95 % CI | IQM |", "|---|---:|---:|---:|---|---:|"]
        for g in task_groups:
            out += curve_rows(g.label, g.curve())
        ref = official.get(task)
        max_step = max(int(r.steps.max()) for g in task_groups for r in g.runs)
        if isinstance(ref, Curve):
            out += curve_rows(f"official TD-MPC2 ({int(ref.n.max())} seeds)", ref, max_step)
        out.append("")
        if isinstance(ref, Curve):
            last = len(ref.steps) - 1
            out += [f"Official TD-MPC2 (nicklashansen/tdmpc2 @ e9f5932, 5M model) rows up to env step {max_step:,}; "
                    f"its final point: env step {int(ref.steps[last]):,}, mean {_num(ref.mean[last])}, CI "
                    f"{_ci(ref.low[last], ref.high[last])}.", ""]
        elif isinstance(ref, str):
            out += [f"Official results: {ref}", ""]
        scale = [f"Note: {n}." for g in task_groups if (n := scale_note(g))] if ref is not None else []
        out += [*scale, ""] if scale else []
        for test in (t for t in tests if t.task == task):
            out += backend_test_lines(test)
        if not any(t.task == task for t in tests):
            out += ["No backend-equality test: it needs one torch group and one jax group with the same config.", ""]
        out += ["Runs:", ""]
        for g in task_groups:
            folders = ", ".join(f"`{r.path}` (seed {r.seed})" for r in g.runs)
            out.append(f"- {g.label}: {len(g.runs)} seed(s): {folders}")
        diff = differing_keys([g.config for g in task_groups])
        if diff:
            out += ["", "Configs differ in: " + "; ".join(
                f"`{k}`: " + ", ".join(f"{g.backend} [{g.key}] = {g.config.get(k)!r}" for g in task_groups)
                for k in diff)]
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------------
# Figure
# ----------------------------------------------------------------------------------------------------------


def plot_task(task: str, groups: Sequence[Group], path: Path, official: Curve | None = None) -> Path:
    """learning_<task>.png: a line + shaded 95 % CI per group; the official mean + CI in grey at its points up to
    the runs' last env step (one point with an error bar when only step 0 is in range; its final value is in the
    legend)."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    max_step = 0
    for g in groups:
        c = g.curve()
        max_step = max(max_step, int(c.steps.max()))
        marker = "o" if c.steps.size < 30 else None
        (line,) = ax.plot(c.steps, c.mean, marker=marker, ms=3, label=f"{g.label} ({len(g.runs)} seeds)")
        ok = ~np.isnan(c.low)
        if ok.any():
            ax.fill_between(c.steps[ok], c.low[ok], c.high[ok], color=line.get_color(), alpha=0.2, lw=0)
    if official is not None:
        s = official.steps <= max_step
        last = official.steps.size - 1
        label = (f"official TD-MPC2 ({int(official.n.max())} seeds; {official.mean[last]:.0f} at "
                 f"{int(official.steps[last]):,} env steps)")
        if s.sum() >= 2:
            ax.plot(official.steps[s], official.mean[s], color="grey", marker="s", ms=3, label=label)
            ax.fill_between(official.steps[s], official.low[s], official.high[s], color="grey", alpha=0.25, lw=0)
        elif s.any():  # a run shorter than the official eval interval: the official step-0 point alone
            err = np.abs(np.array([[official.low[0]], [official.high[0]]]) - official.mean[0])
            ax.errorbar(official.steps[s], official.mean[s], yerr=None if np.isnan(err).any() else err,
                        color="grey", marker="s", ms=5, capsize=4, label=label)
    ax.set_xlabel("env step")
    ax.set_ylabel("episode return")
    ax.set_title(f"{task}: eval return, mean and {int(round(CONFIDENCE * 100))} % CI over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


# ----------------------------------------------------------------------------------------------------------
# Entry
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What `compare` wrote and found."""

    groups: list[Group]
    tests: list[BackendTest]
    files: list[Path]
    notes: list[str]


def _finite(x: Any) -> Any:
    """JSON-safe: NaN and infinities as null, arrays as lists."""
    if isinstance(x, np.ndarray):
        return [_finite(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x


def _tost_json(t: Tost | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {"verdict": t.verdict(2), "equivalent": t.equivalent, "margin": t.margin, "alpha": t.alpha,
            "diff": _finite(t.diff), "ci_level": t.ci_level, "ci": _finite([t.ci_low, t.ci_high]),
            "p_lower": _finite(t.p_lower), "p_upper": _finite(t.p_upper), "df": _finite(t.df)}


def tests_json(tests: Sequence[BackendTest], margin: str | None) -> dict[str, Any]:
    """learning.json: every backend test's numbers (NaN as null)."""
    out = []
    for t in tests:
        eq = t.equivalence
        out.append({
            "task": t.task, "config": t.key, "env_step": t.step, "verdict": overall_verdict(t),
            "torch_returns": _finite(t.torch_returns), "jax_returns": _finite(t.jax_returns),
            "welch": {"t": _finite(t.welch_t), "p": _finite(t.welch_p)},
            "mann_whitney": {"u": _finite(t.mwu_u), "p": _finite(t.mwu_p)},
            "iqm": {"torch": _finite(t.torch_iqm), "jax": _finite(t.jax_iqm), "ci": "stratified bootstrap 95 %"},
            "probability_of_improvement": {"torch_over_jax": _finite(t.improvement)},
            "equivalence": None if eq is None else {
                "margin": eq.margin, "margin_note": eq.margin_note, "final_return": _tost_json(eq.final),
                "auc": _tost_json(eq.auc), "auc_steps": eq.auc_steps,
                "torch_auc": _finite(eq.torch_auc), "jax_auc": _finite(eq.jax_auc)},
        })
    return {"margin": margin, "tests": out}


def compare(paths: Sequence[str | Path], out_dir: str | Path, official: bool = False,
            margin: str | float | None = None) -> Comparison:
    """Read the run folders, group them, write learning_<task>.png, learning.md and learning.json into `out_dir`.

    `margin`: the equivalence margin (`parse_margin`: "10%" of the return range, or an absolute return); None:
    no equivalence test. ValueError for no paths, a bad margin, a path that is not a run folder (or --seeds
    folder), a malformed eval.csv or config.json, or the same seed twice in a group. With `official`, a task
    without official results is a note, not an error.
    """
    if not paths:
        raise ValueError("compare needs at least one run folder")
    declared = parse_margin(margin)
    runs = [load_seed_run(p) for p in run_folders(paths)]
    groups = group_runs(runs)
    tests = backend_tests(groups, declared)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    refs: dict[str, Curve | str] = {}
    notes: list[str] = []
    files: list[Path] = []
    plots: dict[str, str] = {}
    for task in sorted({g.task for g in groups}):
        if official:
            if task in available_tasks():
                refs[task] = official_curve(task)
            else:
                refs[task] = f"none shipped for {task} (tasks with results: {', '.join(available_tasks())})"
                notes.append(f"no official TD-MPC2 results for {task}: its plot has no official curve")
        ref = refs.get(task)
        if isinstance(ref, Curve):
            notes += [n for g in groups if g.task == task and (n := scale_note(g))]
        png = plot_task(task, [g for g in groups if g.task == task], out_dir / f"learning_{task}.png",
                        ref if isinstance(ref, Curve) else None)
        files.append(png)
        plots[task] = png.name
    md = out_dir / "learning.md"
    md.write_text(render_markdown(groups, tests, refs, plots))
    files.append(md)
    js = out_dir / "learning.json"
    js.write_text(json.dumps(tests_json(tests, None if margin is None else str(margin)), indent=1) + "\n")
    files.append(js)
    return Comparison(groups, tests, files, notes)
