"""Differentiable one- and two-dimensional structural entropy (Li & Pan 2016; docs/glass.md).

Notation: A (N, N) symmetric non-negative similarity, d_i = sum_j A_ij, 2m = sum_i d_i; S (N, K) a soft
assignment whose rows lie on the simplex; V_k = sum_i S_ik d_i (V = S^T d) and
g_k = sum_i S_ik (d_i - (A S)_ik) = V_k - (S^T A S)_kk. Every logarithm is base 2.

Numerical guard (the seed's): the ratios d_i/2m and V_k/2m are clamped to [eps, 1] *inside* log2 only (the
weights in front of the logs are not clamped), so a zero-degree node or an empty cluster contributes exactly
0 and every gradient stays finite, also at uniform S. 2m itself is clamped to >= eps.

Inputs are checked by tdmpc_parity/core/structural_entropy_checks.py (A square, finite, non-negative, symmetric within
SYM_TOL relative to max|A|, 2m > 0; S of shape (N, K), finite, rows on the simplex within SIMPLEX_TOL): a
violation is a ValueError naming the problem, never a NaN. The check copies the inputs to the host (a device
sync); hot loops whose inputs are valid by construction (torch_ref.glass) pass `validate=False`.

Mirrors jax_impl/structural_entropy.py name by name.
"""

from __future__ import annotations

import numpy as np
import torch

from tdmpc_parity.core.structural_entropy_checks import check_assignment, check_graph

FORMS = ("glass", "dsi")


# ----------------------------------------------------------------------------------------------------------
# Input checks (host-side, NumPy)
# ----------------------------------------------------------------------------------------------------------


def _to_numpy(x: torch.Tensor, name: str) -> np.ndarray:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must have a floating-point dtype, got {x.dtype}")
    return x.detach().to("cpu", torch.float64).numpy()


def validate_inputs(A: torch.Tensor, S: torch.Tensor | None = None) -> None:
    """Raise ValueError naming the problem when A (and S, if given) are not valid structural-entropy input."""
    check_graph(_to_numpy(A, "A"))
    if S is not None:
        check_assignment(_to_numpy(S, "S"), A.shape[0])


# ----------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------


def _clamp(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """clamp(x, lo, hi) written with `where`, so the gradient is 1 on [lo, hi] inclusive (as JAX)."""
    return torch.where(x < lo, torch.full_like(x, lo), torch.where(x > hi, torch.full_like(x, hi), x))


def _log2c(x: torch.Tensor, eps: float) -> torch.Tensor:
    """log2(clamp(x, eps, 1)): the seed's numerical guard."""
    return torch.log2(_clamp(x, eps, 1.0))


def degree_terms(A: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(d, 2m): d_i = sum_j A_ij and 2m = max(sum_i d_i, eps)."""
    d = A.sum(dim=-1)
    two_m = torch.clamp(d.sum(), min=eps)
    return d, two_m


def cluster_terms(A: torch.Tensor, S: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, g): V_k = sum_i S_ik d_i, g_k = V_k - sum_i S_ik (A S)_ik (soft volume and soft cut)."""
    V = S.transpose(-1, -2) @ d
    g = V - (S * (A @ S)).sum(dim=0)
    return V, g


def s_from_logits(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """S = softmax(logits / temperature) over the last axis.

    The H functions take S on the simplex (probabilities), never logits: call this first when holding logits.
    """
    return torch.softmax(logits / temperature, dim=-1)


# ----------------------------------------------------------------------------------------------------------
# Structural entropies
# ----------------------------------------------------------------------------------------------------------


def _h1(A: torch.Tensor, eps: float) -> torch.Tensor:
    d, two_m = degree_terms(A, eps)
    p = d / two_m
    return -(p * _log2c(p, eps)).sum()


def _h2_glass(A: torch.Tensor, S: torch.Tensor, eps: float) -> torch.Tensor:
    d, two_m = degree_terms(A, eps)
    V, g = cluster_terms(A, S, d)
    v = V / two_m
    log_v = _log2c(v, eps)
    return -((g / two_m) * log_v).sum() + _h1(A, eps) + (v * log_v).sum()


def _h2_dsi(A: torch.Tensor, S: torch.Tensor, eps: float) -> torch.Tensor:
    d, two_m = degree_terms(A, eps)
    V, g = cluster_terms(A, S, d)
    p, v = d / two_m, V / two_m
    q = S @ v  # (SV)_i / 2m: each node's soft parent volume
    within = -(p * (_log2c(p, eps) - _log2c(q, eps))).sum()
    return within - ((g / two_m) * _log2c(v, eps)).sum()


def h1(A: torch.Tensor, eps: float = 1e-8, *, validate: bool = True) -> torch.Tensor:
    """One-dimensional structural entropy H1(A) = - sum_i (d_i/2m) log2(d_i/2m)."""
    if validate:
        validate_inputs(A)
    return _h1(A, eps)


def h2_glass(A: torch.Tensor, S: torch.Tensor, eps: float = 1e-8, *, validate: bool = True) -> torch.Tensor:
    """Glass compact 2D structural entropy (the seed's formula; exact Li & Pan value for one-hot S):

    H2_glass(A, S) = - sum_k (g_k/2m) log2(V_k/2m) + H1(A) + sum_k (V_k/2m) log2(V_k/2m).
    S (N, K) holds probabilities (rows on the simplex); use s_from_logits for logits.
    """
    if validate:
        validate_inputs(A, S)
    return _h2_glass(A, S, eps)


def h2_dsi(A: torch.Tensor, S: torch.Tensor, eps: float = 1e-8, *, validate: bool = True) -> torch.Tensor:
    """LSEnet/DSI soft 2D structural entropy (exact Li & Pan value for one-hot S; >= H2_glass by Jensen):

    H2_dsi(A, S) = - sum_i (d_i/2m) log2(d_i/(SV)_i) - sum_k (g_k/2m) log2(V_k/2m),  (SV)_i = sum_k S_ik V_k,
    computed as log2(d_i/2m) - log2((SV)_i/2m) with both ratios clamped. S holds probabilities.
    """
    if validate:
        validate_inputs(A, S)
    return _h2_dsi(A, S, eps)


def h2(A: torch.Tensor, S: torch.Tensor, form: str = "glass", eps: float = 1e-8, *,
       validate: bool = True) -> torch.Tensor:
    """2D structural entropy of the given form: "glass" (h2_glass, the default) or "dsi" (h2_dsi)."""
    if form == "glass":
        return h2_glass(A, S, eps, validate=validate)
    if form == "dsi":
        return h2_dsi(A, S, eps, validate=validate)
    raise ValueError(f"unknown structural-entropy form {form!r}; forms: {', '.join(FORMS)}")
