"""harness.plots on synthetic run folders written with harness.runlog.RunLog."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from harness.config import load_config
from harness.plots import cluster_order, plot_runs, uniform_reference
from harness.runlog import RunLog

N, K = 16, 8


def _matrices(rng: np.random.Generator, n_clusters: int) -> dict[str, np.ndarray]:
    labels = rng.permutation(np.arange(N) % n_clusters)
    S = np.eye(K)[labels] * 0.9 + 0.1 / K
    P = rng.random((N, N)) + 5.0 * (labels[:, None] == labels[None, :])
    P = P / P.sum(1, keepdims=True)
    return {"S": S, "P": P, "A": 0.5 * (P + P.T)}


def make_run(path: Path, seed: int, glass: bool = True, evals: bool = True, dumps: int = 2) -> Path:
    cfg = load_config(overrides=["glass=phase1"])
    log = RunLog(path, cfg)
    rng = np.random.default_rng(seed)
    log.log("train", {"env_step": 0, "agent_step": 0, "consistency_loss": 1.0})
    for i in range(1, 6):
        step = i * 1000
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
    assert names == ["eval_return.png", "glass_diagnostics.png", "glass_matrices_seed1.png",
                     "glass_matrices_seed2.png"]
    assert all(p.parent == out and _is_real_png(p) for p in written)


def test_plot_runs_writes_only_what_has_data(tmp_path: Path) -> None:
    run = make_run(tmp_path / "eval_only", 3, glass=False, dumps=0)
    written = plot_runs([str(run)], tmp_path / "out")  # plain strings are accepted too
    assert [p.name for p in written] == ["eval_return.png"]
    assert _is_real_png(written[0])


def test_same_folder_names_get_distinct_labels(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / d / "run", i, evals=False) for i, d in enumerate(["a", "b"])]
    names = sorted(p.name for p in plot_runs(runs, tmp_path / "out"))
    assert names == ["glass_diagnostics.png", "glass_matrices_a_run.png", "glass_matrices_b_run.png"]


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
    bare = make_run(tmp_path / "bare", 2, glass=False, evals=False, dumps=0)  # train rows only
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
    from harness.cli import main as cli

    for seed in (1, 2, 10):
        make_run(tmp_path / "multi" / f"seed_{seed}", seed)
    names = sorted(p.name for p in plot_runs([tmp_path / "multi"], tmp_path / "out"))
    assert names == ["eval_return.png", "glass_diagnostics.png", "glass_matrices_multi_seed_1.png",
                     "glass_matrices_multi_seed_10.png", "glass_matrices_multi_seed_2.png"]
    capsys.readouterr()
    assert cli(["plot", str(tmp_path / "multi")]) == 0  # default --out: RUN/plots
    assert sorted(p.name for p in (tmp_path / "multi" / "plots").glob("*.png")) == names
    (tmp_path / "multi" / "seed_3").mkdir()  # a seed folder that is not a run: still "not a run folder"
    with pytest.raises(ValueError, match="not a run folder"):
        plot_runs([tmp_path / "multi"], tmp_path / "out")


def test_plot_says_why_glass_plots_are_empty(tmp_path: Path, capsys) -> None:
    from harness.cli import main as cli
    from harness.plots import glass_notes

    run = make_run(tmp_path / "short", 1, glass=False, dumps=0)  # phase1 defaults: warm-up 100k, diag every 10k
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
