"""Pictures of run folders (the Glass diagnostics, training scalars, eval curves): `tdmpc-parity plot`.

Backend-free: NumPy + matplotlib's Agg canvas (tdmpc_parity/analysis/plots_common.py). Reads the run-folder format of
tdmpc_parity/core/runlog.py: `metrics.jsonl` rows of kind "train" (losses, gradient norms, Q mean, pi scale, steps per
second), "glass" (env_step + the four glass_* diagnostics) and "eval" (env_step + episode_reward), and the
matrix dumps `glass/step_<agent_step>.npz` (S (N, K), P (N, N), A (N, N)).

A folder of a JAX `--seeds` run (RUN/seed_<s>/, one run folder per seed) stands for its seeds, each plotted as a
run labelled `RUN/seed_<s>`. `glass_notes` says why a run's Glass plots are empty (Glass off, never active
because the warm-up is longer than the run, or no diagnostics yet); `tdmpc-parity plot` prints it.

Files written by `plot_runs` (only those with data):
  glass_diagnostics.png        the four scalars over env steps, 2x2, one line per run, uniform reference
                               dashed (H_cm = ln K, active = K, max mass = 1/K, cut = 1 - 1/K)
  eval_return.png              episode_reward over env steps, one line per run
  training_scalars.png         losses, gradient norms, Q mean, pi scale, steps/s over env steps, one line per run
  training_scalars_seeds.png   the same as mean + 95 % CI band over the runs of each (backend, task, config),
                               when one has 2+ runs (tdmpc_parity/analysis/plots_training.py)
  glass_timeline_<run>.png     S per prototype over env steps (stacked over clusters) and the cluster
                               occupancy sum_n S_nk over env steps (tdmpc_parity/analysis/plots_glass.py)
  glass_heatmaps_<run>.png     P, A, S of every dump (up to 8; else 8 evenly spaced) as a grid of small multiples
  glass_matrices_<run>.png     P, A, S of the run's last dump at full size, prototype and cluster ids
  heatmaps/<run>/env_step_<n>.png   the full-size picture of every dump (at most 100, evenly spaced), only when
                               the run has more dumps than the grid shows
Prototypes are always ordered by their cluster argmax_k S_nk so that each cluster is a contiguous block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from tdmpc_parity.analysis.plots_common import env_step_axis, series, slug
from tdmpc_parity.analysis.plots_common import read_config_json as _read_config
from tdmpc_parity.analysis.plots_common import save_figure as _save
from tdmpc_parity.analysis.plots_glass import (
    check_dumps,
    cluster_order,  # noqa: F401  (re-exported: public name of this module)
    list_dumps,
    plot_dump,
    plot_every_dump,
    plot_heatmap_grid,
    plot_timeline,
)
from tdmpc_parity.analysis.plots_training import plot_training_runs
from tdmpc_parity.analysis.runs import seed_dirs
from tdmpc_parity.core.runlog import CONFIG_FILE, GLASS_DIR, is_run_dir, read_metrics

DIAGNOSTICS: tuple[tuple[str, str], ...] = (
    ("glass_H_cm", "cluster-mass entropy $H_{cm}$ (nats)"),
    ("glass_active_clusters", "active clusters"),
    ("glass_max_cluster_mass", "max cluster mass"),
    ("glass_cut_mass", "transition cut mass"),
)


def uniform_reference(num_clusters: int) -> dict[str, float]:
    """The diagnostics' uniform (inert) values: H_cm = ln K, active = K, max mass = 1/K, cut = 1 - 1/K."""
    K = num_clusters
    return {"glass_H_cm": math.log(K), "glass_active_clusters": float(K),
            "glass_max_cluster_mass": 1.0 / K, "glass_cut_mass": 1.0 - 1.0 / K}


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------


@dataclass
class RunData:
    """What the plots need from one run folder."""

    path: Path
    label: str
    glass_rows: list[dict[str, Any]] = field(default_factory=list)
    eval_rows: list[dict[str, Any]] = field(default_factory=list)
    last_dump: Path | None = None
    num_clusters: int | None = None
    train_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.glass_rows and not self.eval_rows and not self.train_rows and self.last_dump is None


def last_dump(run_dir: Path) -> Path | None:
    """The newest `glass/step_*.npz` (names are zero-padded, so the lexical maximum is the last step)."""
    dumps = sorted((Path(run_dir) / GLASS_DIR).glob("step_*.npz"))
    return dumps[-1] if dumps else None


def _num_clusters(run_dir: Path) -> int | None:
    """K from config.json's glass.num_clusters (read as plain JSON: old configs still plot)."""
    value = (_read_config(run_dir).get("glass") or {}).get("num_clusters")
    return int(value) if isinstance(value, int) and value > 0 else None


def _labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, widened with parent folders (then an index) until they are unique."""
    for depth in range(1, 4):
        labels = ["/".join(p.resolve().parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{p.name}#{i}" for i, p in enumerate(paths)]


def expand_runs(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """(run folder, label) per run: a `--seeds` folder gives one per seed, labelled `<its label>/seed_<s>`."""
    out: list[tuple[Path, str]] = []
    for path, label in zip(paths, _labels(paths), strict=True):
        seeds = seed_dirs(path)
        out += [(d, f"{label}/{d.name}") for d in seeds] if seeds else [(path, label)]
    return out


def _max_step(rows: list[dict[str, Any]], key: str) -> int:
    return int(max((r[key] for r in rows if isinstance(r.get(key), (int, float))), default=0))


def glass_notes(run_dir: Path) -> list[str]:
    """Why the run's Glass plots are empty or show an inactive head: one sentence per reason, [] if none."""
    run_dir = Path(run_dir)
    glass = _read_config(run_dir).get("glass") or {}
    if not glass.get("enabled"):
        return [f"{run_dir}: Glass is off in this run (glass.enabled is false): no Glass plots"]
    rows = read_metrics(run_dir)
    env_steps, agent_steps = _max_step(rows, "env_step"), _max_step(rows, "agent_step")
    notes = []
    warmup = glass.get("warmup_env_steps", 0)
    if warmup > env_steps:
        notes.append(f"{run_dir}: Glass was never active: warm-up {warmup} env steps > run's {env_steps} env "
                     "steps (lower glass.warmup_env_steps)")
    if not any(r.get("kind") == "glass" for r in rows):
        diag = glass.get("diag_every", 0)
        why = (f"diag_every {diag} agent steps > run's {agent_steps} agent steps (lower glass.diag_every)"
               if diag > agent_steps else "the first is written at an episode end after the seed phase")
        notes.append(f"{run_dir}: no Glass diagnostics: {why}")
    return notes


def load_run(run_dir: Path, label: str) -> RunData:
    """Read one run folder; ValueError when it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not is_run_dir(run_dir):
        raise ValueError(f"{str(run_dir)!r} is not a run folder (no {CONFIG_FILE})")
    return RunData(
        path=run_dir, label=label,
        glass_rows=read_metrics(run_dir, "glass"), eval_rows=read_metrics(run_dir, "eval"),
        last_dump=last_dump(run_dir), num_clusters=_num_clusters(run_dir), train_rows=read_metrics(run_dir, "train"),
    )


def plot_diagnostics(runs: Sequence[RunData], path: Path) -> Path | None:
    """The four diagnostic scalars over env steps (2x2), one line per run, uniform reference dashed."""
    if not any(series(r.glass_rows, k)[0].size for r in runs for k, _ in DIAGNOSTICS):
        return None
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    ks = sorted({r.num_clusters for r in runs if r.num_clusters})
    for ax, (key, title) in zip(axes, DIAGNOSTICS, strict=True):
        for run in runs:
            x, y = series(run.glass_rows, key)
            if x.size:
                ax.plot(x, y, marker="." if x.size < 30 else None, label=run.label)
        for K in ks:
            ax.axhline(uniform_reference(K)[key], color="grey", ls="--", lw=1, label=f"uniform (K={K})")
        ax.set_title(title)
        env_step_axis(ax)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Glass diagnostics")
    return _save(fig, path)


def plot_eval(runs: Sequence[RunData], path: Path) -> Path | None:
    """Eval return (episode_reward) over env steps, one line per run."""
    if not any(series(r.eval_rows, "episode_reward")[0].size for r in runs):
        return None
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for run in runs:
        x, y = series(run.eval_rows, "episode_reward")
        if x.size:
            ax.plot(x, y, marker="o" if x.size < 30 else None, ms=3, label=run.label)
    env_step_axis(ax)
    ax.set_ylabel("episode return")
    ax.set_title("Evaluation return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_matrices(run: RunData, path: Path) -> Path | None:
    """P, A and S of the run's last dump at full size (tdmpc_parity.analysis.plots_glass.plot_dump); None without
    dumps."""
    dumps = list_dumps(run.path)
    return plot_dump(run.path, run.label, dumps[-1], path) if dumps else None


def plot_runs(run_dirs: Sequence[Path], out_dir: Path) -> list[Path]:
    """Write the PNGs of the module docstring for `run_dirs` into `out_dir`; returns their paths.

    ValueError, before anything is written, when no folder is given, a folder is not a run folder, a run has
    nothing to plot (no rows in metrics.jsonl and no dumps) or a dump lacks a matrix or has the wrong shapes.
    """
    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise ValueError("plot_runs needs at least one run folder")
    runs = [load_run(p, label) for p, label in expand_runs(paths)]
    for run in runs:
        if run.empty:
            raise ValueError(
                f"run folder {str(run.path)!r} has nothing to plot: no train, glass or eval rows in "
                f"metrics.jsonl and no {GLASS_DIR}/step_*.npz"
            )
        check_dumps(run.path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [plot_diagnostics(runs, out_dir / "glass_diagnostics.png"),
               plot_eval(runs, out_dir / "eval_return.png")]
    written += plot_training_runs([(r.path, r.label) for r in runs if r.train_rows], out_dir)
    for run in runs:
        name = slug(run.label)
        every = out_dir / "heatmaps" / name
        written += [plot_matrices(run, out_dir / f"glass_matrices_{name}.png"),
                    plot_timeline(run.path, run.label, out_dir / f"glass_timeline_{name}.png"),
                    plot_heatmap_grid(run.path, run.label, out_dir / f"glass_heatmaps_{name}.png",
                                      every_dump_dir=f"heatmaps/{name}/")]
        written += plot_every_dump(run.path, run.label, every)
    return [p for p in written if p is not None]
