"""Training scalars of run folders over env steps: per run, and mean with a 95 % CI over the seeds of a group.

Reads the train rows of metrics.jsonl (the same rows as metrics.csv; tdmpc_parity/core/runlog.py). A train row averages
the updates since the previous row; an env step logged twice (a resumed run repeats the rows after its last
checkpoint) counts once, with its later row. `glass_*` columns are the mean over the row's active Glass updates
and 0 when none was active (runlog.update_row), so only rows with `glass_active` > 0 give them a value.

Runs are grouped as `tdmpc-parity compare` groups them: (backend, task, config without seed), the config named
by tdmpc_parity.analysis.runs.config_hash. Per group and env step, over the runs that have a value there: mean and
95 %
percentile-bootstrap CI (tdmpc_parity.core.stats.seed_curve; no band with one run). With more than MAX_POINTS distinct
env steps the per-run series are first averaged in MAX_POINTS equal-width env-step bins (placed on the bin
centres), the same bins for every run of the group.

Files: `training_scalars.png` (one line per run) and, when a group has at least 2 runs,
`training_scalars_seeds.png` (one line + band per group).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tdmpc_parity.analysis.plots_common import env_step_axis, read_config_json, run_title, save_figure
from tdmpc_parity.analysis.runs import GROUP_FIELDS, config_hash, flat_config
from tdmpc_parity.core.runlog import GLASS_ACTIVE, read_config, read_metrics
from tdmpc_parity.core.stats import CONFIDENCE, Curve, seed_curve

SCALARS: tuple[tuple[str, str], ...] = (
    ("consistency_loss", "consistency loss"),
    ("reward_loss", "reward loss"),
    ("value_loss", "value loss"),
    ("pi_loss", "policy loss"),
    ("total_loss", "total loss (world model)"),
    ("grad_norm", "gradient norm, world model (pre-clip)"),
    ("pi_grad_norm", "gradient norm, policy (pre-clip)"),
    ("pi_q_mean", "Q mean at policy actions"),
    ("pi_scale", "pi scale (RunningScale of Q)"),
    ("steps_per_second", "env steps per second (log)"),
    ("glass_loss", "Glass loss (active updates)"),
    ("episode_reward", "training episode return"),
)
LOG_Y = frozenset({"steps_per_second"})
MAX_POINTS = 100
COLUMNS = 4


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


def train_series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(env_step int64, value) of the train rows with a finite `key`, by env step; a repeated env step keeps its
    later row; `glass_*` keys only from rows with glass_active > 0."""
    points: dict[int, float] = {}
    for r in rows:
        value, step = r.get(key), r.get("env_step")
        if not isinstance(value, (int, float)) or not isinstance(step, (int, float)) or not math.isfinite(value):
            continue
        if key.startswith("glass_") and not (r.get(GLASS_ACTIVE) or 0) > 0:
            continue
        points[int(step)] = float(value)
    steps = np.array(sorted(points), dtype=np.int64)
    return steps, np.array([points[s] for s in steps.tolist()], dtype=float)


def _group_config(run_dir: Path) -> tuple[str, str, dict[str, Any]]:
    """(backend, task, config without backend/task/seed, glass.* flattened) as tdmpc_parity.analysis.compare reads
    it."""
    try:
        data = read_config(run_dir).to_dict()
    except (ValueError, TypeError, KeyError):  # an old or hand-written config.json: its plain JSON
        data = {k: v for k, v in read_config_json(run_dir).items() if k != "_meta"}
    flat = flat_config(data)
    return str(data.get("backend")), str(data.get("task")), {k: v for k, v in flat.items() if k not in GROUP_FIELDS}


@dataclass
class TrainRun:
    """One run folder's train rows and what groups it."""

    path: Path
    label: str
    backend: str
    task: str
    key: str  # tdmpc_parity.analysis.runs.config_hash of the config without backend, task, seed
    rows: list[dict[str, Any]] = field(default_factory=list)


def load_train_run(run_dir: Path, label: str) -> TrainRun:
    """The train rows and group of a run folder."""
    backend, task, config = _group_config(Path(run_dir))
    return TrainRun(Path(run_dir), label, backend, task, config_hash(config), read_metrics(run_dir, "train"))


def group_train_runs(runs: Sequence[TrainRun]) -> list[list[TrainRun]]:
    """Runs grouped by (task, config key, backend) in that order, torch before jax as in `compare`; a folder given
    twice counts once."""
    groups: dict[tuple[str, str, str], list[TrainRun]] = {}
    for run in runs:
        group = groups.setdefault((run.task, run.key, run.backend), [])
        if run.path.resolve() not in {r.path.resolve() for r in group}:
            group.append(run)
    rank = {"torch": "0", "jax": "1"}
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], k[1], rank.get(k[2], "2") + k[2]))]


def _binned(steps: np.ndarray, values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bin centre, mean of the values in the bin) for the bins of `edges` that hold values (last bin closed)."""
    idx = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, len(edges) - 2)
    used = np.unique(idx)
    centres = np.round(0.5 * (edges[used] + edges[used + 1])).astype(np.int64)
    return centres, np.array([values[idx == i].mean() for i in used])


def aggregate(runs: Sequence[TrainRun], key: str, max_points: int = MAX_POINTS) -> Curve | None:
    """Mean and 95 % CI of `key` over `runs` per env step (binned beyond `max_points` steps); None without data."""
    per_run = {i: train_series(r.rows, key) for i, r in enumerate(runs)}
    per_run = {i: sv for i, sv in per_run.items() if sv[0].size}
    if not per_run:
        return None
    all_steps = np.unique(np.concatenate([s for s, _ in per_run.values()]))
    if all_steps.size > max_points:
        edges = np.linspace(float(all_steps[0]), float(all_steps[-1]), max_points + 1)
        per_run = {i: _binned(s, v, edges) for i, (s, v) in per_run.items()}
    return seed_curve(per_run)


# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------


def _present(runs: Sequence[TrainRun]) -> list[tuple[str, str]]:
    return [(k, t) for k, t in SCALARS if any(train_series(r.rows, k)[0].size for r in runs)]


LEGEND_COLUMNS = 3


def _margins(legend_entries: int) -> tuple[float, ...]:
    """(panel width, panel height, column gap, row gap, left, right, top, bottom) in inches."""
    return 3.45, 2.2, 0.75, 0.8, 0.75, 0.2, 0.75 + 0.22 * -(-legend_entries // LEGEND_COLUMNS), 0.55


def panels_figsize(n: int, legend_entries: int) -> tuple[float, float]:
    """Figure size (inches) of a training figure with n panels (COLUMNS a row) and a legend of `legend_entries`."""
    cols, rows = min(COLUMNS, n), -(-n // COLUMNS)
    pw, ph, wgap, hgap, left, right, top, bottom = _margins(legend_entries)
    return left + cols * pw + (cols - 1) * wgap + right, top + rows * ph + (rows - 1) * hgap + bottom


def _panels(n: int, legend_entries: int) -> tuple[Figure, np.ndarray]:
    """A grid of n panels of 3.45 x 2.2 inches with room on top for the title and a legend of `legend_entries`
    (LEGEND_COLUMNS a row); fixed margins (constrained layout is slow over many panels)."""
    cols = min(COLUMNS, n)
    rows = -(-n // cols)
    W, H = panels_figsize(n, legend_entries)
    pw, ph, wgap, hgap, left, right, top, bottom = _margins(legend_entries)
    fig = Figure(figsize=(W, H))
    grid = fig.add_gridspec(rows, cols, left=left / W, right=1 - right / W, top=1 - top / H, bottom=bottom / H,
                            wspace=wgap / pw, hspace=hgap / ph)
    axes = np.asarray(grid.subplots(squeeze=False)).reshape(-1)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _legend(fig: Figure, axes: np.ndarray) -> None:
    """One legend for the figure, under its title: the labelled lines of all panels, each label once."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    H = fig.get_figheight()
    fig.legend(list(entries.values()), list(entries), loc="upper center", bbox_to_anchor=(0.5, 1 - 0.45 / H),
               ncol=min(LEGEND_COLUMNS, len(entries)), fontsize=8, frameon=False)


def _style(ax, key: str, title: str) -> None:
    ax.set_title(title, fontsize=10)
    env_step_axis(ax)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if key in LOG_Y:
        ax.set_yscale("log")


def plot_training(runs: Sequence[TrainRun], path: Path) -> Path | None:
    """The SCALARS the runs logged over env steps, one panel each, one line per run; None when none logged."""
    present = _present(runs)
    if not present:
        return None
    fig, axes = _panels(len(present), len(runs))
    for ax, (key, title) in zip(axes, present, strict=False):
        for i, run in enumerate(runs):
            x, y = train_series(run.rows, key)
            if x.size:
                ax.plot(x, y, color=f"C{i % 10}", marker="." if x.size < 30 else None, lw=1.2,
                        label=run_title(run.path, run.label))
        _style(ax, key, title)
    _legend(fig, axes)
    fig.suptitle("Training scalars per run (train rows: means over the updates since the previous row)", fontsize=12,
                 y=1 - 0.2 / fig.get_figheight())
    return save_figure(fig, path)


def group_label(group: Sequence[TrainRun]) -> str:
    """`backend task [config hash] (n runs)`."""
    r = group[0]
    return f"{r.backend} {r.task} [{r.key}] ({len(group)} run{'s' if len(group) != 1 else ''})"


def plot_training_seeds(groups: Sequence[Sequence[TrainRun]], path: Path) -> Path | None:
    """Mean over each group's runs with its 95 % bootstrap CI band, one panel per SCALAR; None unless some group
    has at least 2 runs."""
    if not any(len(g) >= 2 for g in groups):
        return None
    present = _present([r for g in groups for r in g])
    if not present:
        return None
    fig, axes = _panels(len(present), len(groups))
    binned = False
    for ax, (key, title) in zip(axes, present, strict=False):
        for i, group in enumerate(groups):
            curve = aggregate(group, key)
            if curve is None:
                continue
            binned |= len({int(x) for r in group for x in train_series(r.rows, key)[0]}) > MAX_POINTS
            color = f"C{i % 10}"
            ax.plot(curve.steps, curve.mean, color=color, lw=1.4, marker="." if curve.steps.size < 30 else None,
                    label=group_label(group))
            band = curve.n >= 2
            if band.any():
                ax.fill_between(curve.steps, curve.low, curve.high, where=band, color=color, alpha=0.25, lw=0)
        _style(ax, key, title)
    _legend(fig, axes)
    how = f"; runs averaged in {MAX_POINTS} env-step bins" if binned else ""
    fig.suptitle(f"Training scalars: mean over seeds, {CONFIDENCE:.0%} percentile-bootstrap CI band "
                 f"(tdmpc_parity.core.stats){how}", fontsize=12, y=1 - 0.2 / fig.get_figheight())
    return save_figure(fig, path)


def plot_training_runs(runs: Sequence[tuple[Path, str]], out_dir: Path) -> list[Path]:
    """Both training figures (those with data) for (run folder, label) pairs into `out_dir` (created)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    loaded = [load_train_run(p, label) for p, label in runs]
    written = [plot_training(loaded, out_dir / "training_scalars.png"),
               plot_training_seeds(group_train_runs(loaded), out_dir / "training_scalars_seeds.png")]
    return [p for p in written if p is not None]
