"""Frames of MuJoCo states, the Glass cluster overlay, the prototype gallery grid, and MP4 files.

Backend-free: NumPy; `mujoco` (the offscreen renderer), `imageio` + `imageio-ffmpeg` (MP4) and matplotlib's
colour table are imported lazily, inside the functions that need them.

OpenGL. MuJoCo picks its GL backend once, when it is first imported, from MUJOCO_GL; `tdmpc-parity` sets
"disable" (nothing renders during training) and dm_control does the same on import. `select_gl` makes
`mujoco.Renderer` work in this process anyway: it keeps a backend MuJoCo already has, else takes MUJOCO_GL's
value when that names one (egl, osmesa, glfw), else the first of egl, osmesa that renders in a fresh process
(probed in a subprocess, because a failed EGL attempt cannot be undone in this one: PyOpenGL fixes its
platform on import), and installs that backend's GLContext into MuJoCo's renderer module. EGL renders on a
GPU (or with Mesa's software driver); OSMesa on any CPU (Debian/Ubuntu: `apt-get install -y libosmesa6`).

Overlay (`draw_overlay`): in the top-left corner, on a black panel, the cluster index argmax_k q_k in white
3x5-pixel digits (each font pixel a `scale` x `scale` block), and under it one bar per cluster of height
proportional to q_k (the argmax bar in its cluster colour, the others grey). `read_overlay_index` decodes the
digits back from a frame (the tests read them out of the MP4).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.core.fsutil import atomic_file

GL_CANDIDATES = ("egl", "osmesa")
GL_NAMES = ("egl", "osmesa", "glfw")
GL_INSTALL = ("no OpenGL backend can render here. On a CPU machine install OSMesa (Debian/Ubuntu: "
              "`apt-get install -y libosmesa6`; then MUJOCO_GL=osmesa is used); on a GPU machine EGL comes with "
              "the NVIDIA driver (MUJOCO_GL=egl)")
VIDEO_INSTALL = "pip install -e '.[video]' (imageio and imageio-ffmpeg)"
_PROBE = ("import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco/>'); r = mujoco.Renderer(m, 16, 16); "
          "r.update_scene(mujoco.MjData(m)); r.render(); r.close(); print('render-ok')")
_CHOSEN: list[str] = []  # the backend select_gl installed in this process


class RenderError(RuntimeError):
    """Rendering cannot work here (no GL backend, no video writer): the message says what to install."""


# ----------------------------------------------------------------------------------------------------------
# OpenGL and the renderer
# ----------------------------------------------------------------------------------------------------------


def _probe(name: str) -> str | None:
    """None when MuJoCo renders a 16x16 frame in a fresh process with MUJOCO_GL=name, else the reason."""
    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    env["MUJOCO_GL"] = name
    try:
        with warnings.catch_warnings():  # JAX warns about any fork; the child execs Python at once
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            res = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                                 timeout=120)
    except subprocess.TimeoutExpired:
        return "timed out"
    if res.returncode == 0 and "render-ok" in res.stdout:
        return None
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {res.returncode}"


def _install(name: str) -> None:
    """Make `name` MuJoCo's GL backend in this process (its GLContext class into the renderer's module)."""
    platform = os.environ.get("PYOPENGL_PLATFORM")
    want = {"egl": "egl", "osmesa": "osmesa"}.get(name)
    if "OpenGL" in sys.modules and want is not None and platform not in (None, want):
        raise RenderError(f"PyOpenGL was already loaded for the {platform!r} platform, so MUJOCO_GL={name} cannot "
                          f"be used in this process; start it with MUJOCO_GL={name} PYOPENGL_PLATFORM={want}")
    if name == "egl":
        from mujoco.egl import GLContext
    elif name == "osmesa":
        from mujoco.osmesa import GLContext
    else:
        from mujoco.glfw import GLContext
    from mujoco.rendering.classic import gl_context

    gl_context.GLContext = GLContext


def select_gl() -> str:
    """The GL backend MuJoCo's offscreen renderer uses in this process, installing one if needed (module doc)."""
    if _CHOSEN:
        return _CHOSEN[0]
    from mujoco.rendering.classic import gl_context

    asked = os.environ.get("MUJOCO_GL", "").lower().strip()
    if getattr(gl_context, "GLContext", None) is not None:  # mujoco was imported with a GL backend
        _CHOSEN.append(asked or "glfw")
        return _CHOSEN[0]
    candidates = [asked] if asked in GL_NAMES else list(GL_CANDIDATES)
    reasons = []
    for name in candidates:
        why = _probe(name)
        if why is None:
            _install(name)
            _CHOSEN.append(name)
            return name
        reasons.append(f"MUJOCO_GL={name}: {why}")
    raise RenderError(f"{GL_INSTALL} (tried {'; '.join(reasons)})")


@dataclass(frozen=True)
class RenderSpec:
    """Frame size in pixels and the camera (an index of the model's cameras; -1 = MuJoCo's free camera)."""

    height: int = 240
    width: int = 320
    camera: int = 0

    def __post_init__(self) -> None:
        if self.height < 16 or self.width < 16 or self.height % 2 or self.width % 2:
            raise ValueError(f"frame size {self.width}x{self.height}: width and height must be even and >= 16 "
                             "(the MP4's yuv420p pixels come in 2x2 blocks)")


class FrameRenderer:
    """`mujoco.Renderer` of one MjModel: RGB frames (H, W, 3) uint8 of an MjData, or of a (qpos, qvel) state."""

    def __init__(self, model: Any, spec: RenderSpec):
        import mujoco

        select_gl()
        self._mujoco, self.model, self.spec = mujoco, model, spec
        if spec.camera >= model.ncam:
            raise ValueError(f"camera {spec.camera} does not exist: the model has {model.ncam} camera(s) "
                             f"(0..{model.ncam - 1}; -1 is the free camera)")
        buf_w, buf_h = model.vis.global_.offwidth, model.vis.global_.offheight
        if spec.width > buf_w or spec.height > buf_h:
            raise ValueError(f"frame size {spec.width}x{spec.height} exceeds the task model's offscreen framebuffer "
                             f"({buf_w}x{buf_h}): give --size up to {buf_w}x{buf_h}")
        self._renderer = mujoco.Renderer(model, spec.height, spec.width)
        self._data: Any = None

    def render(self, data: Any) -> np.ndarray:
        """The frame of `data` (its kinematics must be current, as after mj_step / mj_forward)."""
        self._renderer.update_scene(data, camera=self.spec.camera)
        return np.array(self._renderer.render(), dtype=np.uint8)

    def render_state(self, qpos: np.ndarray, qvel: np.ndarray, mocap_pos: np.ndarray | None = None,
                     mocap_quat: np.ndarray | None = None) -> np.ndarray:
        """The frame of a state: qpos, qvel (and the mocap bodies' poses, where an episode moves them: the targets
        of Playground's reacher, finger-turn, fish, swimmer) copied into an MjData of the model, then `mj_forward`."""
        if self._data is None:
            self._data = self._mujoco.MjData(self.model)
        self._data.qpos[:] = np.asarray(qpos, np.float64)
        self._data.qvel[:] = np.asarray(qvel, np.float64)
        if mocap_pos is not None:
            self._data.mocap_pos[:] = np.asarray(mocap_pos, np.float64)
        if mocap_quat is not None:
            self._data.mocap_quat[:] = np.asarray(mocap_quat, np.float64)
        self._mujoco.mj_forward(self.model, self._data)
        return self.render(self._data)

    def close(self) -> None:
        self._renderer.close()


# ----------------------------------------------------------------------------------------------------------
# MP4 and PNG files
# ----------------------------------------------------------------------------------------------------------


def write_mp4(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Frames (H, W, 3) uint8 -> H.264 MP4 (yuv420p, every frame kept, no resizing), written atomically."""
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise RenderError(f"writing an MP4 needs imageio and imageio-ffmpeg: {VIDEO_INSTALL}") from None
    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    with atomic_file(path, suffix=".mp4") as tmp, warnings.catch_warnings():
        # ffmpeg runs in a subprocess: JAX warns about any fork, but the child execs ffmpeg at once
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        try:
            writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                                        macro_block_size=2, ffmpeg_log_level="error")
        except (ImportError, RuntimeError) as exc:  # imageio-ffmpeg missing
            raise RenderError(f"writing an MP4 needs imageio-ffmpeg ({exc}): {VIDEO_INSTALL}") from None
        with writer:
            for frame in frames:
                writer.append_data(np.asarray(frame, np.uint8))
    return path


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """An RGB image (H, W, 3) uint8 as PNG (matplotlib's writer), atomically."""
    from matplotlib.image import imsave

    path = Path(path)
    with atomic_file(path, suffix=".png") as tmp:
        imsave(tmp, np.asarray(image, np.uint8), format="png")
    return path


# ----------------------------------------------------------------------------------------------------------
# Drawing: digits, the cluster overlay, the gallery grid
# ----------------------------------------------------------------------------------------------------------

_FONT = {  # 3x5 digits, rows top to bottom
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
}
_GLYPHS = {d: np.array([[c == "1" for c in row] for row in rows]) for d, rows in _FONT.items()}
GREY = np.array([128, 128, 128], np.uint8)


def cluster_colours(num_clusters: int) -> np.ndarray:
    """(K, 3) uint8: matplotlib's tab10 (tab20 above 10 clusters), the colours of the scatter plot too."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if num_clusters <= 10 else "tab20"]
    return np.array([np.round(np.array(cmap(k % cmap.N)[:3]) * 255) for k in range(num_clusters)], np.uint8)


def overlay_scale(height: int) -> int:
    """Pixels per font pixel: 1 below 200 px frames, then one more per 100 px of height."""
    return max(1, height // 100)


def _digits(num_clusters: int) -> int:
    return len(str(max(num_clusters - 1, 0)))


def draw_digits(img: np.ndarray, text: str, y: int, x: int, scale: int, colour: np.ndarray) -> None:
    """Draw decimal `text` in place at (y, x), 3x5 glyphs with a one-font-pixel gap, `scale` pixels per pixel."""
    for i, ch in enumerate(text):
        glyph = np.kron(_GLYPHS[ch], np.ones((scale, scale), bool))
        x0 = x + i * 4 * scale
        region = img[y:y + 5 * scale, x0:x0 + 3 * scale]
        region[glyph[:region.shape[0], :region.shape[1]]] = colour


def _bar_layout(num_clusters: int, width: int, scale: int) -> tuple[int, int]:
    """(bar width, gap) in pixels: 2 x scale wide, 1 x scale apart, narrowed to fit half the frame."""
    bar, gap = 2 * scale, scale
    while bar > 1 and num_clusters * (bar + gap) > width // 2:
        bar -= 1
        gap = min(gap, bar)
    return bar, gap


def draw_overlay(frame: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, int]:
    """A copy of `frame` with the cluster panel of the cluster probabilities q (K,); returns (frame, argmax q)."""
    q = np.asarray(q, np.float64).ravel()
    K = q.size
    k = int(np.argmax(q))
    out = np.array(frame, np.uint8, copy=True)
    H, W = out.shape[:2]
    s = overlay_scale(H)
    bar, gap = _bar_layout(K, W, s)
    text_w = _digits(K) * 4 * s - s
    bars_h = 8 * s
    panel_h = s + 5 * s + s + bars_h + s
    panel_w = min(W, s + max(text_w, K * (bar + gap) - gap) + s)
    out[:panel_h, :panel_w] = 0
    draw_digits(out, str(k).zfill(_digits(K)), s, s, s, np.array([255, 255, 255], np.uint8))
    colours = cluster_colours(K)
    base = s + 5 * s + s + bars_h  # bottom of the bars
    for j in range(K):
        h = int(round(float(np.clip(q[j], 0.0, 1.0)) * bars_h))
        x0 = s + j * (bar + gap)
        if h > 0 and x0 + bar <= W:
            out[base - h:base, x0:x0 + bar] = colours[j] if j == k else GREY
    return out, k


def read_digits(img: np.ndarray, y: int, x: int, n: int, scale: int) -> str:
    """Decode `n` digits drawn by `draw_digits` at (y, x): each font pixel's centre thresholded at half grey."""
    grey = np.asarray(img, np.float64)[..., :3].mean(axis=-1)
    text = ""
    for i in range(n):
        x0 = x + i * 4 * scale
        cells = np.array([[grey[y + r * scale + scale // 2, x0 + c * scale + scale // 2] > 128 for c in range(3)]
                          for r in range(5)])
        match = [d for d, g in _GLYPHS.items() if np.array_equal(g, cells)]
        if len(match) != 1:
            raise ValueError(f"no digit drawn at ({y}, {x0}): {cells.astype(int).tolist()}")
        text += match[0]
    return text


def read_overlay_index(frame: np.ndarray, num_clusters: int) -> int:
    """The cluster index `draw_overlay` drew into `frame` (read back from the pixels)."""
    s = overlay_scale(np.asarray(frame).shape[0])
    return int(read_digits(frame, s, s, _digits(num_clusters), s))


GALLERY_PAD = 2  # black pixels between and around the gallery's cells


def gallery_grid(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] | None = None,
                 colours: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """One image of rows x columns frames (H, W, 3), GALLERY_PAD black pixels around each cell; a row's label
    (white digits) and colour swatch are drawn into the top-left corner of its first cell.

    Size: (rows * (H + pad) + pad, cols * (W + pad) + pad, 3); a row with fewer frames leaves black cells."""
    n_rows = len(rows)
    n_cols = max(len(r) for r in rows)
    H, W = np.asarray(rows[0][0]).shape[:2]
    p = GALLERY_PAD
    grid = np.zeros((n_rows * (H + p) + p, n_cols * (W + p) + p, 3), np.uint8)
    s = overlay_scale(H)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            y, x = p + i * (H + p), p + j * (W + p)
            grid[y:y + H, x:x + W] = np.asarray(frame, np.uint8)
        y, x = p + i * (H + p), p
        if labels is not None:
            text = labels[i]
            grid[y:y + 7 * s, x:x + 4 * s * len(text) + s + 4 * s] = 0
            draw_digits(grid, text, y + s, x + s, s, np.array([255, 255, 255], np.uint8))
            if colours is not None:
                sx = x + 4 * s * len(text) + s
                grid[y + s:y + 6 * s, sx:sx + 3 * s] = colours[i]
    return grid


def top_frames(similarity: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices of the k rows of `similarity` (T, N) with the largest value per column, best first."""
    sim = np.asarray(similarity, np.float64)
    k = min(k, sim.shape[0])
    return np.argsort(-sim, axis=0, kind="stable")[:k].T
