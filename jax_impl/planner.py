"""MPPI planning in latent space (official `TDMPC2._plan` and `_estimate_value`), one env, vmapped over envs.

Exactly the official steps: encode; roll out num_pi_trajs sampled-policy trajectories once; mean = 0 (or the
previous mean shifted by one step unless t0), std = max_std; `plan_iterations` times (lax.scan): sample
clamp(mean + std * r, -1, 1), score with estimate_value (an unrolled scan over the horizon), keep the top num_elites,
weights s = exp(temperature * (V - max V_elite)) normalised, mean/std = weighted moments (std clamped to
[min_std, max_std]); then draw one elite by Gumbel-max from s, take its first action, add std[0] * noise in
training mode, clamp to [-1, 1]. `plan` vmaps `plan_single` over the leading env axis of every argument.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax_impl import math as jmath
from jax_impl import runtime
from jax_impl.world_model import Params, WorldModel
from tdmpc_parity.core.config import Config


class PlanResult(NamedTuple):
    action: jax.Array  # (A,) clamped action to execute
    mean: jax.Array  # (H, A) final mean: the next call's warm start
    std: jax.Array  # (H, A) final std
    elite_idxs: jax.Array  # (K,) indices into the N samples, last iteration
    elite_value: jax.Array  # (K,) values of the elites, last iteration
    score: jax.Array  # (K,) normalised weights, last iteration
    elite_choice: jax.Array  # () index into the elites drawn by Gumbel-max


def estimate_value(model: WorldModel, params: Params, cfg: Config, z: jax.Array, actions: jax.Array,
                   pi_eps: jax.Array, q_pair: jax.Array) -> jax.Array:
    """G = sum_t gamma^t two_hot_inv(R(z_t, a_t)) + gamma^H Q_avg(z_H, a_H), a_H ~ pi(z_H).

    z (N, Z); actions (H, N, A); pi_eps (N, A); q_pair (2,) -> (N, 1).
    """
    def step(carry, a_t):
        z, G, discount = carry
        reward = jmath.two_hot_inv(model.reward(params, z, a_t), cfg)
        z = model.next(params, z, a_t)
        G = G + discount * reward
        return (z, G, discount * cfg.discount), None

    G0 = jnp.zeros((z.shape[0], 1), z.dtype)
    (z, G, discount), _ = runtime.horizon_scan(step, (z, G0, jnp.ones((), z.dtype)), actions)
    action, _ = model.pi(params, z, pi_eps)
    return G + discount * model.Q(params, z, action, return_type="avg", pair=q_pair)


def plan_single(model: WorldModel, params: Params, cfg: Config, obs: jax.Array, prev_mean: jax.Array,
                t0: jax.Array, noise: dict[str, jax.Array], eval_mode: bool = False) -> PlanResult:
    """Pure MPPI core for one env: obs (obs_dim,), prev_mean (H, A), t0 () bool, noise without env axis."""
    H, A, N, P, K = cfg.horizon, cfg.action_dim, cfg.num_samples, cfg.num_pi_trajs, cfg.num_elites
    z = model.encode(params, obs[None])[0]
    # Sample policy trajectories (once; reused unchanged in every iteration).
    if P > 0:
        def pi_step(_z, eps_t):
            a_t, _ = model.pi(params, _z, eps_t)
            return model.next(params, _z, a_t), a_t

        _z = jnp.broadcast_to(z, (P, z.shape[-1]))
        _z, first = runtime.horizon_scan(pi_step, _z, noise["pi_traj_eps"][: H - 1])
        last, _ = model.pi(params, _z, noise["pi_traj_eps"][H - 1])
        pi_actions = jnp.concatenate([first, last[None]], axis=0)  # (H, P, A)
    else:
        pi_actions = jnp.zeros((H, 0, A), z.dtype)

    # Initialise state and parameters (warm start: previous mean shifted by one step).
    zN = jnp.broadcast_to(z, (N, z.shape[-1]))
    shifted = jnp.concatenate([prev_mean[1:], jnp.zeros((1, A), z.dtype)], axis=0)
    mean = jnp.where(t0, jnp.zeros((H, A), z.dtype), shifted)
    std = jnp.full((H, A), cfg.max_std, z.dtype)

    def iteration(carry, it_noise):
        mean, std, *_ = carry
        r, value_eps, q_pair = it_noise
        samples = jnp.clip(mean[:, None] + std[:, None] * r, -1, 1)
        actions = jnp.concatenate([pi_actions, samples], axis=1)  # (H, N, A)
        value = estimate_value(model, params, cfg, zN, actions, value_eps, q_pair)
        value = jnp.nan_to_num(value, nan=0.0)[:, 0]  # (N,)
        elite_value, elite_idxs = jax.lax.top_k(value, K)
        elite_actions = actions[:, elite_idxs]  # (H, K, A)
        elite_value = elite_value[:, None]  # (K, 1)
        max_value = elite_value.max(0)
        score = jnp.exp(cfg.temperature * (elite_value - max_value))
        score = score / score.sum(0)
        denom = score.sum(0) + 1e-9
        mean = (score[None] * elite_actions).sum(axis=1) / denom
        std = jnp.sqrt((score[None] * (elite_actions - mean[:, None]) ** 2).sum(axis=1) / denom)
        std = jnp.clip(std, cfg.min_std, cfg.max_std)
        return (mean, std, elite_idxs, elite_value[:, 0], score[:, 0], elite_actions), None

    init = (mean, std, jnp.zeros((K,), jnp.int32), jnp.zeros((K,), z.dtype), jnp.zeros((K,), z.dtype),
            jnp.zeros((H, K, A), z.dtype))
    it_noise = (noise["sample_normals"], noise["value_pi_eps"], noise["value_q_pair"])
    (mean, std, elite_idxs, elite_value, score, elite_actions), _ = jax.lax.scan(iteration, init, it_noise)

    # Select action: one elite drawn from Categorical(score), its first action (+ std noise in training).
    choice = jmath.gumbel_softmax_sample(score, noise["gumbel"])
    a = elite_actions[0, choice]
    if not eval_mode:
        a = a + std[0] * noise["action_noise"]
    return PlanResult(jnp.clip(a, -1, 1), mean, std, elite_idxs, elite_value, score, choice)


def plan(model: WorldModel, params: Params, cfg: Config, obs: jax.Array, prev_mean: jax.Array, t0: jax.Array,
         noise: dict[str, jax.Array], eval_mode: bool = False) -> PlanResult:
    """Batched over envs: obs (E, obs_dim), prev_mean (E, H, A), t0 (E,), noise with leading E axis."""
    single = lambda o, m, t, n: plan_single(model, params, cfg, o, m, t, n, eval_mode)  # noqa: E731
    return jax.vmap(single)(obs, prev_mean, t0, noise)
