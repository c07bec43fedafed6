"""tdmpc_parity.analysis.plots on synthetic run folders written with tdmpc_parity.core.runlog.RunLog."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tdmpc_parity.analysis.plots import cluster_order, plot_runs, uniform_reference
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.runlog import RunLog

N, K = 16, 8


def _matrices(rng: np.random.Generator, n_clusters: int) -> dict[str, np.ndarray]:
    labels = rng.permutation(np.arange(N) % n_clusters)
    S = np.eye(K)[labels] * 0.9 + 0.1 / K
    P = rng.random((N, N)) + 5.0 * (labels[:, None] == labels[None, :])
    P = P / P.sum(1, keepdims=True)
    return {"S": S, "P": P, "A": 0.5 * (P + P.T)}


TRAIN_KEYS = ("consistency_loss", "reward_loss", "value_loss", "pi_loss", "total_loss", "grad_norm", "pi_q_mean",
              "pi_scale", "steps_per_second")


def train_value(key: str, step: int, seed: int) -> float:
    """The synthetic train scalar `key` at `step` of run `seed` (known in closed form for value checks)."""
    return (1 + TRAIN_KEYS.index(key)) * (1.0 + seed) / (1.0 + step / 1000)


def make_run(path: Path, seed: int, glass: bool = True, evals: bool = True, dumps: int = 2,
             train: bool = True) -> Path:
    cfg = load_config(overrides=["glass=phase1"])
    log = RunLog(path, cfg)
    rng = np.random.default_rng(seed)
    if train:
        log.log("train", {"env_step": 0, "agent_step": 0, "consistency_loss": 1.0})
    for i in range(1, 6):
        step = i * 1000
        if train:
            log.log("train", {"env_step": step, "agent_step": step // 2, "glass_active": float(i % 2),
                              "glass_loss": 0.5 * i if i % 2 else 0.0,
                              **{k: train_value(k, step, seed) for k in TRAIN_KEYS}})
        if glass:
            log.log("glass", {"env_step": step, "agent_step": step // 2,
                              "glass_H_cm": math.log(K) - 0.1 * i * seed, "glass_active_clusters": K - i // 2,
                              "glass_max_cluster_mass": 1 / K + 0.02 * i, "glass_cut_mass": 0.85 - 0.03 * i})
        if evals:
            log.log("eval", {"env_step": step, "agent_step": step // 2, "episode_reward": 10.0 * i + seed})
    for i in range(dumps):
        log.save_glass_matrices(1000 * (i + 1), _matrices(rng, 4 if i == dumps - 1 else 3))
    return path


def _is_real_png(path: Path) -> bool:
    if not path.exists() or path.stat().st_size < 1000 or path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    img = imread(path)
    return img.shape[0] > 100 and img.shape[1] > 100 and float(img[..., :3].std()) > 0.01


def test_plot_runs_writes_every_figure(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "seed1", 1), make_run(tmp_path / "seed2", 2)]
    out = tmp_path / "plots"
    written = plot_runs(runs, out)
    names = sorted(p.name for p in written)
    assert names == ["eval_return.png", "glass_diagnostics.png", "glass_heatmaps_seed1.png", "glass_heatmaps_seed2.png",
                     "glass_matrices_seed1.png", "glass_matrices_seed2.png", "glass_timeline_seed1.png",
                     "glass_timeline_seed2.png", "training_scalars.png", "training_scalars_seeds.png"]
    assert all(p.parent == out and _is_real_png(p) for p in written)
    assert not (out / "heatmaps").exists()  # 2 dumps fit in the grid


def test_plot_runs_writes_only_what_has_data(tmp_path: Path) -> None:
    run = make_run(tmp_path / "eval_only", 3, glass=False, dumps=0, train=False)
    written = plot_runs([str(run)], tmp_path / "out")  # plain strings are accepted too
    assert [p.name for p in written] == ["eval_return.png"]
    assert _is_real_png(written[0])


def test_same_folder_names_get_distinct_labels(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / d / "run", i, evals=False, train=False, dumps=1) for i, d in enumerate(["a", "b"])]
    names = sorted(p.name for p in plot_runs(runs, tmp_path / "out"))
    assert names == ["glass_diagnostics.png", "glass_heatmaps_a_run.png", "glass_heatmaps_b_run.png",
                     "glass_matrices_a_run.png", "glass_matrices_b_run.png", "glass_timeline_a_run.png",
                     "glass_timeline_b_run.png"]


def test_not_a_run_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a run folder"):
        plot_runs([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(ValueError, match="not a run folder"):
        plot_runs([tmp_path / "missing"], tmp_path / "out")
    with pytest.raises(ValueError, match="at least one"):
        plot_runs([], tmp_path / "out")


def test_run_with_nothing_to_plot_raises(tmp_path: Path) -> None:
    good = make_run(tmp_path / "good", 1)
    bare = make_run(tmp_path / "bare", 2, glass=False, evals=False, dumps=0, train=False)  # config.json only
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_runs([good, bare], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_dump_without_matrices_raises(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 1, dumps=0)
    RunLog(run, load_config(), resume=True).save_glass_matrices(5, {"S": np.eye(N, K)})
    with pytest.raises(ValueError, match="lacks"):
        plot_runs([run], tmp_path / "out")


def test_cluster_order_makes_contiguous_blocks() -> None:
    S = np.eye(3)[[2, 0, 1, 0, 2, 1]]
    order, bounds = cluster_order(S)
    assert order.tolist() == [1, 3, 2, 5, 0, 4]
    assert bounds.tolist() == [2, 4]


def test_uniform_reference_values() -> None:
    ref = uniform_reference(8)
    assert ref == pytest.approx({"glass_H_cm": math.log(8), "glass_active_clusters": 8.0,
                                 "glass_max_cluster_mass": 0.125, "glass_cut_mass": 0.875})


def test_a_seeds_folder_plots_each_seed(tmp_path: Path, capsys) -> None:
    """A JAX `--seeds` run folder (RUN/seed_<s>/ per seed, no config.json of its own) plots every seed."""
    from tdmpc_parity.app.cli import main as cli

    for seed in (2, 10):  # numeric order: seed_2 before seed_10
        make_run(tmp_path / "multi" / f"seed_{seed}", seed, dumps=1)
    written = plot_runs([tmp_path / "multi"], tmp_path / "out")
    assert [p.name for p in written] == [
        "glass_diagnostics.png", "eval_return.png", "training_scalars.png", "training_scalars_seeds.png",
        *[f"glass_{kind}_multi_seed_{s}.png" for s in (2, 10) for kind in ("matrices", "timeline", "heatmaps")]]
    (tmp_path / "multi" / "seed_3").mkdir()  # a seed folder that is not a run: still "not a run folder"
    with pytest.raises(ValueError, match="not a run folder"):
        plot_runs([tmp_path / "multi"], tmp_path / "out")
    for seed in (1, 2):  # the CLI's default --out is RUN/plots (eval rows only: one cheap figure)
        make_run(tmp_path / "evals" / f"seed_{seed}", seed, glass=False, dumps=0, train=False)
    capsys.readouterr()
    assert cli(["plot", str(tmp_path / "evals")]) == 0
    assert [p.name for p in (tmp_path / "evals" / "plots").glob("*.png")] == ["eval_return.png"]


def test_plot_says_why_glass_plots_are_empty(tmp_path: Path, capsys) -> None:
    from tdmpc_parity.analysis.plots import glass_notes
    from tdmpc_parity.app.cli import main as cli

    # phase1 defaults: warm-up 100k, diag every 10k
    run = make_run(tmp_path / "short", 1, glass=False, dumps=0, train=False)
    RunLog(run, load_config(), resume=True).log("train", {"env_step": 5000, "agent_step": 2500})
    notes = glass_notes(run)
    assert "Glass was never active: warm-up 100000 env steps > run's 5000 env steps" in notes[0]
    assert "no Glass diagnostics: diag_every 10000 agent steps > run's 2500 agent steps" in notes[1]
    capsys.readouterr()
    assert cli(["plot", str(run), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Glass was never active: warm-up 100000 env steps > run's 5000 env steps" in out
    assert [p.name for p in (tmp_path / "out").glob("*.png")] == ["eval_return.png"]
    active = tmp_path / "active"  # warm-up passed and diagnostics written: nothing to explain
    log = RunLog(active, load_config(overrides=["glass=phase1", "glass.warmup_env_steps=0"]))
    log.log("train", {"env_step": 100, "agent_step": 50})
    log.log("glass", {"env_step": 100, "agent_step": 50, "glass_H_cm": 1.0})
    assert glass_notes(active) == []
    off = tmp_path / "off"
    RunLog(off, load_config()).log("eval", {"env_step": 100, "agent_step": 50, "episode_reward": 1.0})
    assert glass_notes(off) == [f"{off}: Glass is off in this run (glass.enabled is false): no Glass plots"]


# ----------------------------------------------------------------------------------------------------------
# Assignment timeline and heatmaps (tdmpc_parity/analysis/plots_glass.py)
# ----------------------------------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels of a PNG, read back with matplotlib."""
    img = imread(path)
    return img.shape[1], img.shape[0]


def _inches_to_px(size: tuple[float, float]) -> tuple[int, int]:
    from tdmpc_parity.analysis.plots_common import DPI

    return round(size[0] * DPI), round(size[1] * DPI)


def test_timeline_data_equals_the_dumps_read_independently(tmp_path: Path) -> None:
    from tdmpc_parity.analysis.plots_glass import plot_timeline, timeline_data, timeline_layout

    run = make_run(tmp_path / "run", 1, dumps=3)
    tl = timeline_data(run)
    files = sorted((run / "glass").iterdir())
    assert [f.name for f in files] == ["step_0000001000.npz", "step_0000002000.npz", "step_0000003000.npz"]
    S = [np.load(f)["S"] for f in files]
    assert tl.env_steps.tolist() == [2000, 4000, 6000]  # agent step x action_repeat 2
    np.testing.assert_allclose(tl.occupancy, np.stack([s.sum(axis=0) for s in S]))  # sum over prototypes
    np.testing.assert_allclose(tl.occupancy.sum(axis=1), N)
    assert tl.final_cluster.tolist() == np.argmax(S[-1], axis=1).tolist()
    path = plot_timeline(run, "run", tmp_path / "timeline.png")
    rows, cols, size = timeline_layout(N)
    assert (rows, cols) == (2, 8)  # 16 prototype panels
    assert _is_real_png(path) and _png_size(path) == _inches_to_px(size)
    assert timeline_data(make_run(tmp_path / "none", 1, dumps=0)) is None


def test_heatmaps_cover_every_dump_with_a_cap(tmp_path: Path, monkeypatch) -> None:
    """More dumps than the grid holds: the grid shows MAX_GRID_DUMPS evenly spaced (first and last included) and
    heatmaps/<run>/ gets one full-size PNG per dump (at most MAX_DUMP_FILES)."""
    from tdmpc_parity.analysis import plots_glass
    from tdmpc_parity.analysis.plots_glass import grid_figsize

    monkeypatch.setattr(plots_glass, "MAX_GRID_DUMPS", 2)
    monkeypatch.setattr(plots_glass, "MAX_DUMP_FILES", 3)
    run = make_run(tmp_path / "run", 1, glass=False, evals=False, train=False, dumps=4)
    written = plot_runs([run], tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "glass_matrices_run.png", "glass_timeline_run.png", "glass_heatmaps_run.png",
        # dumps at agent steps 1000..4000 = env steps 2000..8000; 3 of 4 evenly spaced: indices 0, 2 (1.5), 3
        "heatmaps/run/env_step_0000002000.png", "heatmaps/run/env_step_0000006000.png",
        "heatmaps/run/env_step_0000008000.png"]
    assert all(_is_real_png(p) for p in written)
    assert _png_size(tmp_path / "out" / "glass_heatmaps_run.png") == _inches_to_px(grid_figsize(2))


def test_heatmap_grid_shows_all_dumps_up_to_the_cap(tmp_path: Path) -> None:
    from tdmpc_parity.analysis.plots_glass import grid_figsize, grid_indices, plot_heatmap_grid

    assert grid_indices(3).tolist() == [0, 1, 2]
    assert grid_indices(12, 8).tolist() == [0, 2, 3, 5, 6, 8, 9, 11]
    with pytest.raises(ValueError, match="at least 2"):
        grid_indices(5, 1)
    run = make_run(tmp_path / "run", 1, glass=False, evals=False, train=False, dumps=3)
    path = plot_heatmap_grid(run, "run", tmp_path / "grid.png")
    assert _png_size(path) == _inches_to_px(grid_figsize(3))  # 3 columns: every dump


def test_cluster_blocks_label_contiguous_clusters() -> None:
    from tdmpc_parity.analysis.plots_glass import cluster_blocks

    S = np.eye(4)[[3, 0, 3, 1, 0]]  # cluster 2 is empty
    order, blocks = cluster_blocks(S)
    assert order.tolist() == [1, 4, 3, 0, 2]
    assert blocks == [(0, 0, 2), (1, 2, 3), (3, 3, 5)]


def test_dumps_need_action_repeat_and_one_shape(tmp_path: Path) -> None:
    import json

    from tdmpc_parity.analysis.plots_glass import check_dumps, list_dumps

    run = make_run(tmp_path / "run", 1, dumps=1)
    assert check_dumps(run) == 1
    log = RunLog(run, load_config(), resume=True)
    log.save_glass_matrices(9, {"S": np.eye(N + 1, K), "P": np.eye(N + 1), "A": np.eye(N + 1)})
    with pytest.raises(ValueError, match="differs from the run's earlier dumps"):
        check_dumps(run)
    config = json.loads((run / "config.json").read_text())
    del config["action_repeat"]
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no positive integer action_repeat"):
        list_dumps(run)


# ----------------------------------------------------------------------------------------------------------
# Training scalars (tdmpc_parity/analysis/plots_training.py)
# ----------------------------------------------------------------------------------------------------------


def test_train_series_keeps_the_later_row_and_active_glass_rows() -> None:
    from tdmpc_parity.analysis.plots_training import train_series

    rows = [{"env_step": 10, "pi_loss": 1.0, "glass_loss": 0.0, "glass_active": 0.0},
            {"env_step": 20, "pi_loss": 2.0, "glass_loss": 0.4, "glass_active": 0.5},
            {"env_step": 10, "pi_loss": 3.0},  # a resumed run repeats env step 10
            {"env_step": 30, "pi_loss": float("nan")}, {"env_step": 40}]
    steps, values = train_series(rows, "pi_loss")
    assert steps.tolist() == [10, 20] and values.tolist() == [3.0, 2.0]
    steps, values = train_series(rows, "glass_loss")  # the inactive row's 0 is no value
    assert steps.tolist() == [20] and values.tolist() == [0.4]


def test_aggregate_is_the_mean_over_seeds_with_a_ci(tmp_path: Path) -> None:
    from tdmpc_parity.analysis.plots_training import aggregate, group_train_runs, load_train_run

    runs = [load_train_run(make_run(tmp_path / f"s{s}", s, glass=False, evals=False, dumps=0), f"s{s}")
            for s in (1, 2, 3)]
    groups = group_train_runs(runs)
    assert len(groups) == 1 and len(groups[0]) == 3  # same backend, task and config
    curve = aggregate(groups[0], "pi_loss")
    steps = [1000, 2000, 3000, 4000, 5000]
    assert curve.steps.tolist() == steps and curve.n.tolist() == [3] * 5
    expected = [np.mean([train_value("pi_loss", t, s) for s in (1, 2, 3)]) for t in steps]
    np.testing.assert_allclose(curve.mean, expected)
    assert np.all(curve.low < curve.mean) and np.all(curve.mean < curve.high)
    binned = aggregate(groups[0], "consistency_loss", max_points=2)  # env steps 0..5000 in bins [0, 2500), [2500, 5000]
    assert binned.steps.tolist() == [1250, 3750]
    per_seed = [[np.mean([1.0, *[train_value("consistency_loss", t, s) for t in (1000, 2000)]]),
                 np.mean([train_value("consistency_loss", t, s) for t in (3000, 4000, 5000)])] for s in (1, 2, 3)]
    np.testing.assert_allclose(binned.mean, np.mean(per_seed, axis=0))
    assert aggregate(groups[0], "no_such_column") is None


def test_groups_split_by_backend_and_config(tmp_path: Path) -> None:
    from tdmpc_parity.analysis.plots_training import group_label, group_train_runs, load_train_run

    def run(name: str, *overrides: str) -> Path:
        log = RunLog(tmp_path / name, load_config(overrides=["task=cartpole-balance", *overrides]))
        log.log("train", {"env_step": 100, "agent_step": 50, "pi_loss": 1.0})
        return tmp_path / name

    paths = [run("j1", "backend=jax", "seed=1"), run("t1", "seed=1"), run("t2", "seed=2"), run("lr", "lr=0.001")]
    loaded = [load_train_run(p, p.name) for p in [*paths, paths[1]]]  # t1 twice: counts once
    groups = group_train_runs(loaded)
    labels = [[r.label for r in g] for g in groups]
    keys = {r.label: r.key for g in groups for r in g}
    assert keys["t1"] == keys["t2"] == keys["j1"] != keys["lr"]  # the config without backend, task and seed
    assert sorted(map(sorted, labels)) == [["j1"], ["lr"], ["t1", "t2"]]
    torch_key = keys["t1"]
    same = [g for g in groups if g[0].key == torch_key]
    assert [g[0].backend for g in same] == ["torch", "jax"]  # torch first, as in compare
    assert group_label(same[0]) == f"torch cartpole-balance [{torch_key}] (2 runs)"


def test_training_figures_have_a_panel_per_logged_scalar(tmp_path: Path) -> None:
    from tdmpc_parity.analysis.plots_training import SCALARS, panels_figsize, plot_training_runs

    runs = [(make_run(tmp_path / f"s{s}", s, glass=False, evals=False, dumps=0), f"s{s}") for s in (1, 2)]
    written = plot_training_runs(runs, tmp_path)
    assert [p.name for p in written] == ["training_scalars.png", "training_scalars_seeds.png"]
    logged = [k for k, _ in SCALARS if k in (*TRAIN_KEYS, "glass_loss")]
    assert len(logged) == 10  # 3 rows of 4 panels
    assert _png_size(written[0]) == _inches_to_px(panels_figsize(10, 2))
    assert _png_size(written[1]) == _inches_to_px(panels_figsize(10, 1))  # one group in the legend
    assert [p.name for p in plot_training_runs(runs[:1], tmp_path / "one")] == ["training_scalars.png"]  # 1 seed
