"""Dtype and matmul precision for the JAX backend."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from harness.config import Config

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


def set_matmul_precision(precision: str) -> None:
    """'highest' = full float32 matmuls (TF32 off on GPU); 'high' allows TF32, as the official code does."""
    jax.config.update("jax_default_matmul_precision", "highest" if precision == "highest" else "high")


def configure(cfg: Config):
    """Apply the config's precision; enable x64 for float64 runs; return the dtype."""
    set_matmul_precision(cfg.matmul_precision)
    if cfg.dtype == "float64" and not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)  # a float64 run (tests use `with jax.enable_x64(True)`)
    if cfg.device.startswith("cuda") and jax.default_backend() != "gpu":
        raise ValueError(f"device {cfg.device!r} was asked for but JAX's backend is {jax.default_backend()!r}")
    return DTYPES[cfg.dtype]
