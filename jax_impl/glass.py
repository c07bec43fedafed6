"""The Glass head and loss (docs/glass.md explains the objective and its terms).

Trainable tensors (a plain dict pytree {"prototypes", "assign_logits"}; canonical weight names
`_glass.prototypes`, `_glass.assign_logits`): prototypes mu (N, D) and assign_logits (N, K). For world-model
rollout latents z_src (H, B, Z) and encoder latents z_next (H, B, Z) of o_1..o_H (M = H*B pairs):

  1. c = softmax(z_hat mu_hat^T / T_proto), x_hat = x / max(||x||_2, 1e-8)      (assignment="cosine")
     c = softmax(-||z - mu||_2^2 / T_proto)                                      (assignment="l2", phase 0)
  2. P_counts = c_src^T c_next;  P = (P_counts + row_eps) / (rowsum(P_counts + row_eps) + 1e-8);
     A = (P + P^T) / 2
  3. S = softmax(assign_logits / T_assign)
  4. L = lambda_se H2(A, S) + lambda_bal L_bal + lambda_tmp L_tmp, with
     L_bal = sum_k ReLU(S_bar_k - 2/K)^2 + sum_n ReLU(c_bar_n - 2/N)^2            (balance="hinge")
     L_bal = sum_k (S_bar_k - 1/K)^2 + sum_n (c_bar_n - 1/N)^2                    (balance="l2", phase 0)
     L_tmp = mean_M || c_src S - sg(c_next S) ||_2^2
  S_bar = column mean of S over the N prototypes, c_bar = batch mean of c_src over the M samples.
z_next is always stop-gradiented; z_src too when gcfg.stopgrad_graph.

`glass_loss` is jit-compatible with `gcfg` static (GlassConfig is a frozen, hashable dataclass):
`jax.jit(glass_loss, static_argnums=3)`; every Python branch reads the config only.

Mirrors torch_ref/glass.py name by name.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jax_impl import layers
from jax_impl.structural_entropy import h2, s_from_logits
from tdmpc_parity.core.config import Config, GlassConfig
from tdmpc_parity.core.runlog import GLASS_ACTIVE

NORM_EPS = 1e-8  # clamp of the L2 norms (cosine assignment) and of the row normaliser / cut denominator
ACTIVE_FRACTION = 0.05  # a cluster is active when S_bar_k > ACTIVE_FRACTION / K
METRIC_KEYS = (
    "glass_loss", "glass_se", "glass_bal", "glass_tmp",
    "glass_H_cm", "glass_active_clusters", "glass_max_cluster_mass", "glass_cut_mass",
)
DIAGNOSTIC_KEYS = METRIC_KEYS[4:]


# ----------------------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------------------


def _simnorm(x: jax.Array, dim: int) -> jax.Array:
    """Softmax over contiguous groups of `dim` features (jax_impl.layers.simnorm)."""
    return layers.simnorm(x, dim)


def init_glass_params(key: jax.Array, cfg: Config) -> dict[str, jax.Array]:
    """prototypes (N, D) = SimNorm(N(0, I)) with groups of cfg.simnorm_dim; assign_logits (N, K) =
    init_scale * N(0, I); key split in two, in that order; dtype = cfg.dtype."""
    g = cfg.glass
    N, D, K = g.num_prototypes, cfg.latent_dim, g.num_clusters
    dtype = jnp.dtype(cfg.dtype)
    k_proto, k_assign = jax.random.split(key)
    prototypes = _simnorm(jax.random.normal(k_proto, (N, D), dtype), cfg.simnorm_dim)
    assign_logits = g.assign_logits_init_scale * jax.random.normal(k_assign, (N, K), dtype)
    return {"prototypes": prototypes, "assign_logits": assign_logits}


def _unpack(head_or_params: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """(prototypes, assign_logits) from a {"prototypes", "assign_logits"} mapping."""
    if isinstance(head_or_params, Mapping):
        return head_or_params["prototypes"], head_or_params["assign_logits"]
    raise ValueError(f"expected a params mapping, got {type(head_or_params).__name__}")


def _check_latents(z_src: jax.Array, z_next: jax.Array, prototypes: jax.Array) -> None:
    """Static shape checks: z_src and z_next of equal shape (..., Z) with Z = the prototypes' D."""
    if tuple(z_src.shape) != tuple(z_next.shape):
        raise ValueError(f"z_src {tuple(z_src.shape)} and z_next {tuple(z_next.shape)} differ in shape")
    if z_src.shape[-1] != prototypes.shape[-1]:
        raise ValueError(f"latent size {z_src.shape[-1]} != prototype size {prototypes.shape[-1]}")


# ----------------------------------------------------------------------------------------------------------
# Steps of the loss
# ----------------------------------------------------------------------------------------------------------


def normalize_rows(x: jax.Array, eps: float = NORM_EPS) -> jax.Array:
    """x / max(||x||_2, eps) along the last axis, as x / sqrt(max(sum x^2, eps^2)) (finite gradient at 0)."""
    return x / jnp.sqrt(jnp.maximum((x * x).sum(axis=-1, keepdims=True), eps * eps))


def soft_assign(z: jax.Array, prototypes: jax.Array, gcfg: GlassConfig) -> jax.Array:
    """c (M, N): softmax(z_hat mu_hat^T / T_proto) ("cosine") or softmax(-||z - mu||^2 / T_proto) ("l2")."""
    if gcfg.assignment == "cosine":
        logits = normalize_rows(z) @ normalize_rows(prototypes).T
    elif gcfg.assignment == "l2":
        sq = (z * z).sum(-1, keepdims=True) - 2 * z @ prototypes.T + (prototypes * prototypes).sum(-1)
        logits = -sq
    else:
        raise ValueError(f"unknown glass.assignment {gcfg.assignment!r}")
    return jax.nn.softmax(logits / gcfg.t_proto, axis=-1)


def transition_graph(c_src: jax.Array, c_next: jax.Array, row_eps: float) -> tuple[jax.Array, jax.Array]:
    """(P, A): P = rownorm(c_src^T c_next + row_eps) (normaliser + 1e-8), A = (P + P^T) / 2."""
    counts = c_src.T @ c_next + row_eps
    P = counts / (counts.sum(axis=-1, keepdims=True) + NORM_EPS)
    return P, 0.5 * (P + P.T)


def balance_loss(S: jax.Array, c_src: jax.Array, kind: str) -> jax.Array:
    """hinge: sum_k ReLU(S_bar_k - 2/K)^2 + sum_n ReLU(c_bar_n - 2/N)^2; l2: squared distances to 1/K, 1/N."""
    s_bar, c_bar = S.mean(axis=0), c_src.mean(axis=0)
    K, N = s_bar.shape[-1], c_bar.shape[-1]
    if kind == "hinge":
        return (jax.nn.relu(s_bar - 2.0 / K) ** 2).sum() + (jax.nn.relu(c_bar - 2.0 / N) ** 2).sum()
    if kind == "l2":
        return ((s_bar - 1.0 / K) ** 2).sum() + ((c_bar - 1.0 / N) ** 2).sum()
    raise ValueError(f"unknown glass.balance {kind!r}")


def temporal_loss(c_src: jax.Array, c_next: jax.Array, S: jax.Array) -> jax.Array:
    """mean over the M samples of || c_src S - sg(c_next S) ||_2^2."""
    return ((c_src @ S - jax.lax.stop_gradient(c_next @ S)) ** 2).sum(axis=-1).mean()


def glass_diagnostics(S: jax.Array, P: jax.Array, eps: float = NORM_EPS) -> dict[str, jax.Array]:
    """The seed's four scalars (stop-gradient), with S_bar = column mean of S and labels l_i = argmax_k S_ik:

    glass_H_cm = -sum_k S_bar_k ln S_bar_k (natural log; ln K when uniform), glass_active_clusters =
    #{k : S_bar_k > 0.05/K}, glass_max_cluster_mass = max_k S_bar_k, glass_cut_mass =
    sum_ij P_ij 1[l_i != l_j] / sum_ij P_ij (P's rows sum to 1, so this is the mean over rows of the mass
    leaving the row's cluster; 1 - 1/K for uniform P and balanced clusters).
    """
    S, P = jax.lax.stop_gradient(S), jax.lax.stop_gradient(P)
    s_bar = S.mean(axis=0)
    K = s_bar.shape[-1]
    labels = S.argmax(axis=-1)
    crossing = (labels[:, None] != labels[None, :]).astype(P.dtype)
    return {
        "glass_H_cm": -(s_bar * jnp.log(jnp.clip(s_bar, eps, 1.0))).sum(),
        "glass_active_clusters": (s_bar > ACTIVE_FRACTION / K).astype(S.dtype).sum(),
        "glass_max_cluster_mass": s_bar.max(),
        "glass_cut_mass": (P * crossing).sum() / jnp.maximum(P.sum(), eps),
    }


def glass_graph(head_or_params: Mapping[str, jax.Array], z_src: jax.Array, z_next: jax.Array,
                gcfg: GlassConfig) -> dict[str, jax.Array]:
    """Steps 1-3: c_src, c_next (M, N), P, A (N, N), S (N, K) from latents (..., Z), leading axes flat."""
    prototypes, assign_logits = _unpack(head_or_params)
    _check_latents(z_src, z_next, prototypes)
    z_next = jax.lax.stop_gradient(z_next)
    if gcfg.stopgrad_graph:
        z_src = jax.lax.stop_gradient(z_src)
    z_src = z_src.reshape(-1, z_src.shape[-1])
    z_next = z_next.reshape(-1, z_next.shape[-1])
    c_src = soft_assign(z_src, prototypes, gcfg)
    c_next = soft_assign(z_next, prototypes, gcfg)
    P, A = transition_graph(c_src, c_next, gcfg.row_smoothing_eps)
    S = s_from_logits(assign_logits, gcfg.t_assign)
    return {"c_src": c_src, "c_next": c_next, "P": P, "A": A, "S": S}


def glass_loss(head_or_params: Mapping[str, jax.Array], z_src: jax.Array, z_next: jax.Array,
               gcfg: GlassConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
    """L = lambda_se H2(A, S) + lambda_bal L_bal + lambda_tmp L_tmp (module docstring) and stop-gradient
    metrics METRIC_KEYS. z_src (H, B, Z) rollout latents with gradient, z_next (H, B, Z) encoder latents."""
    gr = glass_graph(head_or_params, z_src, z_next, gcfg)
    se = h2(gr["A"], gr["S"], gcfg.se_form, gcfg.log_eps, validate=False)
    bal = balance_loss(gr["S"], gr["c_src"], gcfg.balance)
    tmp = temporal_loss(gr["c_src"], gr["c_next"], gr["S"])
    loss = gcfg.lambda_se * se + gcfg.lambda_bal * bal + gcfg.lambda_tmp * tmp
    metrics = {"glass_loss": loss, "glass_se": se, "glass_bal": bal, "glass_tmp": tmp}
    metrics = {k: jax.lax.stop_gradient(v) for k, v in metrics.items()}
    metrics.update(glass_diagnostics(gr["S"], gr["P"]))
    return loss, metrics


def glass_terms(head_or_params: Mapping[str, jax.Array], z_src: jax.Array, z_next: jax.Array, gcfg: GlassConfig,
                active: jax.Array | bool) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The Glass part of one update: (loss, METRIC_KEYS + `glass_active`), through `lax.cond` on `active`.

    Active: `glass_loss` and glass_active 1. Inactive: nothing is computed; the loss and every metric are
    zeros (NaN-free, zero gradient) and glass_active is 0, so every update logs the same keys in both
    backends (tdmpc_parity.core.runlog.update_row averages the Glass metrics of a train row over its active updates).
    Under vmap the cond only skips work when `active` is not batched (jax_impl.train passes one flag for all
    seeds); a batched flag makes vmap run both branches, with the same results.
    """
    def on() -> tuple[jax.Array, dict[str, jax.Array]]:
        return glass_loss(head_or_params, z_src, z_next, gcfg)

    def off() -> tuple[jax.Array, dict[str, jax.Array]]:
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(on))

    loss, metrics = jax.lax.cond(active, on, off)
    return loss, {**metrics, GLASS_ACTIVE: jnp.asarray(active, z_src.dtype)}


def glass_matrices(head_or_params: Mapping[str, jax.Array], z_src: jax.Array, z_next: jax.Array,
                   gcfg: GlassConfig) -> dict[str, np.ndarray]:
    """{"S": (N, K), "P": (N, N), "A": (N, N)} as NumPy arrays, for RunLog.save_glass_matrices."""
    gr = glass_graph(head_or_params, z_src, z_next, gcfg)
    return {k: np.asarray(jax.lax.stop_gradient(gr[k])) for k in ("S", "P", "A")}
