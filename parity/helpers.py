"""Shared pieces of the parity suite: one comparison helper, shared weights, shared noise.

`compare` walks nested outputs (dicts, tuples, lists), names each leaf (`update.params._Qs.params.0.weight`),
checks shape, converts both sides to NumPy and asserts |t - j| <= atol + rtol |j| at the dtype's tolerance
(float64 1e-10, float32 1e-5 unless a looser one is passed with a reason). Every comparison is recorded in
the session's ParityLog, which `--parity-report DIR` turns into parity.md / parity.json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import torch

from jax_impl import agent as jagent
from jax_impl import weights as jweights
from tdmpc_parity.analysis.parity_report import TOLERANCES, ParityLog
from tdmpc_parity.core.config import Config, load_config
from torch_ref import agent as tagent
from torch_ref import weights as tweights

LOG = ParityLog()

TINY = ["enc_dim=32", "mlp_dim=32", "latent_dim=32", "num_samples=64", "num_elites=8", "num_pi_trajs=8",
        "batch_size=16", "iterations=3"]
# 5M = the official default architecture (and planner sizes); its update batch is cut from 256 to 32 to keep
# the CPU suite short: the batch size changes no code path, the architecture is what the 5M case checks.
SIZES = {"tiny": TINY, "5M": ["batch_size=32"]}


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _leaves(tree: Any, prefix: str) -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out = {}
        for k in tree:
            out.update(_leaves(tree[k], f"{prefix}.{k}"))
        return out
    if isinstance(tree, (tuple, list)) and not hasattr(tree, "shape"):
        if hasattr(tree, "_fields"):
            return {k: v for f in tree._fields for k, v in _leaves(getattr(tree, f), f"{prefix}.{f}").items()}
        out = {}
        for i, v in enumerate(tree):
            out.update(_leaves(v, f"{prefix}[{i}]"))
        return out
    return {prefix: tree}


# float32 only: the logged entropy -log pi includes the tanh correction log(relu(1 - tanh(u)^2) + 1e-6).
# Where |u| > ~9 torch's tanh returns exactly 1.0 and XLA's 1 - 6e-8, so the term differs by up to
# log(1.06) = 0.058 per saturated action dimension. The losses use scaled_entropy, in which the
# correction cancels; it is compared at the default tolerance.
SATURATED_ENTROPY_F32 = {".entropy": (1e-3, 0.25), ".pi_entropy": (1e-3, 1e-2)}  # per sample / batch mean


def compare(t_out: Any, j_out: Any, component: str, dtype: str, rtol: float | None = None,
            atol: float | None = None, test: str = "",
            leaf_tol: Mapping[str, tuple[float, float]] | None = None) -> None:
    """Assert torch and JAX outputs agree leaf by leaf; record the max abs/rel difference of each leaf.

    `leaf_tol` maps a leaf-name suffix to a looser (rtol, atol) for that leaf (a reason must sit beside it).
    """
    d_rtol, d_atol = TOLERANCES[dtype]
    base_rtol, base_atol = rtol if rtol is not None else d_rtol, atol if atol is not None else d_atol
    tl, jl = _leaves(t_out, component), _leaves(j_out, component)
    assert sorted(tl) == sorted(jl), f"{component}: output structure differs: {sorted(tl)} vs {sorted(jl)}"
    for name in sorted(tl):
        rtol, atol = base_rtol, base_atol
        for suffix, tol in (leaf_tol or {}).items():
            if name.endswith(suffix):
                rtol, atol = tol
        a, b = to_numpy(tl[name]), to_numpy(jl[name])
        assert a.shape == b.shape, f"{name}: shape {a.shape} (torch) vs {b.shape} (jax)"
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        diff = np.abs(a64 - b64)
        max_abs = float(diff.max()) if diff.size else 0.0
        max_rel = float((diff / np.maximum(np.abs(b64), atol)).max()) if diff.size else 0.0
        LOG.record(component, dtype, name, max_abs, max_rel, rtol, atol, test)
        bad = ~(diff <= atol + rtol * np.abs(b64))
        if bad.any():
            idx = np.unravel_index(np.argmax(diff - rtol * np.abs(b64)), diff.shape)
            msg = (f"{name} ({dtype}): max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g} exceed "
                   f"rtol={rtol:g} atol={atol:g}; worst at {idx}: torch {a64[idx]!r} vs jax {b64[idx]!r}")
            LOG.failures.append(msg)
            raise AssertionError(msg)


@contextmanager
def precision(dtype: str):
    """float64 runs JAX inside `jax.enable_x64(True)`; float32 runs as is."""
    if dtype == "float64":
        with jax.enable_x64(True):
            yield
    else:
        yield


def make_config(dtype: str, size: str = "tiny", overrides: list[str] | None = None) -> Config:
    return load_config(overrides=["task=hopper-hop", f"dtype={dtype}", *SIZES[size], *(overrides or [])])


def random_canonical(template: Mapping[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Random weights with non-zero heads (so reward/Q outputs are not trivially 0):
    matrices N(0, 1/fan_in), LayerNorm weights 1 + N(0, 0.1^2), other vectors N(0, 0.1^2)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, value in template.items():
        shape = np.shape(value)
        if name in ("log_std_min", "log_std_dif"):
            out[name] = np.asarray(value).copy()
        elif len(shape) >= 2 and not name.startswith("_glass"):
            out[name] = rng.standard_normal(shape) / np.sqrt(shape[-1])
        elif name.endswith("ln.weight"):
            out[name] = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            out[name] = 0.1 * rng.standard_normal(shape)
    return out


@dataclass
class Pair:
    """A torch agent and a JAX agent (+ its state) holding identical weights."""

    cfg: Config
    dtype: str
    torch: tagent.TDMPC2
    jax: jagent.TDMPC2
    jstate: jagent.AgentState
    np_dtype: type

    def t(self, x: np.ndarray) -> torch.Tensor:
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            return torch.as_tensor(arr.astype(self.np_dtype))
        return torch.as_tensor(arr)

    def j(self, x: np.ndarray) -> jax.Array:
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            return jax.numpy.asarray(arr.astype(self.np_dtype))
        return jax.numpy.asarray(arr.astype(np.int32))

    def tn(self, noise: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: self.t(v) for k, v in noise.items()}

    def jn(self, noise: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        return {k: self.j(v) for k, v in noise.items()}


def make_pair(cfg: Config, seed: int = 0,
              transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None) -> Pair:
    """Both agents from one random canonical weight set (call inside `precision(cfg.dtype)`); `transform`
    may change that weight set before both agents load it."""
    np_dtype = np.float64 if cfg.dtype == "float64" else np.float32
    t_agent = tagent.TDMPC2(cfg, n_envs=2)
    canon = random_canonical(tweights.to_canonical(t_agent.model), seed)
    if transform is not None:
        canon = transform(canon)
    canon = {k: v.astype(np_dtype) for k, v in canon.items()}
    tweights.load_canonical(t_agent.model, canon)
    j_agent = jagent.TDMPC2(cfg, n_envs=2)
    state = j_agent.init()
    params = jweights.from_canonical(j_agent.model, canon, state.params)
    state = j_agent.state_from_params(params, state.key)
    return Pair(cfg, cfg.dtype, t_agent, j_agent, state, np_dtype)
