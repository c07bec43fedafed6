"""Dtype and matmul precision for the JAX backend."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp

from harness.config import Config

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


def set_matmul_precision(precision: str) -> None:
    """'highest' = full float32 matmuls (TF32 off on GPU); 'high' allows TF32, as the official code does."""
    jax.config.update("jax_default_matmul_precision", "highest" if precision == "highest" else "high")


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
    """Apply the config's precision; enable x64 for float64 runs; the compilation cache; return the dtype."""
    enable_compilation_cache()
    set_matmul_precision(cfg.matmul_precision)
    if cfg.dtype == "float64" and not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)  # a float64 run (tests use `with jax.enable_x64(True)`)
    if cfg.device.startswith("cuda") and jax.default_backend() != "gpu":
        raise ValueError(f"device {cfg.device!r} was asked for but JAX's backend is {jax.default_backend()!r}")
    return DTYPES[cfg.dtype]
