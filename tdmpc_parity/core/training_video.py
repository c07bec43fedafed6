"""Videos during training (config `video_every`, env steps; 0 = off), shared by both backends' trainers.

At the first evaluation at or after each multiple of `video_every` env steps (the evaluation at env step 0
included), the trainer writes RUN_DIR/videos/step_<env_step>.mp4 (10-digit env step): the rollout video of
`tdmpc-parity eval RUN --video` with the weights of that moment — episode 0 of the backend's `Evaluator`
(MPPI in eval mode, no action noise; env seeded seed + 10_000 in torch, keys from
fold_in(PRNGKey(seed), 10_000) in JAX), 1 + L x action_repeat frames of DEFAULT_SIZE at the env's control rate,
camera 0 — with the Glass cluster overlay (tdmpc_parity/core/episodes.py `overlay_frames`) when Glass is on. It
runs on its own agent copy and env, so it never touches the training state or its random streams. Each backend's
`write_training_video` (torch_ref/rollout.py, jax_impl/episodes.py) builds that `Evaluator` and calls
`render_training_video`.

Due rule: video index = env_step // video_every; a video is due when the index grew since the last video (index
-1 before the first), so an evaluation that skips past several multiples writes one video. The trainers keep the
last index in their checkpoints; a resumed run first deletes the videos past its checkpoint's env step (as
tdmpc_parity/core/runlog.py drops the rows logged after it) and writes them again when it gets there: no video twice,
none lost. `require_video_writer` checks at the trainer's start that frames can be rendered and MP4s written
(the errors of `eval --video`), so a missing renderer fails before the run, not at its first video.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.episodes import EpisodeEvaluator, overlay_frames

VIDEO_DIR = "videos"
DEFAULT_SIZE = (320, 240)  # width, height: eval's default --size
_NAME = re.compile(r"step_(\d+)\.mp4")


def video_path(run_dir: str | Path, env_step: int) -> Path:
    """RUN_DIR/videos/step_<env_step, 10 digits>.mp4."""
    return Path(run_dir) / VIDEO_DIR / f"step_{env_step:010d}.mp4"


def video_index(cfg: Config, env_step: int) -> int:
    """env_step // video_every (0 when videos are off)."""
    return env_step // cfg.video_every if cfg.video_every > 0 else 0


def video_due(cfg: Config, env_step: int, last_index: int) -> bool:
    """A video is due at an evaluation at `env_step` when its index grew past the last video's (-1: none yet)."""
    return cfg.video_every > 0 and video_index(cfg, env_step) > last_index


def require_video_writer(cfg: Config) -> None:
    """With video_every > 0: MuJoCo can render here (tdmpc_parity/core/video.py `select_gl`) and imageio +
    imageio-ffmpeg are installed; else a ValueError with `eval --video`'s message of what to install."""
    if cfg.video_every <= 0:
        return
    from tdmpc_parity.core.video import VIDEO_INSTALL, RenderError, select_gl

    what = f"video_every={cfg.video_every} writes a rollout video during training, but"
    try:
        select_gl()
    except RenderError as exc:
        raise ValueError(f"{what} {exc}") from None
    if importlib.util.find_spec("imageio") is None or importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ValueError(f"{what} MP4 files need imageio and imageio-ffmpeg: {VIDEO_INSTALL}")


def drop_videos_after(run_dir: str | Path, env_step: int) -> list[Path]:
    """Delete RUN_DIR/videos/step_<n>.mp4 with n > env_step (a resumed run writes them again); the deleted paths."""
    dropped = []
    for path in sorted((Path(run_dir) / VIDEO_DIR).glob("step_*.mp4")):
        match = _NAME.fullmatch(path.name)
        if match and int(match.group(1)) > env_step:
            path.unlink()
            dropped.append(path)
    return dropped


def render_training_video(cfg: Config, evaluator: EpisodeEvaluator, run_dir: str | Path, env_step: int) -> Path:
    """Render episode 0 of `evaluator` (a backend's rollout `Evaluator` built with render=True, module docstring)
    into video_path(run_dir, env_step); with Glass, each frame f shows argmax_k q_k(z_t), t = f // action_repeat."""
    from tdmpc_parity.core.video import RenderSpec, write_mp4

    record = evaluator.episode(0, RenderSpec(height=DEFAULT_SIZE[1], width=DEFAULT_SIZE[0]))
    frames = record.frames
    if cfg.glass.enabled:
        frames, _ = overlay_frames(frames, evaluator.glass(record.latents)["q"], cfg.action_repeat)
    path = video_path(run_dir, env_step)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_mp4(path, frames, evaluator.fps)
