"""One evaluated episode as both backends' `Evaluator` returns it (torch_ref/rollout.py, jax_impl/episodes.py),
the interface of such an evaluator, and an episode's frames with the Glass cluster overlay
(tdmpc_parity/core/video.py `draw_overlay`): frame f shows argmax_k q_k of agent step t = f // action_repeat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass
class EpisodeRecord:
    """One evaluated episode: its return, latents (L+1, Z), when rendered 1 + L * action_repeat frames, and the
    reward r_t of each agent step t = 0..L-1 (L,) (the return is their running sum)."""

    ret: float
    latents: np.ndarray
    frames: list[np.ndarray] | None
    rewards: np.ndarray | None = None


class EpisodeEvaluator(Protocol):
    """What a backend's rollout `Evaluator` offers: episode i (rendered with a RenderSpec, else None), the Glass
    arrays of an episode's latents (key "q": (L+1, K) cluster probabilities) and the frame rate of its frames."""

    fps: float

    def episode(self, i: int, render: Any = None) -> EpisodeRecord: ...

    def glass(self, latents: np.ndarray) -> dict[str, np.ndarray]: ...


def overlay_frames(frames: list[np.ndarray], q: np.ndarray, repeat: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Frame f with the cluster panel of q[f // repeat]; also the drawn indices (F,)."""
    from tdmpc_parity.core.video import draw_overlay

    out, drawn = [], []
    for f, frame in enumerate(frames):
        img, k = draw_overlay(frame, q[f // repeat])
        out.append(img)
        drawn.append(k)
    return out, np.asarray(drawn, np.int64)
