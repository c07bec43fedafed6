"""Device, dtype and matmul precision for the torch backend (no hard-coded `cuda`)."""

from __future__ import annotations

import torch

from harness.config import Config

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def select_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else CPU; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but torch sees no CUDA device")
    return torch.device(name)


def set_matmul_precision(precision: str) -> None:
    """'highest' disables TF32 (exact comparisons); 'high' allows it, as the official code does."""
    torch.set_float32_matmul_precision(precision)
    allow = precision != "highest"
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def configure(cfg: Config) -> tuple[torch.device, torch.dtype]:
    """Apply the config's precision setting and return (device, dtype)."""
    set_matmul_precision(cfg.matmul_precision)
    return select_device(cfg.device), DTYPES[cfg.dtype]
