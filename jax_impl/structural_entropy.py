"""Differentiable one- and two-dimensional structural entropy (Li & Pan 2016; docs/glass.md).

Notation: A (N, N) symmetric non-negative similarity, d_i = sum_j A_ij, 2m = sum_i d_i; S (N, K) a soft
assignment whose rows lie on the simplex; V_k = sum_i S_ik d_i (V = S^T d) and
g_k = sum_i S_ik (d_i - (A S)_ik) = V_k - (S^T A S)_kk. Every logarithm is base 2.

Numerical guard (the seed's): the ratios d_i/2m and V_k/2m are clamped to [eps, 1] *inside* log2 only (the
weights in front of the logs are not clamped), so a zero-degree node or an empty cluster contributes exactly
0 and every gradient stays finite, also at uniform S. 2m itself is clamped to >= eps.

Inputs are checked by tdmpc_parity/core/structural_entropy_checks.py (A square, finite, non-negative, symmetric within
SYM_TOL relative to max|A|, 2m > 0; S of shape (N, K), finite, rows on the simplex within SIMPLEX_TOL): a
violation is a ValueError naming the problem, never a NaN. JAX can only check concrete values: the public
functions run `validate_inputs` when `validate=True` and neither input is a `jax.core.Tracer`; under
`jit`/`grad`/`vmap` tracing the check is skipped (shape checks still happen when the arrays are built). Hot
loops whose inputs are valid by construction (jax_impl.glass) pass `validate=False`.

Mirrors torch_ref/structural_entropy.py name by name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tdmpc_parity.core.structural_entropy_checks import check_assignment, check_graph

FORMS = ("glass", "dsi")


# ----------------------------------------------------------------------------------------------------------
# Input checks (host-side, NumPy; concrete values only)
# ----------------------------------------------------------------------------------------------------------


def _to_numpy(x: jax.Array, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must have a floating-point dtype, got {arr.dtype}")
    return arr.astype(np.float64)


def _is_traced(*xs: jax.Array | None) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in xs)


def validate_inputs(A: jax.Array, S: jax.Array | None = None) -> None:
    """Raise ValueError naming the problem when A (and S, if given) are not valid structural-entropy input.

    Needs concrete arrays; the public functions call it only outside tracing.
    """
    check_graph(_to_numpy(A, "A"))
    if S is not None:
        check_assignment(_to_numpy(S, "S"), np.shape(A)[0])


# ----------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------


def _clamp(x: jax.Array, lo: float, hi: float) -> jax.Array:
    """clamp(x, lo, hi) written with `where`, so the gradient is 1 on [lo, hi] inclusive (as torch)."""
    return jnp.where(x < lo, jnp.full_like(x, lo), jnp.where(x > hi, jnp.full_like(x, hi), x))


def _log2c(x: jax.Array, eps: float) -> jax.Array:
    """log2(clamp(x, eps, 1)): the seed's numerical guard."""
    return jnp.log2(_clamp(x, eps, 1.0))


def degree_terms(A: jax.Array, eps: float) -> tuple[jax.Array, jax.Array]:
    """(d, 2m): d_i = sum_j A_ij and 2m = max(sum_i d_i, eps)."""
    d = A.sum(axis=-1)
    two_m = jnp.maximum(d.sum(), eps)
    return d, two_m


def cluster_terms(A: jax.Array, S: jax.Array, d: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(V, g): V_k = sum_i S_ik d_i, g_k = V_k - sum_i S_ik (A S)_ik (soft volume and soft cut)."""
    V = jnp.swapaxes(S, -1, -2) @ d
    g = V - (S * (A @ S)).sum(axis=0)
    return V, g


def s_from_logits(logits: jax.Array, temperature: float = 1.0) -> jax.Array:
    """S = softmax(logits / temperature) over the last axis.

    The H functions take S on the simplex (probabilities), never logits: call this first when holding logits.
    """
    return jax.nn.softmax(logits / temperature, axis=-1)


# ----------------------------------------------------------------------------------------------------------
# Structural entropies
# ----------------------------------------------------------------------------------------------------------


def _h1(A: jax.Array, eps: float) -> jax.Array:
    d, two_m = degree_terms(A, eps)
    p = d / two_m
    return -(p * _log2c(p, eps)).sum()


def _h2_glass(A: jax.Array, S: jax.Array, eps: float) -> jax.Array:
    d, two_m = degree_terms(A, eps)
    V, g = cluster_terms(A, S, d)
    v = V / two_m
    log_v = _log2c(v, eps)
    return -((g / two_m) * log_v).sum() + _h1(A, eps) + (v * log_v).sum()


def _h2_dsi(A: jax.Array, S: jax.Array, eps: float) -> jax.Array:
    d, two_m = degree_terms(A, eps)
    V, g = cluster_terms(A, S, d)
    p, v = d / two_m, V / two_m
    q = S @ v  # (SV)_i / 2m: each node's soft parent volume
    within = -(p * (_log2c(p, eps) - _log2c(q, eps))).sum()
    return within - ((g / two_m) * _log2c(v, eps)).sum()


def h1(A: jax.Array, eps: float = 1e-8, *, validate: bool = True) -> jax.Array:
    """One-dimensional structural entropy H1(A) = - sum_i (d_i/2m) log2(d_i/2m)."""
    if validate and not _is_traced(A):
        validate_inputs(A)
    return _h1(jnp.asarray(A), eps)


def h2_glass(A: jax.Array, S: jax.Array, eps: float = 1e-8, *, validate: bool = True) -> jax.Array:
    """Glass compact 2D structural entropy (the seed's formula; exact Li & Pan value for one-hot S):

    H2_glass(A, S) = - sum_k (g_k/2m) log2(V_k/2m) + H1(A) + sum_k (V_k/2m) log2(V_k/2m).
    S (N, K) holds probabilities (rows on the simplex); use s_from_logits for logits.
    """
    if validate and not _is_traced(A, S):
        validate_inputs(A, S)
    return _h2_glass(jnp.asarray(A), jnp.asarray(S), eps)


def h2_dsi(A: jax.Array, S: jax.Array, eps: float = 1e-8, *, validate: bool = True) -> jax.Array:
    """LSEnet/DSI soft 2D structural entropy (exact Li & Pan value for one-hot S; >= H2_glass by Jensen):

    H2_dsi(A, S) = - sum_i (d_i/2m) log2(d_i/(SV)_i) - sum_k (g_k/2m) log2(V_k/2m),  (SV)_i = sum_k S_ik V_k,
    computed as log2(d_i/2m) - log2((SV)_i/2m) with both ratios clamped. S holds probabilities.
    """
    if validate and not _is_traced(A, S):
        validate_inputs(A, S)
    return _h2_dsi(jnp.asarray(A), jnp.asarray(S), eps)


def h2(A: jax.Array, S: jax.Array, form: str = "glass", eps: float = 1e-8, *,
       validate: bool = True) -> jax.Array:
    """2D structural entropy of the given form: "glass" (h2_glass, the default) or "dsi" (h2_dsi)."""
    if form == "glass":
        return h2_glass(A, S, eps, validate=validate)
    if form == "dsi":
        return h2_dsi(A, S, eps, validate=validate)
    raise ValueError(f"unknown structural-entropy form {form!r}; forms: {', '.join(FORMS)}")
