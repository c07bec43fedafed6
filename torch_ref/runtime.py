"""Device, dtype and matmul precision for the torch backend (no hard-coded `cuda`).

The matmul precision is a property of the agent's computations, never a process-wide setting (mirror of
jax_impl/runtime.py): the linear layers carry the `bf16` mode explicitly (`layers.linear`); the agent's
computations (`TDMPC2.update_core` with its backward pass, `TDMPC2.act`) run inside
`matmul_precision(cfg.matmul_precision)`, which sets CUDA's TF32 flags and restores them on exit.
CPU matmuls are float32 in every mode (TF32 is a CUDA mode; torch's oneDNN CPU flag is left alone).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from tdmpc_parity.core.config import Config

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MODES = ("highest", "high", "bf16")
F = TypeVar("F", bound=Callable[..., Any])


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"matmul precision {mode!r} is not one of {MODES}")
    return mode


@contextmanager
def matmul_precision(mode: str) -> Iterator[None]:
    """CUDA float32 matmuls (and cuDNN convolutions) run inside with TF32 allowed iff `mode` is 'high'
    ('bf16': float32 outside the linear layers, which cast themselves); the previous flags are restored on
    exit, so code run elsewhere keeps the process default (torch's: TF32 off for matmuls)."""
    allow = check_mode(mode) == "high"
    cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    prev = (cuda.allow_tf32, cudnn.allow_tf32)
    cuda.allow_tf32, cudnn.allow_tf32 = allow, allow
    try:
        yield
    finally:
        cuda.allow_tf32, cudnn.allow_tf32 = prev


def agent_precision(method: F) -> F:
    """Method decorator: run an agent method inside `matmul_precision(self.cfg.matmul_precision)`."""
    @functools.wraps(method)
    def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
        with matmul_precision(self.cfg.matmul_precision):
            return method(self, *args, **kwargs)
    return inner  # type: ignore[return-value]


def select_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else CPU; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but torch sees no CUDA device")
    return torch.device(name)


def configure(cfg: Config) -> tuple[torch.device, torch.dtype]:
    """(device, dtype) of the config. The matmul precision is not set here: it is part of the agent's
    computations (module docstring)."""
    check_mode(cfg.matmul_precision)
    return select_device(cfg.device), DTYPES[cfg.dtype]
