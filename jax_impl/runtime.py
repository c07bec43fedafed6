"""Dtype and matmul precision for the JAX backend.

The matmul precision is a property of each traced program, never a process-wide setting (mirror of
torch_ref/runtime.py): the linear layers carry theirs explicitly (`layers.linear`: `precision=` on the dot, or
the bfloat16 dot of the `bf16` mode); the agent's programs (`TDMPC2.update_core`, `TDMPC2.act`) are traced
inside `matmul_precision(cfg.matmul_precision)` for their other matmuls (Glass); the env physics is traced at
`PHYSICS_PRECISION` whatever the agent's mode. JAX's own default (on GPU: TF32 for float32) is left alone.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

from tdmpc_parity.core.config import Config

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}
MODES = ("highest", "high", "bf16")
# float32 matmuls outside the linear layers: bf16 mode keeps them (Glass, losses) in full float32
_CONTEXT_PRECISION = {"highest": "highest", "high": "high", "bf16": "highest"}
PHYSICS_PRECISION = "highest"  # MJX physics: full float32 in every mode (as training ran it before)
F = TypeVar("F", bound=Callable[..., Any])
# MPPI's horizon-length scans (value estimate, policy trajectories: H = 3 steps) are unrolled into straight-line
# code XLA fuses across steps: the same numbers, bit for bit (tests/test_jax_runtime.py traces both forms). The
# update's latent rollout stays a rolled scan: unrolled, the backward pass sums the dynamics' weight gradient
# over the steps in another order (measured: 15 of 83 parameter leaves 1 ULP apart after one update).
# Read at trace time.
HORIZON_UNROLL = True


def horizon_scan(step: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any) -> tuple[Any, Any]:
    """`jax.lax.scan(step, init, xs)` over a horizon-length axis, unrolled when `HORIZON_UNROLL`."""
    return jax.lax.scan(step, init, xs, unroll=HORIZON_UNROLL)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"matmul precision {mode!r} is not one of {MODES}")
    return mode


def matmul_precision(mode: str) -> AbstractContextManager:
    """Trace-time scope: float32 matmuls traced inside without an explicit precision run at `mode`
    ('highest' = float32, 'high' = TF32 allowed on GPU; 'bf16' = float32 outside the linear layers).
    Restored on exit: code traced elsewhere keeps JAX's default."""
    return jax.default_matmul_precision(_CONTEXT_PRECISION[check_mode(mode)])


def traced_at(mode: str) -> Callable[[F], F]:
    """Decorator: trace the function inside `matmul_precision(mode)`."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with matmul_precision(mode):
                return fn(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap


def agent_precision(method: F) -> F:
    """Method decorator: trace an agent method inside `matmul_precision(self.cfg.matmul_precision)`."""
    @functools.wraps(method)
    def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
        with matmul_precision(self.cfg.matmul_precision):
            return method(self, *args, **kwargs)
    return inner  # type: ignore[return-value]


CACHE_ENV = "TDMPC_PARITY_JAX_CACHE"  # a folder, or "off"


def compilation_cache_dir() -> Path | None:
    """The persistent compilation cache folder: $TDMPC_PARITY_JAX_CACHE, "off" for none, default
    ~/.cache/tdmpc-parity/jax-<version> (one per JAX version: entries of another version are useless)."""
    value = os.environ.get(CACHE_ENV, "")
    if value.lower() == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "tdmpc-parity" / f"jax-{jax.__version__}"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at `compilation_cache_dir()` (before the first compile), so a
    second run of the same programs loads them instead of compiling (minutes on CPU for the training chunk)."""
    folder = compilation_cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)  # only what is worth caching
    return folder


def configure(cfg: Config):
    """Enable x64 for float64 runs and the compilation cache; return the dtype. The matmul precision is not
    set here: it is part of the programs (module docstring)."""
    enable_compilation_cache()
    check_mode(cfg.matmul_precision)
    if cfg.dtype == "float64" and not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)  # a float64 run (tests use `with jax.enable_x64(True)`)
    if cfg.device.startswith("cuda") and jax.default_backend() != "gpu":
        raise ValueError(f"device {cfg.device!r} was asked for but JAX's backend is {jax.default_backend()!r}")
    return DTYPES[cfg.dtype]
