"""Structural entropy and the Glass loss: torch_ref vs jax_impl on the same NumPy inputs, float32 and float64.

Values and gradients (w.r.t. A and S for H1/H2; w.r.t. prototypes, assign_logits and the latent z_src for the
Glass loss, stopgrad_graph False so the latent gets one) at the suite's tolerances (parity.helpers.compare:
float64 1e-10, float32 1e-5). The Glass cases set every lambda to 1 and sharpen T_proto so that every term and
gradient is O(1e-2 .. 1) rather than vanishing under the tiny preset weights.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jax_impl import glass as jglass
from jax_impl import structural_entropy as jse
from parity.helpers import compare, precision
from tdmpc_parity.core.config import GlassConfig, load_config
from torch_ref import glass as tglass
from torch_ref import structural_entropy as tse

LATENT = 64


def _np_dtype(dtype: str) -> type:
    return np.float64 if dtype == "float64" else np.float32


def simnorm_like(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 2.0) -> np.ndarray:
    x = np.exp(scale * rng.normal(size=shape)).reshape(*shape[:-1], -1, 8)
    return (x / x.sum(-1, keepdims=True)).reshape(shape)


# ----------------------------------------------------------------------------------------------------------
# Structural entropy
# ----------------------------------------------------------------------------------------------------------


def se_inputs(case: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, S): a Glass-like graph (symmetrised row-stochastic P) with soft S, or a sparse graph with an
    isolated node and a hard S with an empty cluster (exercises the clamps' gradient paths)."""
    rng = np.random.default_rng(11)
    n, k = 16, 8
    if case == "soft":
        P = rng.random((n, n)) ** 3
        P = P / P.sum(1, keepdims=True)
        A, S = 0.5 * (P + P.T), np.exp(2 * rng.normal(size=(n, k)))
        S = S / S.sum(1, keepdims=True)
    else:
        W = rng.random((n, n)) * (rng.random((n, n)) < 0.4)
        A = W + W.T
        A[0, :] = A[:, 0] = 0.0
        S = np.eye(k)[rng.integers(0, k - 1, n)]  # cluster k-1 stays empty
    return A.astype(_np_dtype(dtype)), S.astype(_np_dtype(dtype))


def torch_se(A: np.ndarray, S: np.ndarray) -> dict[str, dict[str, torch.Tensor]]:
    out = {}
    fns = {"h1": lambda a, s: tse.h1(a), "h2_glass": lambda a, s: tse.h2(a, s, "glass"),
           "h2_dsi": lambda a, s: tse.h2(a, s, "dsi")}
    for name, fn in fns.items():
        a, s = torch.tensor(A, requires_grad=True), torch.tensor(S, requires_grad=True)
        value = fn(a, s)
        value.backward()
        out[name] = {"value": value.detach(), "dA": a.grad,
                     "dS": s.grad if s.grad is not None else torch.zeros_like(s)}
    return out


def jax_se(A: np.ndarray, S: np.ndarray) -> dict[str, dict[str, jax.Array]]:
    out = {}
    fns = {"h1": lambda a, s: jse.h1(a) + 0.0 * s.sum(), "h2_glass": lambda a, s: jse.h2(a, s, "glass"),
           "h2_dsi": lambda a, s: jse.h2(a, s, "dsi")}
    for name, fn in fns.items():
        value, (dA, dS) = jax.value_and_grad(fn, argnums=(0, 1))(jnp.asarray(A), jnp.asarray(S))
        out[name] = {"value": value, "dA": dA, "dS": dS}
    return out


@pytest.mark.parametrize("case", ["soft", "hard_with_empty_cluster"])
def test_structural_entropy_parity(dtype: str, case: str) -> None:
    A, S = se_inputs(case, dtype)
    with precision(dtype):
        t, j = torch_se(A, S), jax_se(A, S)
        assert all(v.dtype == jnp.dtype(dtype) for d in j.values() for v in d.values())
        assert all(v.dtype == getattr(torch, dtype) for d in t.values() for v in d.values())
        compare(t, j, f"glass/structural_entropy[{case}]", dtype, test="test_structural_entropy_parity")


# ----------------------------------------------------------------------------------------------------------
# The Glass loss
# ----------------------------------------------------------------------------------------------------------

GLASS_CASES: dict[str, tuple[str, dict]] = {
    # preset, then overrides of the preset (stopgrad_graph False everywhere so z_src gets a gradient)
    "phase2_cosine_hinge": ("phase2", dict(t_proto=0.1)),
    "phase0_l2_l2": ("phase0", dict(stopgrad_graph=False)),
    "dsi_form": ("phase2", dict(t_proto=0.05, se_form="dsi", t_assign=0.7)),
}


def glass_case(name: str, dtype: str) -> tuple[GlassConfig, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    preset, extra = GLASS_CASES[name]
    cfg = load_config(overrides=[f"glass={preset}", f"latent_dim={LATENT}"])
    gcfg = replace(cfg.glass, lambda_se=1.0, lambda_bal=1.0, lambda_tmp=1.0, **extra)
    rng = np.random.default_rng(5)
    dt = _np_dtype(dtype)
    z_src, z_next = simnorm_like(rng, (3, 8, LATENT)).astype(dt), simnorm_like(rng, (3, 8, LATENT)).astype(dt)
    logits = 1.5 * rng.normal(size=(gcfg.num_prototypes, gcfg.num_clusters))
    logits[:, 0] += 3.0  # cluster 0 hoards mass: the hinge balance term is active
    params = {"prototypes": simnorm_like(rng, (gcfg.num_prototypes, LATENT), 3.0).astype(dt),
              "assign_logits": logits.astype(dt)}
    return gcfg, params, z_src, z_next


def torch_glass(gcfg: GlassConfig, params: dict[str, np.ndarray], z_src: np.ndarray, z_next: np.ndarray):
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    zs = torch.tensor(z_src, requires_grad=True)
    loss, metrics = tglass.glass_loss(p, zs, torch.tensor(z_next), gcfg)
    loss.backward()
    grads = {"prototypes": p["prototypes"].grad, "assign_logits": p["assign_logits"].grad, "z_src": zs.grad}
    mats = tglass.glass_matrices(p, zs, torch.tensor(z_next), gcfg)
    return {"loss": loss.detach(), "metrics": metrics, "grads": grads, "matrices": mats}


def jax_glass(gcfg: GlassConfig, params: dict[str, np.ndarray], z_src: np.ndarray, z_next: np.ndarray):
    p = {k: jnp.asarray(v) for k, v in params.items()}
    vg = jax.jit(jax.value_and_grad(jglass.glass_loss, argnums=(0, 1), has_aux=True), static_argnums=3)
    (loss, metrics), (gp, gz) = vg(p, jnp.asarray(z_src), jnp.asarray(z_next), gcfg)
    grads = {"prototypes": gp["prototypes"], "assign_logits": gp["assign_logits"], "z_src": gz}
    mats = jglass.glass_matrices(p, jnp.asarray(z_src), jnp.asarray(z_next), gcfg)
    return {"loss": loss, "metrics": metrics, "grads": grads, "matrices": mats}


@pytest.mark.parametrize("case", list(GLASS_CASES))
def test_glass_loss_parity(dtype: str, case: str) -> None:
    gcfg, params, z_src, z_next = glass_case(case, dtype)
    with precision(dtype):
        t = torch_glass(gcfg, params, z_src, z_next)
        j = jax_glass(gcfg, params, z_src, z_next)
        assert j["loss"].dtype == jnp.dtype(dtype) and t["loss"].dtype == getattr(torch, dtype)
        # every term is live and every gradient is non-trivial, so the comparison cannot pass vacuously
        assert all(float(t["metrics"][k]) > 1e-4 for k in ("glass_se", "glass_bal", "glass_tmp"))
        assert all(float(g.abs().max()) > 1e-4 for g in t["grads"].values())
        compare(t, j, f"glass/loss[{case}]", dtype, test="test_glass_loss_parity")
