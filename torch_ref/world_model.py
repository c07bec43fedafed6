"""The TD-MPC2 world model (official `common/world_model.py`, single-task state observations).

encoder: obs -> z (SimNorm); dynamics: [z, a] -> z' (SimNorm); reward: [z, a] -> 101 logits;
policy: z -> [mean | log_std]; Q ensemble: [z, a] -> (num_q, 101) logits; a Polyak target ensemble.
Init as official `init.weight_init`: Linear weights N(0, 0.02) (trunc_normal with absolute bounds +-2),
biases 0, LayerNorm 1/0, and the last layer of the reward head and of every Q head zeroed.
Every stochastic method is a pure core taking its noise (`eps`, head `pair`, dropout `keep_mask`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from tdmpc_parity.core.config import Config
from torch_ref import layers
from torch_ref import math as tmath


def _init_linear(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)  # absolute bounds a=-2, b=2: effectively N(0, 0.02^2)
        if m.bias is not None:  # pragma: no branch (every Linear of the model has a bias; official guard)
            nn.init.zeros_(m.bias)


class WorldModel(nn.Module):
    """Official TD-MPC2 world model; `cfg` must be resolved (obs_dim, action_dim, bin_size set)."""

    def __init__(self, cfg: Config, glass: nn.Module | None = None):
        super().__init__()
        if not cfg.resolved:
            raise ValueError("WorldModel needs a resolved config (tdmpc_parity.core.config.resolve_config)")
        self.cfg = cfg
        A, Z, M = cfg.action_dim, cfg.latent_dim, cfg.mlp_dim
        enc_hidden = [cfg.enc_dim] * max(cfg.num_enc_layers - 1, 1)
        mm = cfg.matmul_precision  # every linear layer's matmul mode
        self._encoder = nn.ModuleDict(
            {"state": layers.mlp(cfg.obs_dim, enc_hidden, Z, act=layers.SimNorm(cfg.simnorm_dim), precision=mm)}
        )
        self._dynamics = layers.mlp(Z + A, [M, M], Z, act=layers.SimNorm(cfg.simnorm_dim), precision=mm)
        self._reward = layers.mlp(Z + A, [M, M], cfg.num_bins, precision=mm)
        self._pi = layers.mlp(Z, [M, M], 2 * A, precision=mm)
        self._Qs = layers.QEnsemble(Z + A, M, cfg.num_bins, cfg.num_q, cfg.dropout, precision=mm)
        self.register_buffer("log_std_min", torch.tensor(cfg.log_std_min))
        self.register_buffer("log_std_dif", torch.tensor(cfg.log_std_max - cfg.log_std_min))
        self.apply(_init_linear)
        for layer in self._Qs.params:
            nn.init.trunc_normal_(layer.weight, std=0.02)
        with torch.no_grad():
            self._reward[-1].weight.zero_()
            self._Qs.params[-1].weight.zero_()
        self._target_Qs = copy.deepcopy(self._Qs).requires_grad_(False)
        self._glass = glass  # Glass head (prototypes, assign_logits) when enabled, else None

    # -- deterministic modules -------------------------------------------------------------------------
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self._encoder["state"](obs)

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._dynamics(torch.cat([z, a], dim=-1))

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._reward(torch.cat([z, a], dim=-1))

    # -- stochastic cores ------------------------------------------------------------------------------
    def pi(self, z: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Squashed Gaussian with injected eps: u = mu + eps * exp(log_std), a = tanh(u).

        HEAD's entropy scaling: scaled_entropy = -log_prob * (A * log_prob_gauss / (log_prob + 1e-8)),
        numerically -A * log_prob_gauss.
        """
        mean, raw_log_std = self._pi(z).chunk(2, dim=-1)
        log_std = tmath.log_std(raw_log_std, self.log_std_min, self.log_std_dif)
        log_prob = tmath.gaussian_logprob(eps, log_std)
        scaled_log_prob = log_prob * eps.shape[-1]
        action = mean + eps * log_std.exp()
        mean, action, log_prob = tmath.squash(mean, action, log_prob)
        entropy_scale = scaled_log_prob / (log_prob + 1e-8)
        info = {
            "mean": mean,
            "log_std": log_std,
            "entropy": -log_prob,
            "scaled_entropy": -log_prob * entropy_scale,
        }
        return action, info

    def Q(self, z: torch.Tensor, a: torch.Tensor, return_type: str = "min", pair: torch.Tensor | None = None,
          target: bool = False, detach: bool = False, keep_mask: torch.Tensor | None = None,
          heads_first: bool = False) -> torch.Tensor:
        """'all' -> logits (num_q, ..., bins); 'min'/'avg' -> (..., 1) over the 2 heads in `pair`.

        `pair` is (2,) shared by every leading index, or (E, 2) with one pair per leading index E
        (batched planning: one pair per env, as one official `_plan` call per env would draw).
        `heads_first` (a (2,) pair): evaluate only the pair's 2 heads instead of all num_q and selecting (the
        same values; the official code computes all heads): the TD target and the policy loss use it.
        """
        if return_type not in ("min", "avg", "all"):
            raise ValueError(f"return_type must be min, avg or all, got {return_type!r}")
        net = self._target_Qs if target else self._Qs
        x = torch.cat([z, a], dim=-1)
        if heads_first and return_type != "all":
            if pair is None or pair.ndim != 1:
                raise ValueError("Q(heads_first=True) needs one (2,) head pair shared by every index")
            logits = net(x, keep_mask=keep_mask, detach=detach, heads=pair)
        else:
            out = net(x, keep_mask=keep_mask, detach=detach)
            if return_type == "all":
                return out
            if pair is None:
                raise ValueError("Q(return_type='min'/'avg') needs the head pair (2 distinct indices)")
            logits = select_pair(out, pair)
        q = tmath.two_hot_inv(logits, self.cfg)
        return q.min(0).values if return_type == "min" else q.sum(0) / 2

    @torch.no_grad()
    def soft_update_target_Q(self) -> None:
        """theta_target <- lerp(theta_target, theta, tau) on the Q ensemble only."""
        for tgt, src in zip(self._target_Qs.parameters(), self._Qs.parameters(), strict=True):
            tgt.lerp_(src, self.cfg.tau)

    # bookkeeping: parameter counts (tests/test_spec_numbers.py)
    def param_counts(self) -> dict[str, int]:  # parity: not compared
        """Learnable parameters per module (the target ensemble is a copy and is not counted)."""
        counts = {
            "encoder": _count(self._encoder),
            "dynamics": _count(self._dynamics),
            "reward": _count(self._reward),
            "policy": _count(self._pi),
            "Q_ensemble": _count(self._Qs),
        }
        if self._glass is not None:
            counts["glass"] = _count(self._glass)
        counts["total"] = sum(counts.values())
        return counts


def select_pair(out: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    """Pick 2 heads of `out` (num_q, E, ...): `pair` (2,) for all E, or (E, 2) per leading index."""
    if pair.ndim == 1:
        return out[pair]
    idx = pair.t().reshape(2, -1, *([1] * (out.ndim - 2)))  # (2, E, 1, ...)
    return torch.take_along_dim(out, idx.expand(2, *out.shape[1:]).contiguous(), dim=0)


# bookkeeping: parameter counts (tests/test_spec_numbers.py)
def _count(module: nn.Module) -> int:  # parity: not compared
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
