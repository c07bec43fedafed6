"""Backend-free checks of structural-entropy input (NumPy, host-side), shared by torch_ref and jax_impl.

A: square, finite, non-negative, symmetric within SYM_TOL relative to max|A|, total weight 2m > 0.
S: shape (N, K), finite, rows on the simplex within SIMPLEX_TOL. A violation is a ValueError naming it.
"""

from __future__ import annotations

import numpy as np

SYM_TOL = 1e-5  # max |A - A^T| allowed, relative to max |A|
SIMPLEX_TOL = 1e-4  # max |sum_k S_ik - 1| and max(-S_ik) allowed


def check_graph(a: np.ndarray) -> None:
    """A square, finite, non-negative, symmetric (relative SYM_TOL) and with positive total weight."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A must be a square (N, N) matrix, got shape {tuple(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise ValueError("A contains NaN or inf")
    if a.size and a.min() < 0:
        raise ValueError(f"A must be non-negative, its smallest entry is {a.min():.3g}")
    scale = float(np.abs(a).max()) if a.size else 0.0
    asym = float(np.abs(a - a.T).max()) if a.size else 0.0
    if asym > SYM_TOL * scale:
        raise ValueError(f"A must be symmetric: max |A - A^T| = {asym:.3g} > {SYM_TOL:g} * max|A|")
    if not a.sum() > 0:
        raise ValueError("A has zero total weight (2m = 0): structural entropy is undefined")


def check_assignment(s: np.ndarray, n: int) -> None:
    """S of shape (N, K), finite, rows on the simplex within SIMPLEX_TOL."""
    if s.ndim != 2 or s.shape[0] != n or s.shape[1] < 1:
        raise ValueError(f"S must have shape (N, K) with N = A.shape[0] = {n} and K >= 1, "
                         f"got {tuple(s.shape)}")
    if not np.all(np.isfinite(s)):
        raise ValueError("S contains NaN or inf")
    if s.min() < -SIMPLEX_TOL:
        raise ValueError(f"S rows must lie on the simplex: S has a negative entry {s.min():.3g}")
    dev = float(np.abs(s.sum(axis=1) - 1.0).max())
    if dev > SIMPLEX_TOL:
        raise ValueError(
            f"S rows must lie on the simplex (sum to 1): max |sum_k S_ik - 1| = {dev:.3g} > {SIMPLEX_TOL:g}; "
            "pass probabilities (s_from_logits(logits)), not logits"
        )
