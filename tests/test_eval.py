"""`tdmpc-parity eval`: run folders, checkpoints, weights files and official checkpoints in both backends; the MP4
(frame count and size read back), the Glass overlay read out of the video's pixels against argmax_k S recomputed
with NumPy from the saved weights, the gallery grid, return vs cluster, the per-step reward and cluster charts,
clear errors on bad input; and the torch trainer's `video_every` videos (JAX: tests/test_train_video.py).

Tiny and short: the shipped `tiny` config, 10-step cartpole episodes (21 frames of 96x96 per video), one torch run
trained for 40 agent steps with Glass active from the start, a JAX run folder whose checkpoint holds a fresh agent.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.app.cli import main
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.stats import mean_ci
from tdmpc_parity.core.video import (
    GALLERY_PAD,
    RenderError,
    draw_overlay,
    read_overlay_index,
)
from tdmpc_parity.core.weights import load_weights

TINY = "tiny"  # the shipped config (tdmpc_parity/configs/tiny.yaml)
RUN = ["task=cartpole-balance", "episode_length=10", "seed_steps=20", "eval_freq=1000", "eval_episodes=1",
       "save_every=20", "buffer_size=1000"]
GLASS = ["--glass", "phase1b", "glass.warmup_env_steps=0", "glass.diag_every=20"]
L, R, SIZE = 10, 2, 96  # episode length, action repeat, frame size
FRAMES = 1 + L * R  # the reset frame, then one per physics control step


def _eval(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["eval", *argv, "--no-progress"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _video(path: Path) -> tuple[list[np.ndarray], dict]:
    """Every frame of an MP4 as ffmpeg decodes it, and its metadata (fps, size)."""
    import imageio.v2 as imageio

    with warnings.catch_warnings():  # ffmpeg runs in a subprocess: JAX warns about any fork
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        reader = imageio.get_reader(path, format="FFMPEG")
        frames = [np.asarray(f) for f in reader]
        meta = reader.get_meta_data()
        reader.close()
    return frames, meta


def _numpy_q(z: np.ndarray, canon: dict[str, np.ndarray], t_proto: float, t_assign: float) -> np.ndarray:
    """q = softmax(cos(z, mu) / T_proto) softmax(assign_logits / T_assign): the latents' cluster probabilities."""
    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    mu = canon["_glass.prototypes"].astype(np.float64)
    zn = z / np.linalg.norm(z, axis=-1, keepdims=True)
    mn = mu / np.linalg.norm(mu, axis=-1, keepdims=True)
    return softmax(zn @ mn.T / t_proto) @ softmax(canon["_glass.assign_logits"].astype(np.float64) / t_assign)


def _check_summary(out: str, out_dir: Path, episodes: int) -> dict:
    """eval.json's numbers are the mean and bootstrap CI of its returns, and the printed line says them."""
    ev = json.loads((out_dir / "eval.json").read_text())
    returns = np.asarray(ev["returns"])
    assert len(returns) == episodes and np.isfinite(returns).all()
    mean, low, high = mean_ci(returns)
    assert (ev["mean"], ev["ci_low"], ev["ci_high"]) == (mean, low, high)
    half = (high - low) / 2
    assert f"return over {episodes} episode(s): {mean:.2f} ± {half:.2f} (95% CI [{low:.2f}, {high:.2f}]" in out
    with (out_dir / "episodes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["return"]) for r in rows] == returns.tolist()
    return ev


def _check_overlay(video: Path, rollout: Path, canon: dict[str, np.ndarray], t_proto: float) -> np.ndarray:
    """Every frame's drawn cluster (read from the MP4's pixels) = argmax of q recomputed for its agent step."""
    frames, meta = _video(video)
    assert len(frames) == FRAMES and frames[0].shape == (SIZE, SIZE, 3)
    z = np.load(rollout)["latents"][0].astype(np.float64)  # episode 0: o_0..o_L
    assert z.shape[0] == L + 1
    want = np.argmax(_numpy_q(z, canon, t_proto, 1.0), axis=-1)
    K = canon["_glass.assign_logits"].shape[1]
    drawn = [read_overlay_index(f, K) for f in frames]
    assert drawn == [int(want[f // R]) for f in range(FRAMES)]
    assert np.load(rollout)["frame_cluster"].tolist() == drawn
    return want


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory) -> Path:
    """A torch Glass run trained for 40 agent steps: checkpoints at 20 and 40, then model.npz; evaluations at agent
    steps 0, 20, 40 (env steps 0, 40, 80) and training videos every 60 env steps (at env steps 0 and 80)."""
    run = tmp_path_factory.mktemp("eval") / "torch_run"
    rc = main(["train", "--backend", "torch", "--config", TINY, "--steps", "40", "--run-dir", str(run),
               "--no-progress", *GLASS, *RUN, "eval_freq=20", "video_every=60"])
    assert rc == 0 and (run / "model.npz").exists() and (run / "checkpoints" / "latest.json").exists()
    return run


def test_torch_run_folder_video_overlay_gallery_return_vs_cluster(torch_run: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "ev"
    rc, out, err = _eval(capsys, str(torch_run), "--episodes", "3", "--video", "--glass-overlay", "--gallery",
                         "--size", f"{SIZE}x{SIZE}", "--out", str(out_dir))
    assert rc == 0, err
    ev = _check_summary(out, out_dir, 3)
    assert ev["source_kind"] == "run" and ev["loaded"].endswith("model.npz (the run's final weights)")
    frames, meta = _video(out_dir / "rollout.mp4")
    assert meta["fps"] == 100.0 and meta["size"] == (SIZE, SIZE)  # cartpole's control step is 0.01 s
    assert ev["video"]["frames"] == FRAMES
    canon = load_weights(torch_run / "model.npz")
    cfg = load_config(yaml_path=torch_run / "config.json")
    want = _check_overlay(out_dir / "rollout.mp4", out_dir / "rollout.npz", canon, cfg.glass.t_proto)
    # gallery: 16 prototypes x top-4 frames, and the frames are the 4 agent steps most cosine-similar to mu_n
    from matplotlib.image import imread

    N, K = canon["_glass.assign_logits"].shape
    grid = imread(out_dir / "gallery.png")
    assert grid.shape[:2] == (N * (SIZE + GALLERY_PAD) + GALLERY_PAD, 4 * (SIZE + GALLERY_PAD) + GALLERY_PAD)
    z = np.load(out_dir / "rollout.npz")["latents"][0].astype(np.float64)
    mu = canon["_glass.prototypes"].astype(np.float64)
    sim = (z / np.linalg.norm(z, axis=-1, keepdims=True)) @ (mu / np.linalg.norm(mu, axis=-1, keepdims=True)).T
    top = np.argsort(-sim, axis=0, kind="stable")[:4].T
    assert ev["gallery"]["agent_steps"] == top.tolist()
    assert ev["gallery"]["prototype_cluster"] == np.argmax(canon["_glass.assign_logits"], axis=-1).tolist()
    # return vs cluster: per episode the share of agent steps 0..L-1 in each cluster
    shares = np.asarray(ev["glass"]["cluster_share"])
    assert shares.shape == (3, K) and np.allclose(shares.sum(axis=1), 1.0)
    assert shares[0].tolist() == (np.bincount(want[:L], minlength=K) / L).tolist()
    assert (out_dir / "return_vs_cluster.png").stat().st_size > 10_000
    _check_rollout_charts(out_dir, 3, want, cfg.glass.num_clusters)


def _check_rollout_charts(out_dir: Path, episodes: int, want0: np.ndarray, K: int) -> None:
    """rollout.npz's per-step rewards add up (a running sum, as the evaluation adds them) to episodes.csv's returns;
    one reward-and-cluster chart per episode (at most 3) of the expected pixel size; the chart's data for episode 0
    is those rewards, their running sum and argmax_k q recomputed with NumPy from the weights (`want0`)."""
    from matplotlib.image import imread

    from tdmpc_parity.analysis.plots_common import DPI
    from tdmpc_parity.analysis.plots_glass import ROLLOUT_FIGSIZE, plot_rollout_clusters

    data = np.load(out_dir / "rollout.npz")
    rewards = data["rewards"]
    assert rewards.shape == (episodes, L)
    with (out_dir / "episodes.csv").open() as fh:
        csv_returns = [float(r["return"]) for r in csv.DictReader(fh)]
    assert np.cumsum(rewards, axis=1)[:, -1].tolist() == csv_returns
    ev = json.loads((out_dir / "eval.json").read_text())
    charts = [out_dir / f"rollout_clusters_{i}.png" for i in range(min(episodes, 3))]
    assert ev["glass"]["rollout_charts"] == [str(c) for c in charts]
    for chart in charts:
        assert imread(chart).shape[:2] == (round(ROLLOUT_FIGSIZE[1] * DPI), round(ROLLOUT_FIGSIZE[0] * DPI))
        assert chart.stat().st_size > 10_000
    assert np.argmax(data["q"][0], axis=-1).tolist() == want0.tolist()  # the saved q gives the overlay's argmax
    drawn = plot_rollout_clusters(rewards[0], data["q"][0], R, out_dir / "again.png", "episode 0")
    assert drawn.clusters.tolist() == want0[:L].tolist() and drawn.clusters.max() < K
    assert drawn.env_steps.tolist() == [t * R for t in range(L)]
    assert drawn.rewards.tolist() == rewards[0].tolist() and drawn.returns[-1] == csv_returns[0]
    assert np.allclose(np.diff(drawn.returns), rewards[0][1:])


def test_training_videos_are_eval_videos_of_that_moment(torch_run: Path, tmp_path: Path, capsys) -> None:
    """video_every=60 with evaluations at env steps 0, 40, 80: a video at the first evaluation at or after each
    multiple of 60 (0 and 80), each `eval --video`'s episode 0 at 320x240 with the Glass overlay; the last one was
    rendered with the final weights, so it is frame for frame `eval RUN --video` of model.npz."""
    videos = sorted((torch_run / "videos").iterdir())
    assert [v.name for v in videos] == ["step_0000000000.mp4", "step_0000000080.mp4"]
    out_dir = tmp_path / "ev"
    rc, out, err = _eval(capsys, str(torch_run), "--episodes", "1", "--video", "--glass-overlay", "--out", str(out_dir))
    assert rc == 0, err
    trained, meta = _video(videos[-1])
    assert meta["size"] == (320, 240) and meta["fps"] == 100.0 and len(trained) == FRAMES
    evaluated, _ = _video(out_dir / "rollout.mp4")
    assert all(np.array_equal(a, b) for a, b in zip(trained, evaluated, strict=True))
    cfg = load_config(yaml_path=torch_run / "config.json")
    z = np.load(out_dir / "rollout.npz")["latents"][0].astype(np.float64)
    want = np.argmax(_numpy_q(z, load_weights(torch_run / "model.npz"), cfg.glass.t_proto, 1.0), axis=-1)
    K = cfg.glass.num_clusters
    assert [read_overlay_index(f, K) for f in trained] == [int(want[f // R]) for f in range(FRAMES)]
    first, _ = _video(videos[0])
    assert len(first) == FRAMES and not np.array_equal(first[-1], trained[-1])  # the untrained agent's episode


def test_training_videos_survive_a_resume(torch_run: Path, tmp_path: Path, capsys) -> None:
    """A run stopped after its video at env step 80 but before its checkpoint at agent step 40 (latest.json still
    at agent step 20): the resume deletes that video, trains 20 -> 40 again and writes it again (the same frames:
    the resume is exact), and leaves the video at env step 0, from before the checkpoint, untouched."""
    run = tmp_path / "run"
    shutil.copytree(torch_run, run)
    pointer = run / "checkpoints" / "latest.json"
    info = json.loads(pointer.read_text())
    pointer.write_text(json.dumps({**info, "agent_step": 20, "dir": "step_000000000020"}))
    before = {v.name: v.stat().st_mtime_ns for v in (run / "videos").iterdir()}
    original, _ = _video(run / "videos" / "step_0000000080.mp4")
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    after = {v.name: v.stat().st_mtime_ns for v in (run / "videos").iterdir()}
    assert sorted(after) == sorted(before) == ["step_0000000000.mp4", "step_0000000080.mp4"]
    assert after["step_0000000000.mp4"] == before["step_0000000000.mp4"]
    assert after["step_0000000080.mp4"] != before["step_0000000080.mp4"]
    again, _ = _video(run / "videos" / "step_0000000080.mp4")
    assert all(np.array_equal(a, b) for a, b in zip(original, again, strict=True))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_training_video_without_a_renderer_fails_before_the_run(backend: str, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    from mujoco.rendering.classic import gl_context

    from tdmpc_parity.core import video

    monkeypatch.setattr(video, "_CHOSEN", [])
    monkeypatch.setattr(gl_context, "GLContext", None, raising=False)
    monkeypatch.setattr(video, "_probe", lambda name: f"{name} cannot open a display")
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    run = tmp_path / "run"
    rc = main(["train", "--backend", backend, "--config", TINY, "--steps", "40", "--run-dir", str(run),
               "--no-progress", *RUN, "video_every=20"])
    err = capsys.readouterr().err
    assert rc == 2 and "video_every=20 writes a rollout video during training, but no OpenGL backend" in err
    assert "apt-get install -y libosmesa6" in err and not run.exists()


def test_checkpoint_only_run_folder_gives_the_same_episodes(torch_run: Path, tmp_path: Path, capsys) -> None:
    """A run that has checkpoints but no model.npz (crashed) is evaluated from its last checkpoint; the final
    checkpoint holds the final weights, so the same seed gives the same returns as model.npz."""
    crashed = tmp_path / "crashed"
    shutil.copytree(torch_run, crashed)
    (crashed / "model.npz").unlink()
    results = []
    for src in (torch_run, crashed):
        rc, out, err = _eval(capsys, str(src), "--episodes", "2", "--out", str(tmp_path / src.name))
        assert rc == 0, err
        results.append(json.loads((tmp_path / src.name / "eval.json").read_text()))
    assert re.search(r"checkpoint .*step_000000000040 \(agent step 40, torch\)", results[1]["loaded"])
    assert results[0]["returns"] == results[1]["returns"]


@pytest.fixture(scope="module")
def jax_run(torch_run: Path) -> Path:
    """A JAX Glass run folder whose only weights are in a training checkpoint (orbax): the torch run's final
    weights in a JAX TrainState (the rest of the state zeros: eval reads the parameters only)."""
    import jax
    import jax.numpy as jnp

    from jax_impl import checkpoint
    from jax_impl.train import programs_for
    from jax_impl.weights import from_canonical

    run = torch_run.parent / "jax_run"
    cfg = load_config(yaml_path=torch_run / "config.json", values={"backend": "jax"})
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    programs = programs_for(cfg)
    zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype),
                         jax.eval_shape(programs.init_state, jnp.zeros((), jnp.uint32)))
    params = from_canonical(programs.agent.model, load_weights(torch_run / "model.npz"), zeros.agent.params)
    state = zeros._replace(agent=zeros.agent._replace(params=params))
    checkpoint.save(run, 40, cfg, state, {"last_eval": -1, "last_save": 40, "last_diag": 0, "elapsed": 0.0})
    return run


def test_jax_run_folder_checkpoint_video_overlay(jax_run: Path, torch_run: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "ev"
    video = tmp_path / "clip.mp4"
    rc, out, err = _eval(capsys, str(jax_run), "--episodes", "2", "--video", str(video), "--glass-overlay",
                         "--size", f"{SIZE}x{SIZE}", "--out", str(out_dir))
    assert rc == 0, err
    ev = _check_summary(out, out_dir, 2)
    assert ev["backend"] == "jax" and "(agent step 40, jax)" in ev["loaded"]
    assert ev["video"]["path"] == str(video) and ev["video"]["fps"] == pytest.approx(100.0)
    cfg = load_config(yaml_path=jax_run / "config.json")
    want = _check_overlay(video, out_dir / "rollout.npz", load_weights(torch_run / "model.npz"), cfg.glass.t_proto)
    _check_rollout_charts(out_dir, 2, want, cfg.glass.num_clusters)


def test_official_checkpoint_with_int64_buffers_evaluates_in_both_backends(tmp_path: Path, capsys) -> None:
    import torch

    from torch_ref.official_checkpoint import save_official
    from torch_ref.world_model import WorldModel

    cfg = load_config(yaml_path=TINY, overrides=RUN)
    torch.manual_seed(3)
    path = tmp_path / "official" / "model.pt"
    save_official(WorldModel(cfg), path)
    raw = torch.load(path, weights_only=True)["model"]
    assert raw["log_std_min"].dtype == raw["log_std_dif"].dtype == torch.int64  # as the official code writes them
    for backend in ("torch", "jax"):  # jax: with a video, so that it runs the episode program compiled above
        out_dir = tmp_path / backend
        video = ["--video", "--size", f"{SIZE}x{SIZE}"] if backend == "jax" else []
        rc, out, err = _eval(capsys, str(path), "--backend", backend, "--task", "cartpole-balance", "--config", TINY,
                             *RUN, "--episodes", "2", "--out", str(out_dir), *video)
        assert rc == 0, err
        ev = _check_summary(out, out_dir, 2)
        assert ev["source_kind"] == "official" and ev["backend"] == backend and "glass" not in ev
        if video:
            frames, meta = _video(out_dir / "rollout.mp4")
            assert len(frames) == FRAMES and meta["size"] == (SIZE, SIZE)


def _fresh_run(tmp_path: Path, name: str, *extra: str) -> Path:
    run = tmp_path / name
    run.mkdir()
    cfg = load_config(yaml_path=TINY, overrides=[*RUN, *extra])
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    return run


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    no_weights = _fresh_run(tmp_path, "crashed_early")
    rc, _, err = _eval(capsys, str(no_weights))
    assert rc == 2 and "has neither a checkpoint nor model.npz" in err and "save_every" in err
    official = tmp_path / "model.pt"
    official.write_bytes(b"")
    rc, _, err = _eval(capsys, str(official))
    assert rc == 2 and "official TD-MPC2 checkpoint, which does not say its task: give --task" in err
    rc, _, err = _eval(capsys, str(no_weights), "--video", "--glass-overlay")
    assert rc == 2 and "--glass-overlay needs a Glass run" in err and "has Glass off" in err
    rc, _, err = _eval(capsys, str(no_weights), "--gallery")
    assert rc == 2 and "--gallery needs a Glass run" in err
    rc, _, err = _eval(capsys, str(tmp_path / "nowhere"))
    assert rc == 2 and "does not exist" in err
    seeds = tmp_path / "seeds"
    for s in (1, 2):
        shutil.copytree(no_weights, seeds / f"seed_{s}")
    rc, _, err = _eval(capsys, str(seeds))
    assert rc == 2 and "is a --seeds folder (seed_1, seed_2): evaluate one seed's run folder" in err
    glass_run = _fresh_run(tmp_path, "glass_run", "glass=phase1b")
    rc, _, err = _eval(capsys, str(glass_run), "--glass-overlay")
    assert rc == 2 and "--glass-overlay draws on the video: add --video" in err
    rc = main(["eval", str(glass_run), "--video", "--size", "95x96"])
    err = capsys.readouterr().err
    assert rc == 2 and "width and height must be even" in err
    rc = main(["train", "--config", TINY, "--run-dir", str(tmp_path / "never"), *RUN, "video_every=-2"])
    err = capsys.readouterr().err
    assert rc == 2 and "config field 'video_every': must be >= 0 (0: no videos), got -2" in err


def test_no_gl_backend_says_what_to_install(monkeypatch) -> None:
    from mujoco.rendering.classic import gl_context

    from tdmpc_parity.core import video

    monkeypatch.setattr(video, "_CHOSEN", [])
    monkeypatch.setattr(gl_context, "GLContext", None, raising=False)
    monkeypatch.setattr(video, "_probe", lambda name: f"{name} cannot open a display")
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    with pytest.raises(RenderError, match=r"apt-get install -y libosmesa6.*MUJOCO_GL=egl: egl cannot open a display; "
                                          r"MUJOCO_GL=osmesa: osmesa cannot"):
        video.select_gl()


@pytest.mark.parametrize("K", [3, 8, 12])
def test_overlay_draws_the_argmax_and_reads_back(K: int) -> None:
    rng = np.random.default_rng(K)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for _ in range(20):
        q = rng.dirichlet(np.ones(K) * 0.5)
        img, k = draw_overlay(frame, q)
        assert k == int(np.argmax(q)) and read_overlay_index(img, K) == k
        assert np.array_equal(img[120:, 160:], frame[120:, 160:])  # only the corner panel changes


def test_each_frame_shows_the_cluster_of_its_agent_step() -> None:
    """Frame f of a video belongs to agent step f // action_repeat: its panel shows argmax_k q[f // R]."""
    from tdmpc_parity.core.episodes import overlay_frames

    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(8) * 0.3, size=L + 1)
    frames = [np.full((SIZE, SIZE, 3), 40 + f, np.uint8) for f in range(FRAMES)]
    drawn_frames, drawn = overlay_frames(frames, q, R)
    want = [int(np.argmax(q[f // R])) for f in range(FRAMES)]
    assert len(set(want)) > 1 and drawn.tolist() == want
    assert [read_overlay_index(f, 8) for f in drawn_frames] == want
