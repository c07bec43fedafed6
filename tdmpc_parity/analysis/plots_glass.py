"""Glass pictures from a run folder's matrix dumps `glass/step_<agent_step>.npz` (S (N, K), P (N, N), A (N, N)).

S = softmax(assign_logits / T_assign) row by row (the prototype -> cluster assignment; T_assign = 1 in every
preset, so S is softmax(assign_logits) there). A dump's env step is its agent step x `action_repeat` (config.json).

Data (testable apart from the drawing):
  `list_dumps`      the dumps of a run, by step
  `timeline_data`   S of every dump stacked over env steps; occupancy_k(t) = sum_n S_nk(t) (the soft number of
                    prototypes in cluster k; sums to N)
  `cluster_order`   prototypes sorted by argmax_k S_nk so each cluster is a contiguous block
  `grid_indices`    which dumps the heatmap grid shows (all up to MAX_GRID_DUMPS, else evenly spaced)
Pictures:
  `plot_timeline`      per prototype a stacked area of its row S_n over env steps (one colour per cluster),
                       prototypes ordered by their cluster at the last dump (at most MAX_TIMELINE_PANELS), and on
                       top the stacked occupancy over env steps
  `plot_heatmap_grid`  P, A, S (rows) of up to MAX_GRID_DUMPS dumps (columns), each in its own cluster order
                       with cluster ids on the blocks; one colour scale per matrix across the dumps
  `plot_dump`          one dump's P, A, S at full size with prototype ids and cluster ids
  `plot_every_dump`    `plot_dump` for every dump (at most MAX_DUMP_FILES, evenly spaced) when the run has more
                       dumps than the grid shows
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from tdmpc_parity.analysis.plots_common import cluster_colors, env_step_axis, read_config_json, run_title, save_figure
from tdmpc_parity.core.fsutil import require_inside
from tdmpc_parity.core.runlog import GLASS_DIR

MATRICES = ("S", "P", "A")
MAX_GRID_DUMPS = 8
MAX_DUMP_FILES = 100
MAX_TIMELINE_PANELS = 64
TIMELINE_COLUMNS = 8
_DUMP_NAME = re.compile(r"step_(\d+)\.npz")
_STROKE = [patheffects.withStroke(linewidth=2, foreground="black")]


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dump:
    """One `glass/step_<agent_step>.npz` and the steps it was written at."""

    path: Path
    agent_step: int
    env_step: int


def list_dumps(run_dir: Path) -> list[Dump]:
    """The run's Glass dumps by agent step; env_step = agent_step x action_repeat (config.json).

    ValueError when there are dumps but config.json has no positive integer `action_repeat`.
    """
    run_dir = Path(run_dir)
    found = []
    for path in (run_dir / GLASS_DIR).glob("step_*.npz"):
        match = _DUMP_NAME.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), require_inside(run_dir, path)))
    if not found:
        return []
    repeat = read_config_json(run_dir).get("action_repeat")
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise ValueError(f"{str(run_dir)!r}: config.json has no positive integer action_repeat ({repeat!r}), so the "
                         f"Glass dumps in {GLASS_DIR}/ cannot be placed on env steps")
    return [Dump(path, step, step * repeat) for step, path in sorted(found)]


def read_matrices(path: Path, keys: tuple[str, ...] = MATRICES) -> dict[str, np.ndarray]:
    """The arrays `keys` of a dump, read as data (`allow_pickle=False`: an array of Python objects is refused, never
    unpickled); ValueError naming the file when one is missing or the file is not a NumPy .npz of numbers."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=float) for k in keys if k in data}
    except (ValueError, TypeError) as exc:  # an object array (would need unpickling), a bare .npy, text, ...
        raise ValueError(f"Glass dump {str(path)!r} is not an .npz of numeric arrays ({exc}); it was not "
                         "unpickled") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"Glass dump {str(path)!r} is truncated or corrupt: {exc}") from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"{str(path)!r} lacks the Glass matrices {missing}")
    return arrays


def check_dumps(run_dir: Path) -> int:
    """Read every dump of the run: each must hold S (N, K), P and A (N, N) with one N, K for the run. Returns the
    number of dumps; ValueError naming the file otherwise (so `plot` fails before it draws anything)."""
    shapes, dumps = set(), list_dumps(run_dir)
    for dump in dumps:
        m = read_matrices(dump.path)
        S, P, A = m["S"], m["P"], m["A"]
        if S.ndim != 2 or P.shape != (S.shape[0], S.shape[0]) or A.shape != P.shape:
            raise ValueError(f"{str(dump.path)!r}: S {S.shape}, P {P.shape}, A {A.shape} are not S (N, K), "
                             "P and A (N, N)")
        shapes.add(S.shape)
        if len(shapes) > 1:
            raise ValueError(f"{str(dump.path)!r}: S {S.shape} differs from the run's earlier dumps {sorted(shapes)}")
    return len(dumps)


def cluster_order(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, boundaries): prototypes sorted by cluster argmax_k S_ik (stable, so ties keep index order)
    and the positions in that order where a new cluster block starts."""
    labels = np.argmax(S, axis=1)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    boundaries = np.flatnonzero(np.diff(sorted_labels)) + 1
    return order, boundaries


def cluster_blocks(S: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(order, blocks): cluster_order's order and one (cluster k, start, end) per non-empty cluster, in that
    order: positions start..end-1 of the reordered prototypes have argmax_k S = k."""
    order, bounds = cluster_order(S)
    labels = np.argmax(S, axis=1)[order]
    edges = [0, *bounds.tolist(), len(order)]
    return order, [(int(labels[s]), s, e) for s, e in zip(edges[:-1], edges[1:], strict=True)]


@dataclass(frozen=True)
class Timeline:
    """S of every dump: env_steps (D,), S (D, N, K)."""

    env_steps: np.ndarray
    S: np.ndarray

    @property
    def occupancy(self) -> np.ndarray:
        """(D, K): occupancy_k(t) = sum_n S_nk(t), the soft number of prototypes in cluster k (rows sum to N)."""
        return self.S.sum(axis=1)

    @property
    def final_cluster(self) -> np.ndarray:
        """(N,): each prototype's cluster argmax_k S_nk at the last dump."""
        return np.argmax(self.S[-1], axis=1)


def timeline_data(run_dir: Path) -> Timeline | None:
    """S of every dump of the run over env steps; None without dumps. ValueError when the dumps' S differ in
    shape (N, K) or are not 2-D."""
    dumps = list_dumps(run_dir)
    if not dumps:
        return None
    mats = [read_matrices(d.path, ("S",))["S"] for d in dumps]
    shapes = {m.shape for m in mats}
    if len(shapes) != 1 or mats[0].ndim != 2:
        raise ValueError(f"{str(run_dir)!r}: the Glass dumps' S have shapes {sorted(shapes)}; the timeline needs "
                         "one (N, K) shape")
    return Timeline(env_steps=np.array([d.env_step for d in dumps], dtype=np.int64), S=np.stack(mats))


def grid_indices(num_dumps: int, cap: int | None = None) -> np.ndarray:
    """All indices 0..num_dumps-1 when num_dumps <= cap (default MAX_GRID_DUMPS), else `cap` evenly spaced ones
    from the first to the last."""
    cap = MAX_GRID_DUMPS if cap is None else cap
    if cap < 2:
        raise ValueError(f"grid_indices needs a cap of at least 2 (first and last dump), got {cap}")
    if num_dumps <= cap:
        return np.arange(num_dumps)
    return np.unique(np.round(np.linspace(0, num_dumps - 1, cap)).astype(int))


# ----------------------------------------------------------------------------------------------------------
# Timeline
# ----------------------------------------------------------------------------------------------------------


def _stacked(ax: Axes, x: np.ndarray, Y: np.ndarray, colors: list) -> None:
    """Stacked areas of the columns of Y (D, K) over x; with one point, a stacked bar."""
    if len(x) > 1:
        ax.stackplot(x, Y.T, colors=colors, lw=0)
        ax.set_xlim(x[0], x[-1])
        return
    width = max(1.0, 0.1 * abs(float(x[0])))
    bottom = 0.0
    for k, color in enumerate(colors):
        ax.bar(x, Y[:, k], width=width, bottom=bottom, color=color)
        bottom += Y[0, k]


_TL = {"top": 0.75, "occupancy": 2.6, "gap": 1.15, "panel": 1.2, "vgap": 0.42, "bottom": 0.5,
       "left": 0.6, "right": 0.95, "col": 2.0}  # the timeline's layout, in inches


def timeline_layout(num_prototypes: int) -> tuple[int, int, tuple[float, float]]:
    """(rows, columns, figure size in inches) of the timeline's prototype panels (at most MAX_TIMELINE_PANELS)."""
    shown = min(num_prototypes, MAX_TIMELINE_PANELS)
    cols = min(TIMELINE_COLUMNS, shown)
    rows = -(-shown // cols)
    height = _TL["top"] + _TL["occupancy"] + _TL["gap"] + rows * _TL["panel"] + (rows - 1) * _TL["vgap"] + _TL["bottom"]
    return rows, cols, (_TL["left"] + cols * _TL["col"] + _TL["right"], height)


def plot_timeline(run_dir: Path, label: str, path: Path) -> Path | None:
    """The assignment timeline (module docstring); None when the run has no dumps.

    A fixed layout in inches (no constrained layout: its tight-bbox passes over N small panels are slow).
    """
    tl = timeline_data(run_dir)
    if tl is None:
        return None
    D, N, K = tl.S.shape
    colors = cluster_colors(K)
    order, _ = cluster_order(tl.S[-1])
    shown = order[:MAX_TIMELINE_PANELS]
    rows, cols, (W, H) = timeline_layout(N)
    fig = Figure(figsize=(W, H))
    y_top = 1 - _TL["top"] / H
    y_occ = y_top - _TL["occupancy"] / H
    left, right = _TL["left"] / W, 1 - _TL["right"] / W
    ax = fig.add_axes((left, y_occ, right - left, y_top - y_occ))
    _stacked(ax, tl.env_steps, tl.occupancy, colors)
    ax.set_ylim(0, N)
    ax.set_ylabel(r"$\sum_n S_{nk}$ (prototypes)")
    env_step_axis(ax, fontsize=10)
    ax.set_title(f"cluster occupancy: soft number of prototypes per cluster (sums to N = {N}); {D} dumps",
                 fontsize=10)
    ax.legend(handles=[Rectangle((0, 0), 1, 1, color=c) for c in colors], labels=[f"c{k}" for k in range(K)],
              title="cluster", loc="center left", bbox_to_anchor=(1.005, 0.5), fontsize=8)
    y_panels = y_occ - _TL["gap"] / H
    grid = fig.add_gridspec(rows, cols, left=left, right=right, top=y_panels, bottom=_TL["bottom"] / H,
                            hspace=_TL["vgap"] / _TL["panel"], wspace=0.12)
    axes = np.asarray(grid.subplots(sharex=True, sharey=True)).reshape(-1)
    final = tl.final_cluster
    for a, n in zip(axes, shown, strict=False):
        _stacked(a, tl.env_steps, tl.S[:, n, :], colors)
        a.set_ylim(0, 1)
        a.set_title(f"prototype {n} -> c{final[n]} ({tl.S[-1, n, final[n]]:.2f})", fontsize=8, pad=3)
        a.tick_params(labelsize=7)
    axes[0].xaxis.set_major_locator(MaxNLocator(4))
    for a in axes[len(shown):]:
        a.set_visible(False)
    for a in axes:
        env_step_axis(a, label=a in axes[(rows - 1) * cols:], fontsize=8)
    for a in axes[::cols]:
        a.set_ylabel(r"$S_{nk}$", fontsize=8)
    more = f"; the first {len(shown)} of {N} shown" if len(shown) < N else ""
    fig.text(0.5, y_panels + 0.36 * _TL["gap"] / H, "S per prototype over env steps (stacked over clusters k, each "
             f"row sums to 1), ordered by the cluster at the last dump{more}", ha="center", va="center", fontsize=10)
    fig.suptitle(f"Assignment timeline — {run_title(run_dir, label)}", fontsize=12, y=1 - 0.2 / H)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Heatmaps
# ----------------------------------------------------------------------------------------------------------


def spaced(positions: list[float], min_gap: float) -> list[bool]:
    """Greedy thinning of increasing label positions: keep one when it is >= min_gap after the last kept one."""
    keep, last = [], -np.inf
    for x in positions:
        keep.append(x - last >= min_gap)
        last = x if keep[-1] else last
    return keep


def _matrix_panel(ax: Axes, mat: np.ndarray, blocks: list[tuple[int, int, int]], proto_ids: np.ndarray | None,
                  vmax: float, fontsize: float, height_in: float):
    """imshow of a reordered matrix with the cluster blocks outlined and labelled.

    Square (P, A): each diagonal block is framed. Rectangular (S): a line between blocks. With `proto_ids`:
    the prototype ids on the ticks and c<k> written in each diagonal block; without: the cluster ids c<k> as
    the row ticks at the block centres. Cluster labels closer than a line of text (panel `height_in` inches)
    are thinned so that none overlap.
    """
    im = ax.imshow(mat, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    square = mat.shape[0] == mat.shape[1]
    gap = mat.shape[0] * 1.25 * fontsize / 72 / height_in  # one text line, in matrix rows
    shown = [b for b, keep in zip(blocks, spaced([(s + e - 1) / 2 for _, s, e in blocks], gap), strict=True) if keep]
    for _, s, e in blocks:
        if not square:
            if s > 0:
                ax.axhline(s - 0.5, color="white", lw=1.0)
            continue
        ax.add_patch(Rectangle((s - 0.5, s - 0.5), e - s, e - s, fill=False, ec="white", lw=1.2))
    if square and proto_ids is not None:
        for k, s, _ in [b for b, keep in zip(blocks, spaced([s for _, s, _ in blocks], gap), strict=True) if keep]:
            ax.text(s - 0.35, s - 0.45, f"c{k}", color="white", fontsize=fontsize, ha="left", va="top",
                    path_effects=_STROKE)
    centres = [(s + e - 1) / 2 for _, s, e in shown]
    cluster_ids = [f"c{k}" for k, _, _ in shown]
    if proto_ids is not None:
        ax.set_yticks(range(len(proto_ids)), [str(i) for i in proto_ids], fontsize=fontsize - 1)
    else:
        ax.set_yticks(centres, cluster_ids, fontsize=fontsize)
    if square:
        if proto_ids is not None:
            ax.set_xticks(range(len(proto_ids)), [str(i) for i in proto_ids], fontsize=fontsize - 1)
        else:  # the rows carry the cluster ids; the columns are the same order
            ax.set_xticks(centres, [])
    else:
        K = mat.shape[1]
        most = 16 if proto_ids is not None else 8
        step = -(-K // most)
        ax.set_xticks(range(0, K, step), [f"c{k}" for k in range(0, K, step)], fontsize=fontsize)
    return im


_PANELS = (("P", "P (transition)"), ("A", "A = (P + P$^T$)/2"), ("S", "S (prototype -> cluster)"))


def grid_figsize(num_columns: int) -> tuple[float, float]:
    """Figure size (inches) of the heatmap grid with `num_columns` dumps: 3 rows (P, A, S)."""
    return 2.5 * num_columns + 1.8, 8.2


def plot_heatmap_grid(run_dir: Path, label: str, path: Path, every_dump_dir: str | None = None) -> Path | None:
    """P, A, S (rows) of the dumps of `grid_indices` (columns) in one PNG; None when the run has no dumps.

    `every_dump_dir` (a path to name in the title) when the dumps not shown are drawn elsewhere.
    """
    dumps = list_dumps(run_dir)
    if not dumps:
        return None
    idx = grid_indices(len(dumps))
    shown = [dumps[i] for i in idx]
    mats = [read_matrices(d.path) for d in shown]
    vmax = {key: max(float(m[key].max()) for m in mats) for key, _ in _PANELS}
    cols = len(shown)
    fig = Figure(figsize=grid_figsize(cols), layout="constrained")
    axes = np.asarray(fig.subplots(3, cols, squeeze=False))
    for c, (dump, m) in enumerate(zip(shown, mats, strict=True)):
        order, blocks = cluster_blocks(m["S"])
        for r, (key, _) in enumerate(_PANELS):
            mat = m[key][np.ix_(order, order)] if key != "S" else m[key][order]
            im = _matrix_panel(axes[r, c], mat, blocks, None, vmax[key] or 1.0, fontsize=7, height_in=2.2)
            if c == cols - 1:
                fig.colorbar(im, ax=axes[r, :].tolist(), shrink=0.9, pad=0.01)
        axes[0, c].set_title(f"env step {dump.env_step:,}", fontsize=9)
        axes[2, c].set_xlabel(f"cluster (env step {dump.env_step:,})", fontsize=8)
    for r, (_, title) in enumerate(_PANELS):
        axes[r, 0].set_ylabel(f"{title}\nprototypes by cluster", fontsize=9)
    which = (f"all {len(dumps)} dumps" if len(shown) == len(dumps) else
             f"{len(shown)} of {len(dumps)} dumps, evenly spaced" + (f" (every dump: {every_dump_dir})"
                                                                     if every_dump_dir else ""))
    fig.suptitle(f"Glass matrices over training ({which}); each column in its own cluster order, one colour scale "
                 f"per row\n{run_title(run_dir, label)}", fontsize=11)
    return save_figure(fig, path)


def dump_id_fontsize(num_prototypes: int) -> int:
    """Prototype-id font size (pt) of `plot_dump`: 7 up to N = 24, 6 up to 48, else 5; cluster ids one larger."""
    return 7 if num_prototypes <= 24 else 6 if num_prototypes <= 48 else 5


def dump_figsize(num_prototypes: int) -> tuple[float, float, float]:
    """(width, height, panel height) in inches of `plot_dump`: the panels grow with N so that every prototype id
    keeps a text line (prototype-id font `dump_id_fontsize`)."""
    panel = max(4.3, num_prototypes * 1.25 * dump_id_fontsize(num_prototypes) / 72)
    return max(15.0, 3.3 * panel + 1.0), panel + 0.9, panel


def plot_dump(run_dir: Path, label: str, dump: Dump, path: Path) -> Path:
    """One dump's P, A, S at full size: prototype ids on the ticks, cluster ids on the blocks."""
    m = read_matrices(dump.path)
    order, blocks = cluster_blocks(m["S"])
    N = len(order)
    W, H, panel = dump_figsize(N)
    fs = dump_id_fontsize(N) + 1  # cluster labels; prototype ids one point smaller
    fig = Figure(figsize=(W, H), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 0.75])
    for ax, (key, title) in zip(axes, _PANELS, strict=True):
        mat = m[key][np.ix_(order, order)] if key != "S" else m[key][order]
        im = _matrix_panel(ax, mat, blocks, order, float(mat.max()) or 1.0, fontsize=fs, height_in=panel)
        fig.colorbar(im, ax=ax, shrink=0.85)
        ax.set_title(f"{title}, env step {dump.env_step:,}")
        ax.set_ylabel("prototype (ordered by cluster)")
        if key == "S":
            gap = N * 1.25 * fs / 72 / panel
            kept = [b for b, keep in zip(blocks, spaced([(s + e - 1) / 2 for _, s, e in blocks], gap), strict=True)
                    if keep]
            right = ax.secondary_yaxis("right")
            right.set_yticks([(s + e - 1) / 2 for _, s, e in kept], [f"c{k}" for k, _, _ in kept], fontsize=fs)
            ax.set_xlabel("cluster")
        else:
            ax.set_xlabel("prototype (ordered by cluster)")
            if N > 24:
                ax.tick_params(axis="x", labelrotation=90)
    fig.suptitle(f"{run_title(run_dir, label)} — env step {dump.env_step:,} (agent step {dump.agent_step:,}, "
                 f"{dump.path.name})")
    return save_figure(fig, path)


def plot_every_dump(run_dir: Path, label: str, out_dir: Path) -> list[Path]:
    """`plot_dump` of each dump (MAX_DUMP_FILES evenly spaced when there are more) as out_dir/env_step_<n>.png;
    nothing when all dumps fit in the grid."""
    dumps = list_dumps(run_dir)
    if len(dumps) <= MAX_GRID_DUMPS:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return [plot_dump(run_dir, label, dumps[i], out_dir / f"env_step_{dumps[i].env_step:010d}.png")
            for i in grid_indices(len(dumps), MAX_DUMP_FILES)]


# ----------------------------------------------------------------------------------------------------------
# One evaluation rollout: the reward and the cluster of each step (`tdmpc-parity eval`, tdmpc_parity/app/evaluate.py)
# ----------------------------------------------------------------------------------------------------------

ROLLOUT_FIGSIZE = (9.0, 5.0)  # inches: the PNG is ROLLOUT_FIGSIZE x DPI pixels


@dataclass(frozen=True)
class RolloutChart:
    """What `plot_rollout_clusters` drew: per agent step t = 0..L-1 its first env step t x action_repeat, its
    reward r_t, the return after it sum_{s<=t} r_s (a running sum in the rewards' dtype, as the evaluation adds
    them, so the last one is the episode's return) and its cluster argmax_k q_k(z_t)."""

    path: Path
    env_steps: np.ndarray
    rewards: np.ndarray
    returns: np.ndarray
    clusters: np.ndarray


def rollout_runs(clusters: np.ndarray) -> list[tuple[int, int, int]]:
    """(cluster k, first step, end step) of each run of equal consecutive values of `clusters` (L,)."""
    change = np.flatnonzero(np.diff(clusters)) + 1
    edges = [0, *change.tolist(), len(clusters)]
    return [(int(clusters[s]), s, e) for s, e in zip(edges[:-1], edges[1:], strict=True)]


def plot_rollout_clusters(rewards: np.ndarray, q: np.ndarray, action_repeat: int, path: Path,
                          title: str) -> RolloutChart:
    """One episode over env steps: on top the reward of each agent step (steps) and the return so far (twin
    axis); below, the cluster argmax_k q_k(z_t) of each step's latent as a colour band (one colour per cluster,
    as in the other Glass pictures) with a step line through it. `rewards` (L,), `q` (L+1, K) or (L, K): the
    latents' cluster probabilities c(z) S (a row L, the final observation's, is not drawn)."""
    rewards = np.asarray(rewards)
    L, K = len(rewards), np.asarray(q).shape[-1]
    if np.asarray(q).shape[0] not in (L, L + 1):
        raise ValueError(f"q has {np.asarray(q).shape[0]} rows for {L} rewards: give q of o_0..o_(L-1) (or o_L)")
    clusters = np.argmax(np.asarray(q)[:L], axis=-1)
    steps = np.arange(L) * action_repeat
    edges = np.arange(L + 1) * action_repeat
    returns = np.cumsum(rewards)
    colors = cluster_colors(K)
    fig = Figure(figsize=ROLLOUT_FIGSIZE, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
    top.stairs(rewards, edges, color="tab:blue", lw=1.2, label="reward $r_t$ of agent step t")
    top.set_ylabel("reward per agent step", color="tab:blue")
    twin = top.twinx()
    twin.plot(edges, np.concatenate([[0.0], returns]), color="black", lw=1.4, label=r"return so far $\sum r$")
    twin.set_ylabel("return so far")
    for ax, values in ((top, rewards), (twin, returns)):  # both from 0 (or below): the zeros line up
        lo, hi = min(0.0, float(values.min(initial=0.0))), max(0.0, float(values.max(initial=0.0)))
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        ax.set_ylim(lo - (pad if lo < 0 else 0.0), hi + pad)
    handles = [*top.get_legend_handles_labels()[0], *twin.get_legend_handles_labels()[0]]
    top.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.95)
    top.set_title(f"reward and return (episode return {returns[-1]:.2f})" if L else "reward", fontsize=10)
    for k, s, e in rollout_runs(clusters):
        bottom.broken_barh([(edges[s], edges[e] - edges[s])], (k - 0.4, 0.8), color=colors[k], lw=0)
    bottom.stairs(clusters, edges, baseline=None, color="0.25", lw=0.8)
    bottom.set_ylim(-0.6, K - 0.4)
    if K <= 12:
        bottom.set_yticks(range(K), [f"c{k}" for k in range(K)], fontsize=8 if K <= 8 else 7)
    else:
        bottom.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
    bottom.set_ylabel("cluster")
    bottom.set_title(r"cluster of the step's latent: argmax$_k$ q$_k$(z$_t$), q = c(z) S", fontsize=10)
    bottom.set_xlim(0, max(edges[-1], 1))
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    env_step_axis(bottom)
    fig.legend(handles=[Rectangle((0, 0), 1, 1, color=c) for c in colors], labels=[f"c{k}" for k in range(K)],
               title="cluster", loc="outside right upper", fontsize=8, ncols=1 if K <= 16 else 2)
    fig.suptitle(title, fontsize=11)
    save_figure(fig, path)
    return RolloutChart(Path(path), steps, rewards, returns, clusters)
