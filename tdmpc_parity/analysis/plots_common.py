"""Helpers shared by the plot modules (tdmpc_parity/analysis/plots.py, plots_glass.py, plots_training.py).

Backend-free: NumPy + matplotlib's Agg canvas (a `Figure` with `FigureCanvasAgg`, no pyplot, so importing the
plot modules never changes the process's matplotlib backend). Run folders are read as tdmpc_parity/core/runlog.py writes
them; config.json is read as plain JSON so that old run folders still plot.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from tdmpc_parity.core.fsutil import require_inside
from tdmpc_parity.core.runlog import CONFIG_FILE
from tdmpc_parity.core.safe_json import read_json

DPI = 110


def save_figure(fig: Figure, path: Path) -> Path:
    """Render `fig` with the Agg canvas to `path` (PNG at DPI dots per inch); returns `path`."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return path


def slug(label: str) -> str:
    """`label` as a file-name part: runs of characters other than [A-Za-z0-9._-] become one `_`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run"


def read_config_json(run_dir: Path) -> dict[str, Any]:
    """config.json of a run folder as plain JSON ({} when missing or unreadable; a link out of the folder is a
    ValueError)."""
    path = require_inside(run_dir, Path(run_dir) / CONFIG_FILE)
    try:
        data = read_json(path, "run config")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_title(run_dir: Path, label: str) -> str:
    """`label: task · backend · Glass <preset>` from config.json (parts it lacks are left out)."""
    cfg = read_config_json(run_dir)
    glass = cfg.get("glass") or {}
    parts = [str(cfg[k]) for k in ("task", "backend") if cfg.get(k)]
    if glass.get("enabled"):
        parts.append(f"Glass {glass.get('preset') or 'on'}")
    elif cfg:
        parts.append("no Glass")
    if cfg.get("seed") is not None:
        parts.append(f"seed {cfg['seed']}")
    return f"{label}: " + " · ".join(parts) if parts else label


def series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(env_step, value) of the rows holding a finite `key`, sorted by env_step."""
    pts = [(float(r["env_step"]), float(r[key])) for r in rows
           if isinstance(r.get(key), (int, float)) and isinstance(r.get("env_step"), (int, float))
           and math.isfinite(float(r[key]))]
    pts.sort(key=lambda p: p[0])
    arr = np.asarray(pts, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def env_step_axis(ax: Axes, label: bool = True, fontsize: float = 9) -> None:
    """x axis in env steps with engineering ticks (400, 1.5k, 2M) and, when `label`, the label "env step"."""
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    if label:
        ax.set_xlabel("env step", fontsize=fontsize)


def cluster_colors(num_clusters: int) -> list[tuple[float, float, float, float]]:
    """One colour per cluster: tab10 (K <= 10), tab20 (K <= 20), else K samples of `turbo`."""
    if num_clusters <= 10:
        return [colormaps["tab10"](k) for k in range(num_clusters)]
    if num_clusters <= 20:
        return [colormaps["tab20"](k) for k in range(num_clusters)]
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, num_clusters)]
