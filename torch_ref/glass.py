"""The Glass head and loss (docs/glass.md explains the objective and its terms).

Trainable tensors (canonical names `_glass.prototypes`, `_glass.assign_logits` once registered as
`WorldModel._glass`): prototypes mu (N, D) and assign_logits (N, K). For world-model rollout latents z_src
(H, B, Z) and encoder latents z_next (H, B, Z) of o_1..o_H (M = H*B pairs):

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

Mirrors jax_impl/glass.py name by name.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tdmpc_parity.core.config import Config, GlassConfig
from tdmpc_parity.core.runlog import GLASS_ACTIVE
from torch_ref import layers
from torch_ref.structural_entropy import h2, s_from_logits

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


def _simnorm(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax over contiguous groups of `dim` features (torch_ref.layers.SimNorm)."""
    return layers.SimNorm(dim)(x)


class GlassHead(nn.Module):
    """prototypes (N, D) = SimNorm(N(0, I)) with groups of cfg.simnorm_dim; assign_logits (N, K) =
    init_scale * N(0, I). Drawn from torch's global RNG in that order (prototypes first)."""

    def __init__(self, cfg: Config):
        super().__init__()
        g = cfg.glass
        N, D, K = g.num_prototypes, cfg.latent_dim, g.num_clusters
        self.prototypes = nn.Parameter(_simnorm(torch.randn(N, D), cfg.simnorm_dim))
        self.assign_logits = nn.Parameter(g.assign_logits_init_scale * torch.randn(N, K))

    def extra_repr(self) -> str:  # parity: not compared (printing only)
        N, K = self.assign_logits.shape
        return f"num_prototypes={N}, latent_dim={self.prototypes.shape[1]}, num_clusters={K}"


def _unpack(head_or_params: GlassHead | Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(prototypes, assign_logits) from a GlassHead or a {"prototypes", "assign_logits"} mapping."""
    if isinstance(head_or_params, GlassHead):
        return head_or_params.prototypes, head_or_params.assign_logits
    if isinstance(head_or_params, Mapping):
        return head_or_params["prototypes"], head_or_params["assign_logits"]
    raise ValueError(f"expected a GlassHead or a params mapping, got {type(head_or_params).__name__}")


def _check_latents(z_src: torch.Tensor, z_next: torch.Tensor, prototypes: torch.Tensor) -> None:
    """Static shape checks: z_src and z_next of equal shape (..., Z) with Z = the prototypes' D."""
    if tuple(z_src.shape) != tuple(z_next.shape):
        raise ValueError(f"z_src {tuple(z_src.shape)} and z_next {tuple(z_next.shape)} differ in shape")
    if z_src.shape[-1] != prototypes.shape[-1]:
        raise ValueError(f"latent size {z_src.shape[-1]} != prototype size {prototypes.shape[-1]}")


# ----------------------------------------------------------------------------------------------------------
# Steps of the loss
# ----------------------------------------------------------------------------------------------------------


def normalize_rows(x: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """x / max(||x||_2, eps) along the last axis, as x / sqrt(max(sum x^2, eps^2)) (finite gradient at 0)."""
    return x / torch.sqrt(torch.clamp((x * x).sum(dim=-1, keepdim=True), min=eps * eps))


def soft_assign(z: torch.Tensor, prototypes: torch.Tensor, gcfg: GlassConfig) -> torch.Tensor:
    """c (M, N): softmax(z_hat mu_hat^T / T_proto) ("cosine") or softmax(-||z - mu||^2 / T_proto) ("l2")."""
    if gcfg.assignment == "cosine":
        logits = normalize_rows(z) @ normalize_rows(prototypes).T
    elif gcfg.assignment == "l2":
        sq = (z * z).sum(-1, keepdim=True) - 2 * z @ prototypes.T + (prototypes * prototypes).sum(-1)
        logits = -sq
    else:
        raise ValueError(f"unknown glass.assignment {gcfg.assignment!r}")
    return torch.softmax(logits / gcfg.t_proto, dim=-1)


def transition_graph(c_src: torch.Tensor, c_next: torch.Tensor,
                     row_eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, A): P = rownorm(c_src^T c_next + row_eps) (normaliser + 1e-8), A = (P + P^T) / 2."""
    counts = c_src.T @ c_next + row_eps
    P = counts / (counts.sum(dim=-1, keepdim=True) + NORM_EPS)
    return P, 0.5 * (P + P.T)


def balance_loss(S: torch.Tensor, c_src: torch.Tensor, kind: str) -> torch.Tensor:
    """hinge: sum_k ReLU(S_bar_k - 2/K)^2 + sum_n ReLU(c_bar_n - 2/N)^2; l2: squared distances to 1/K, 1/N."""
    s_bar, c_bar = S.mean(dim=0), c_src.mean(dim=0)
    K, N = s_bar.shape[-1], c_bar.shape[-1]
    if kind == "hinge":
        return (F.relu(s_bar - 2.0 / K) ** 2).sum() + (F.relu(c_bar - 2.0 / N) ** 2).sum()
    if kind == "l2":
        return ((s_bar - 1.0 / K) ** 2).sum() + ((c_bar - 1.0 / N) ** 2).sum()
    raise ValueError(f"unknown glass.balance {kind!r}")


def temporal_loss(c_src: torch.Tensor, c_next: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """mean over the M samples of || c_src S - sg(c_next S) ||_2^2."""
    return ((c_src @ S - (c_next @ S).detach()) ** 2).sum(dim=-1).mean()


def glass_diagnostics(S: torch.Tensor, P: torch.Tensor, eps: float = NORM_EPS) -> dict[str, torch.Tensor]:
    """The seed's four scalars (detached), with S_bar = column mean of S and labels l_i = argmax_k S_ik:

    glass_H_cm = -sum_k S_bar_k ln S_bar_k (natural log; ln K when uniform), glass_active_clusters =
    #{k : S_bar_k > 0.05/K}, glass_max_cluster_mass = max_k S_bar_k, glass_cut_mass =
    sum_ij P_ij 1[l_i != l_j] / sum_ij P_ij (P's rows sum to 1, so this is the mean over rows of the mass
    leaving the row's cluster; 1 - 1/K for uniform P and balanced clusters).
    """
    S, P = S.detach(), P.detach()
    s_bar = S.mean(dim=0)
    K = s_bar.shape[-1]
    labels = S.argmax(dim=-1)
    crossing = (labels[:, None] != labels[None, :]).to(P.dtype)
    return {
        "glass_H_cm": -(s_bar * torch.log(torch.clamp(s_bar, eps, 1.0))).sum(),
        "glass_active_clusters": (s_bar > ACTIVE_FRACTION / K).to(S.dtype).sum(),
        "glass_max_cluster_mass": s_bar.max(),
        "glass_cut_mass": (P * crossing).sum() / torch.clamp(P.sum(), min=eps),
    }


def glass_graph(head_or_params: GlassHead | Mapping[str, torch.Tensor], z_src: torch.Tensor,
                z_next: torch.Tensor, gcfg: GlassConfig) -> dict[str, torch.Tensor]:
    """Steps 1-3: c_src, c_next (M, N), P, A (N, N), S (N, K) from latents (..., Z), leading axes flat."""
    prototypes, assign_logits = _unpack(head_or_params)
    _check_latents(z_src, z_next, prototypes)
    z_next = z_next.detach()
    if gcfg.stopgrad_graph:
        z_src = z_src.detach()
    z_src = z_src.reshape(-1, z_src.shape[-1])
    z_next = z_next.reshape(-1, z_next.shape[-1])
    c_src = soft_assign(z_src, prototypes, gcfg)
    c_next = soft_assign(z_next, prototypes, gcfg)
    P, A = transition_graph(c_src, c_next, gcfg.row_smoothing_eps)
    S = s_from_logits(assign_logits, gcfg.t_assign)
    return {"c_src": c_src, "c_next": c_next, "P": P, "A": A, "S": S}


def glass_loss(head_or_params: GlassHead | Mapping[str, torch.Tensor], z_src: torch.Tensor,
               z_next: torch.Tensor, gcfg: GlassConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L = lambda_se H2(A, S) + lambda_bal L_bal + lambda_tmp L_tmp (module docstring) and detached metrics
    METRIC_KEYS. z_src (H, B, Z) rollout latents with gradient, z_next (H, B, Z) encoder latents."""
    gr = glass_graph(head_or_params, z_src, z_next, gcfg)
    se = h2(gr["A"], gr["S"], gcfg.se_form, gcfg.log_eps, validate=False)
    bal = balance_loss(gr["S"], gr["c_src"], gcfg.balance)
    tmp = temporal_loss(gr["c_src"], gr["c_next"], gr["S"])
    loss = gcfg.lambda_se * se + gcfg.lambda_bal * bal + gcfg.lambda_tmp * tmp
    metrics = {"glass_loss": loss, "glass_se": se, "glass_bal": bal, "glass_tmp": tmp}
    metrics = {k: v.detach() for k, v in metrics.items()}
    metrics.update(glass_diagnostics(gr["S"], gr["P"]))
    return loss, metrics


def glass_terms(head_or_params: GlassHead | Mapping[str, torch.Tensor], z_src: torch.Tensor,
                z_next: torch.Tensor, gcfg: GlassConfig, active: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The Glass part of one update: (loss, METRIC_KEYS + `glass_active`).

    Active: `glass_loss` and glass_active 1. Inactive: nothing is computed; the loss and every metric are
    zeros (NaN-free, without gradient) and glass_active is 0, so every update logs the same keys in both
    backends (tdmpc_parity.core.runlog.update_row averages the Glass metrics of a train row over its active updates).
    """
    if active:
        loss, metrics = glass_loss(head_or_params, z_src, z_next, gcfg)
    else:
        zero = torch.zeros((), dtype=z_src.dtype, device=z_src.device)
        loss, metrics = zero, dict.fromkeys(METRIC_KEYS, zero)
    return loss, {**metrics, GLASS_ACTIVE: torch.tensor(float(active), dtype=z_src.dtype, device=z_src.device)}


@torch.no_grad()
def glass_matrices(head_or_params: GlassHead | Mapping[str, torch.Tensor], z_src: torch.Tensor,
                   z_next: torch.Tensor, gcfg: GlassConfig) -> dict[str, np.ndarray]:
    """{"S": (N, K), "P": (N, N), "A": (N, N)} as NumPy arrays, for RunLog.save_glass_matrices."""
    gr = glass_graph(head_or_params, z_src, z_next, gcfg)
    return {k: gr[k].detach().cpu().numpy() for k in ("S", "P", "A")}

