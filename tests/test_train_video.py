"""`video_every` in the JAX trainer: each seed of a `--seeds` run writes its own videos with its own weights, at the
first evaluation at or after each multiple, and a training video is `eval --video` of that seed's weights at that
moment. (torch, with the Glass overlay, and the resume: tests/test_eval.py.)

The runs have the settings of tests/test_train_jax.py (tests/train_helpers.py, seeds 1 and 2), whose compiled
training programs they reuse when that module ran first in the same process. The default test replaces the
renderer by a recorder (what is asked, with which weights, when); the slow one (~1 min on 2 cores after
tests/test_train_jax.py, ~2 min alone; mostly compiling the rendering episode) writes and reads back the MP4s.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.core.weights import load_weights
from tests.train_helpers import cli_args

L, R = 50, 2  # episode length (tests/train_helpers.py), action repeat
FRAMES = 1 + L * R


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


def test_jax_seeds_ask_for_their_videos_with_their_weights(tmp_path: Path, monkeypatch) -> None:
    """100 agent steps, evaluations at env steps 0 and 200, video_every=150: per seed a video at env steps 0 and
    200 (the first evaluation at or after 150), in the seed's folder, with the seed's weights of that moment (the
    last ones are model.npz); the checkpoint keeps the last video's index."""
    import jax_impl.train as jax_train

    calls = []

    def record(cfg, canon, seed, run_dir, env_step):
        calls.append((seed, Path(run_dir), env_step, dict(canon)))
        return Path(run_dir) / "videos" / f"step_{env_step:010d}.mp4"

    monkeypatch.setattr(jax_train, "write_training_video", record)
    run = tmp_path / "jax"
    assert cli(cli_args("jax", 100, run, "--seeds", "1,2", "video_every=150")) == 0
    assert [c[:3] for c in calls] == [(1, run / "seed_1", 0), (2, run / "seed_2", 0), (1, run / "seed_1", 200),
                                      (2, run / "seed_2", 200)]
    for seed, run_dir, env_step, canon in calls:
        final = load_weights(run_dir / "model.npz")
        assert canon.keys() == final.keys()
        same = all(np.array_equal(canon[k], final[k]) for k in final)
        assert same == (env_step == 200), (seed, env_step)  # the pre-training updates changed the weights
        meta = json.loads((run_dir / "checkpoints" / "step_000000000100" / "meta.json").read_text())
        assert meta["last_video"] == 200 // 150  # a resume from this checkpoint writes no video twice
    assert not all(np.array_equal(calls[2][3][k], calls[3][3][k]) for k in calls[2][3])  # two agents


@pytest.mark.slow
def test_jax_seeds_write_their_videos_and_each_is_the_eval_video(tmp_path: Path, capsys) -> None:
    """100 agent steps, evaluations at env steps 0 and 200, video_every=150: per seed a video at env steps 0 and
    200 (the first evaluation at or after 150) of 1 + 50 x 2 frames at 320x240 and 100 fps; the last one is frame
    for frame `eval SEED_DIR --video` of the seed's final weights (model.npz)."""
    run = tmp_path / "jax"
    assert cli(cli_args("jax", 100, run, "--seeds", "1,2", "video_every=150")) == 0
    last = {}
    for seed in (1, 2):
        videos = sorted((run / f"seed_{seed}" / "videos").iterdir())
        assert [v.name for v in videos] == ["step_0000000000.mp4", "step_0000000200.mp4"]
        for video in videos:
            frames, meta = _video(video)
            assert len(frames) == FRAMES and meta["size"] == (320, 240) and meta["fps"] == 100.0
        last[seed] = frames
    assert not np.array_equal(last[1][-1], last[2][-1])  # two agents, two episodes
    out_dir = tmp_path / "ev"
    assert cli(["eval", str(run / "seed_2"), "--episodes", "1", "--video", "--out", str(out_dir), "--no-progress"]) == 0
    capsys.readouterr()
    evaluated, _ = _video(out_dir / "rollout.mp4")
    assert len(evaluated) == FRAMES and all(np.array_equal(a, b) for a, b in zip(last[2], evaluated, strict=True))
