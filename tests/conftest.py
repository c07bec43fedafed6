"""Unit tests run tiny models: one torch thread avoids OpenMP spin-waiting when the cores are shared."""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("MUJOCO_GL", "disable")
if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)
