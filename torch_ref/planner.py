"""MPPI planning in latent space (official `TDMPC2._plan` and `_estimate_value`), batched over envs.

Per env, exactly the official steps: encode; roll out num_pi_trajs sampled-policy trajectories once;
mean = 0 (or the previous mean shifted by one step unless t0), std = max_std; `plan_iterations` times:
sample clamp(mean + std * r, -1, 1), score with estimate_value, keep the top num_elites, weights
s = exp(temperature * (V - max V_elite)) normalised, mean/std = weighted moments (std clamped to
[min_std, max_std]); then draw one elite by Gumbel-max from s, take its first action, add std[0] * noise in
training mode, clamp to [-1, 1]. The leading axis E of every tensor is the env.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tdmpc_parity.core.config import Config
from torch_ref import math as tmath
from torch_ref.world_model import WorldModel


@dataclass
class PlanResult:
    action: torch.Tensor  # (E, A) clamped action to execute
    mean: torch.Tensor  # (E, H, A) final mean: the next call's warm start
    std: torch.Tensor  # (E, H, A) final std
    elite_idxs: torch.Tensor  # (E, K) indices into the N samples, last iteration
    elite_value: torch.Tensor  # (E, K) values of the elites, last iteration
    score: torch.Tensor  # (E, K) normalised weights, last iteration
    elite_choice: torch.Tensor  # (E,) index into the elites drawn by Gumbel-max


@torch.no_grad()
def estimate_value(model: WorldModel, cfg: Config, z: torch.Tensor, actions: torch.Tensor,
                   pi_eps: torch.Tensor, q_pair: torch.Tensor) -> torch.Tensor:
    """G = sum_t gamma^t two_hot_inv(R(z_t, a_t)) + gamma^H Q_avg(z_H, a_H), a_H ~ pi(z_H).

    z (E, N, Z); actions (E, H, N, A); pi_eps (E, N, A); q_pair (E, 2) -> (E, N, 1).
    """
    G, discount = 0, 1.0
    for t in range(cfg.horizon):
        reward = tmath.two_hot_inv(model.reward(z, actions[:, t]), cfg)
        z = model.next(z, actions[:, t])
        G = G + discount * reward
        discount = discount * cfg.discount
    action, _ = model.pi(z, pi_eps)
    return G + discount * model.Q(z, action, return_type="avg", pair=q_pair)


@torch.no_grad()
def plan(model: WorldModel, cfg: Config, obs: torch.Tensor, prev_mean: torch.Tensor, t0: torch.Tensor,
         noise: dict[str, torch.Tensor], eval_mode: bool = False) -> PlanResult:
    """Pure MPPI core: obs (E, obs_dim), prev_mean (E, H, A), t0 (E,) bool, noise per tdmpc_parity.core.noise."""
    H, A, N, P, K = cfg.horizon, cfg.action_dim, cfg.num_samples, cfg.num_pi_trajs, cfg.num_elites
    z = model.encode(obs)
    E = z.shape[0]
    # Sample policy trajectories (once; reused unchanged in every iteration).
    pi_actions = z.new_empty(E, H, P, A)
    if P > 0:
        _z = z.unsqueeze(1).expand(E, P, z.shape[-1])
        for t in range(H - 1):
            pi_actions[:, t], _ = model.pi(_z, noise["pi_traj_eps"][:, t])
            _z = model.next(_z, pi_actions[:, t])
        pi_actions[:, -1], _ = model.pi(_z, noise["pi_traj_eps"][:, H - 1])

    # Initialise state and parameters (warm start: previous mean shifted by one step).
    z = z.unsqueeze(1).expand(E, N, z.shape[-1])
    mean = z.new_zeros(E, H, A)
    std = torch.full((E, H, A), cfg.max_std, dtype=z.dtype, device=z.device)
    mean[:, :-1] = torch.where(t0.reshape(E, 1, 1), mean[:, :-1], prev_mean[:, 1:])
    actions = z.new_empty(E, H, N, A)
    actions[:, :, :P] = pi_actions

    rows = torch.arange(E, device=z.device).unsqueeze(1)
    for i in range(cfg.plan_iterations):
        r = noise["sample_normals"][:, i]
        actions[:, :, P:] = (mean.unsqueeze(2) + std.unsqueeze(2) * r).clamp(-1, 1)
        value = estimate_value(model, cfg, z, actions, noise["value_pi_eps"][:, i], noise["value_q_pair"][:, i])
        value = value.nan_to_num(0).squeeze(-1)  # (E, N)
        # the K best, ties in index order (official torch.topk leaves the order of ties unspecified: with the
        # official zero-init reward/Q heads every value of the untrained agent ties); = jax.lax.top_k's rule
        elite_idxs = torch.sort(value, dim=1, descending=True, stable=True).indices[:, :K]  # (E, K)
        elite_value = value[rows, elite_idxs].unsqueeze(-1)  # (E, K, 1)
        elite_actions = torch.gather(actions, 2, elite_idxs[:, None, :, None].expand(E, H, K, A))  # (E,H,K,A)

        max_value = elite_value.max(1, keepdim=True).values
        score = torch.exp(cfg.temperature * (elite_value - max_value))
        score = score / score.sum(1, keepdim=True)  # (E, K, 1)
        denom = score.sum(1, keepdim=True) + 1e-9  # (E, 1, 1)
        mean = (score.unsqueeze(1) * elite_actions).sum(dim=2) / denom
        std = ((score.unsqueeze(1) * (elite_actions - mean.unsqueeze(2)) ** 2).sum(dim=2) / denom).sqrt()
        std = std.clamp(cfg.min_std, cfg.max_std)

    # Select action: one elite drawn from Categorical(score), its first action (+ std noise in training).
    choice = tmath.gumbel_softmax_sample(score.squeeze(-1), noise["gumbel"], dim=-1)  # (E,)
    a = elite_actions[torch.arange(E, device=z.device), 0, choice]  # (E, A)
    if not eval_mode:
        a = a + std[:, 0] * noise["action_noise"]
    return PlanResult(a.clamp(-1, 1), mean, std, elite_idxs, elite_value.squeeze(-1), score.squeeze(-1), choice)
