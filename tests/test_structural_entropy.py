"""Structural entropy (torch_ref, jax_impl) vs an independent Li & Pan loop; bounds, gradients, checks.

Every test runs on both backends in float64 (JAX inside `jax.enable_x64(True)`, so nothing leaks to other
test modules).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

# ----------------------------------------------------------------------------------------------------------
# Independent reference: Li & Pan (2016) 2D structural entropy of a hard partition, plain loops
# ----------------------------------------------------------------------------------------------------------


def li_pan_h2(A: np.ndarray, labels: np.ndarray) -> float:
    """H2(A, X) = - sum_k sum_{i in X_k} (d_i/2m) log2(d_i/V_k) - sum_k (g_k/2m) log2(V_k/2m),
    V_k = sum_{i in X_k} d_i, g_k = weight of the edges leaving X_k; 0 log 0 = 0."""
    n = A.shape[0]
    d = [sum(A[i, j] for j in range(n)) for i in range(n)]
    two_m = sum(d)
    total = 0.0
    for k in sorted(set(labels.tolist())):
        members = [i for i in range(n) if labels[i] == k]
        vol = sum(d[i] for i in members)
        cut = sum(A[i, j] for i in members for j in range(n) if labels[j] != k)
        for i in members:
            if d[i] > 0:
                total -= d[i] / two_m * math.log2(d[i] / vol)
        if vol > 0:
            total -= cut / two_m * math.log2(vol / two_m)
    return total


def li_pan_h1(A: np.ndarray) -> float:
    d = A.sum(axis=1)
    p = d[d > 0] / d.sum()
    return float(-(p * np.log2(p)).sum())


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[labels]


def cliques(sizes: list[int]) -> np.ndarray:
    """Disjoint unweighted cliques (no self loops), nodes numbered clique by clique."""
    n = sum(sizes)
    A = np.zeros((n, n))
    start = 0
    for s in sizes:
        A[start:start + s, start:start + s] = 1.0 - np.eye(s)
        start += s
    return A


def ring_of_cliques(num: int, size: int, bridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    A = cliques([size] * num)
    for c in range(num):
        i, j = c * size, ((c + 1) % num) * size + 1
        A[i, j] = A[j, i] = bridge
    return A, np.repeat(np.arange(num), size)


def random_graph(seed: int, n: int = 12, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    return W + W.T, rng.integers(0, k, n)


def regular_graph(seed: int, n: int = 10) -> np.ndarray:
    """Symmetric with equal degrees (Sinkhorn-balanced): the Glass regime, where d_i/2m is near uniform."""
    rng = np.random.default_rng(seed)
    A = rng.random((n, n))
    A = A + A.T
    for _ in range(500):
        A = A / A.sum(axis=1, keepdims=True)
        A = 0.5 * (A + A.T)
    return A


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------------------------------------


class TorchBackend:
    name = "torch"

    def __init__(self) -> None:
        import torch

        from torch_ref import structural_entropy as se

        self.torch, self.se = torch, se

    def context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def arr(self, x: np.ndarray):
        return self.torch.tensor(np.asarray(x, dtype=np.float64))

    def value(self, fn: Callable, *xs: np.ndarray) -> float:
        return float(fn(*[self.arr(x) for x in xs]))

    def grads(self, fn: Callable, *xs: np.ndarray) -> list[np.ndarray]:
        ts = [self.arr(x).requires_grad_(True) for x in xs]
        fn(*ts).backward()
        return [t.grad.numpy() for t in ts]


class JaxBackend:
    name = "jax"

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        from jax_impl import structural_entropy as se

        self.jax, self.jnp, self.se = jax, jnp, se

    def context(self) -> contextlib.AbstractContextManager:
        return self.jax.enable_x64(True)

    def arr(self, x: np.ndarray):
        return self.jnp.asarray(np.asarray(x, dtype=np.float64))

    def value(self, fn: Callable, *xs: np.ndarray) -> float:
        return float(fn(*[self.arr(x) for x in xs]))

    def grads(self, fn: Callable, *xs: np.ndarray) -> list[np.ndarray]:
        g = self.jax.grad(fn, argnums=tuple(range(len(xs))))(*[self.arr(x) for x in xs])
        return [np.asarray(v) for v in g]


@pytest.fixture(params=["torch", "jax"])
def be(request) -> Iterator[TorchBackend | JaxBackend]:
    backend = TorchBackend() if request.param == "torch" else JaxBackend()
    with backend.context():
        yield backend


FORMS = ("glass", "dsi")


def _h2(be, form: str) -> Callable:
    return lambda A, S: be.se.h2(A, S, form)


# ----------------------------------------------------------------------------------------------------------
# Hard partitions equal the Li & Pan value
# ----------------------------------------------------------------------------------------------------------


def _hard_cases() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    two = cliques([3, 5])
    ring, ring_lab = ring_of_cliques(4, 4)
    rnd, rnd_lab = random_graph(0)
    rnd2, rnd2_lab = random_graph(1, n=9, k=3)
    return {
        "two_cliques": (two, np.array([0] * 3 + [1] * 5), 2),
        "ring_of_cliques": (ring, ring_lab, 4),
        "ring_of_cliques_bad_partition": (ring, np.arange(16) % 4, 4),
        "random": (rnd, rnd_lab, 4),
        "random_with_empty_cluster": (rnd2, rnd2_lab, 5),
    }


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", list(_hard_cases()))
def test_hard_partition_equals_li_pan(be, form: str, case: str) -> None:
    A, labels, k = _hard_cases()[case]
    ref = li_pan_h2(A, labels)
    got = be.value(_h2(be, form), A, one_hot(labels, k))
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert be.value(be.se.h1, A) == pytest.approx(li_pan_h1(A), rel=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_two_disconnected_cliques_have_no_cut_term(be, form: str) -> None:
    """g_k = 0, so H2 = within-cluster term alone = sum_k (V_k/2m) log2 n_k for cliques of n_k nodes."""
    sizes = [3, 5]
    A = cliques(sizes)
    S = one_hot(np.repeat([0, 1], sizes), 2)
    d = be.arr(A).sum(-1)
    _, g = be.se.cluster_terms(be.arr(A), be.arr(S), d)
    np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-12)
    vols = np.array([n * (n - 1) for n in sizes], dtype=float)
    expected = float((vols / vols.sum() * np.log2(sizes)).sum())
    assert be.value(_h2(be, form), A, S) == pytest.approx(expected, rel=1e-12)


def test_good_partition_beats_bad_partition(be) -> None:
    A, labels = ring_of_cliques(4, 4)
    good = be.value(be.se.h2_glass, A, one_hot(labels, 4))
    bad = be.value(be.se.h2_glass, A, one_hot(np.arange(16) % 4, 4))
    assert good < bad - 0.5


# ----------------------------------------------------------------------------------------------------------
# Soft assignments: Jensen ordering and bounds
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_soft_glass_below_dsi_and_h1(be, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    A, _ = random_graph(seed)
    S = softmax(rng.normal(size=(A.shape[0], 4)) * 2.0)
    glass = be.value(be.se.h2_glass, A, S)
    dsi = be.value(be.se.h2_dsi, A, S)
    h1 = be.value(be.se.h1, A)
    assert glass < dsi - 1e-6  # strict for a genuinely soft S
    assert glass <= h1


@pytest.mark.parametrize("seed", range(4))
def test_bounds_between_zero_and_h1(be, seed: int) -> None:
    """0 <= H2 <= H1 for hard partitions (both forms) and for soft S on degree-regular graphs (glass form)."""
    rng = np.random.default_rng(200 + seed)
    A, labels = random_graph(seed)
    h1 = be.value(be.se.h1, A)
    for form in FORMS:
        hard = be.value(_h2(be, form), A, one_hot(labels, 4))
        assert -1e-12 <= hard <= h1 + 1e-12
    R = regular_graph(seed)
    S = softmax(rng.normal(size=(R.shape[0], 3)) * 3.0)
    soft = be.value(be.se.h2_glass, R, S)
    assert 0.0 <= soft <= be.value(be.se.h1, R)


def test_documented_soft_counterexamples(be) -> None:
    """The bounds do not extend to every soft S: known values of the two counterexamples in the docs."""
    loop = np.array([[1.0]])
    uniform = np.array([[0.5, 0.5]])
    for form in FORMS:  # one self-loop node, uniform S: -sum g log v + H1 + sum v log v = 0.5 + 0 - 1
        assert be.value(_h2(be, form), loop, uniform) == pytest.approx(-0.5, abs=1e-12)
    edge = np.array([[0.0, 1.0], [1.0, 0.0]])
    S = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert be.value(be.se.h2_dsi, edge, S) > be.value(be.se.h1, edge) == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------------------
# Gradients
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_gradients_finite_at_uniform_s(be, form: str) -> None:
    A, _ = random_graph(3)
    A[0, :] = A[:, 0] = 0.0  # an isolated node: d_0 / 2m = 0 sits on the clamp
    S = np.full((A.shape[0], 4), 0.25)
    gA, gS = be.grads(_h2(be, form), A, S)
    assert np.all(np.isfinite(gA)) and np.all(np.isfinite(gS))
    assert np.abs(gS).max() > 0


@pytest.mark.parametrize("form", FORMS)
def test_logit_gradient_vanishes_at_uniform_s(be, form: str) -> None:
    """At uniform S every cluster is interchangeable: dH2/dlogits = 0 (the seed's flat-region failure)."""
    A, _ = random_graph(4)
    zero = np.zeros((A.shape[0], 4))
    tilted = np.random.default_rng(0).normal(size=zero.shape)

    def f(A_, L):
        return be.se.h2(A_, be.se.s_from_logits(L, 1.0), form)

    assert np.abs(be.grads(f, A, zero)[1]).max() < 1e-12
    assert np.abs(be.grads(f, A, tilted)[1]).max() > 1e-3


def test_gradient_matches_finite_differences(be) -> None:
    rng = np.random.default_rng(7)
    A, _ = random_graph(5, n=6, k=3)
    L = rng.normal(size=(6, 3))

    def f(L_):
        return be.se.h2_dsi(be.arr(A), be.se.s_from_logits(L_, 0.7))

    (g,) = be.grads(f, L)
    h = 1e-6
    for idx in [(0, 0), (2, 1), (5, 2)]:
        Lp, Lm = L.copy(), L.copy()
        Lp[idx] += h
        Lm[idx] -= h
        fd = (be.value(f, Lp) - be.value(f, Lm)) / (2 * h)
        assert g[idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)


# ----------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------

_A, _LAB = random_graph(0)
_S = one_hot(_LAB, 4)
_BAD = {
    "non-square": (_A[:, :-1], _S, "square"),
    "asymmetric": (_A + np.triu(np.ones_like(_A), 1), _S, "symmetric"),
    "negative": (_A - 2 * np.eye(len(_A)) * (_A.max() + 1), _S, "non-negative"),
    "nan": (np.where(np.eye(len(_A)) > 0, np.nan, _A), _S, "NaN"),
    "zero weight": (np.zeros_like(_A), _S, "zero total weight"),
    "logits not simplex": (_A, np.random.default_rng(0).normal(size=_S.shape), "simplex"),
    "rows sum to 2": (_A, 2 * _S, "simplex"),
    "shape mismatch": (_A, _S[:-1], "shape"),
    "S not 2-d": (_A, _S[:, 0], "shape"),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", list(_BAD))
def test_bad_inputs_raise(be, form: str, case: str) -> None:
    A, S, msg = _BAD[case]
    with pytest.raises(ValueError, match=msg):
        be.se.h2(be.arr(A), be.arr(S), form)


def test_bad_graph_raises_in_h1(be) -> None:
    with pytest.raises(ValueError, match="symmetric"):
        be.se.h1(be.arr(_BAD["asymmetric"][0]))


def test_unknown_form_raises(be) -> None:
    with pytest.raises(ValueError, match="form"):
        be.se.h2(be.arr(_A), be.arr(_S), "lsenet")


def test_jax_jit_skips_checks_and_matches_eager() -> None:
    jax = pytest.importorskip("jax")
    from jax_impl import structural_entropy as se

    with jax.enable_x64(True):
        A, S = jax.numpy.asarray(_A), jax.numpy.asarray(softmax(np.ones((len(_A), 4)) + _S))
        for form in FORMS:
            eager = float(se.h2(A, S, form))
            jitted = float(jax.jit(se.h2, static_argnums=2)(A, S, form))
            assert jitted == pytest.approx(eager, rel=1e-12)
        # traced values cannot be checked: an asymmetric A passes through jit without a ValueError
        bad = jax.numpy.asarray(_BAD["asymmetric"][0])
        assert np.isfinite(float(jax.jit(se.h2_glass)(bad, S)))
