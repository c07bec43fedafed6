"""The TD-MPC2 world model in Flax (mirror of torch_ref/world_model.py).

Parameters live in one plain dict with the torch module names: `_encoder`, `_dynamics`, `_reward`, `_pi`,
`_Qs` (stacked over heads), `_target_Qs` (the Polyak copy) and, with Glass, `_glass`. Init as official:
Linear weights N(0, 0.02), biases 0, LayerNorm 1/0, last layer of reward and of every Q head zeroed.
Every stochastic method is a pure core taking its noise (`eps`, head `pair`, dropout `keep_mask`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jax_impl import layers
from jax_impl import math as jmath
from jax_impl.runtime import DTYPES
from tdmpc_parity.core.config import Config

Params = dict


class WorldModel:
    """Official TD-MPC2 world model; `cfg` must be resolved. Holds module definitions, not parameters."""

    def __init__(self, cfg: Config):
        if not cfg.resolved:
            raise ValueError("WorldModel needs a resolved config (tdmpc_parity.core.config.resolve_config)")
        self.cfg = cfg
        self.dtype = DTYPES[cfg.dtype]
        A, Z, M = cfg.action_dim, cfg.latent_dim, cfg.mlp_dim
        sim = partial(layers.simnorm, dim=cfg.simnorm_dim)
        enc_hidden = tuple([cfg.enc_dim] * max(cfg.num_enc_layers - 1, 1))
        mm = {"dtype": self.dtype, "precision": cfg.matmul_precision}  # every linear layer's matmul mode
        self._encoder = layers.MLP(enc_hidden, Z, act=sim, **mm)
        self._dynamics = layers.MLP((M, M), Z, act=sim, **mm)
        self._reward = layers.MLP((M, M), cfg.num_bins, **mm)
        self._pi = layers.MLP((M, M), 2 * A, **mm)
        self._Qs = layers.QEnsemble(M, cfg.num_bins, cfg.num_q, cfg.dropout, **mm)
        self._Q_pair = layers.QEnsemble(M, cfg.num_bins, 2, cfg.dropout, **mm)  # 2 gathered heads
        self.log_std_min = cfg.log_std_min
        self.log_std_dif = cfg.log_std_max - cfg.log_std_min

    def init(self, key: jax.Array) -> Params:
        """Fresh parameters (official init), the target ensemble a copy of the online one."""
        cfg, dt = self.cfg, self.dtype
        k_enc, k_dyn, k_rew, k_pi, k_q = jax.random.split(key, 5)
        za = jnp.zeros((1, cfg.latent_dim + cfg.action_dim), dt)
        params = {
            "_encoder": self._encoder.init(k_enc, jnp.zeros((1, cfg.obs_dim), dt))["params"],
            "_dynamics": self._dynamics.init(k_dyn, za)["params"],
            "_reward": self._reward.init(k_rew, za)["params"],
            "_pi": self._pi.init(k_pi, jnp.zeros((1, cfg.latent_dim), dt))["params"],
            "_Qs": self._Qs.init(k_q, za)["params"],
        }
        last = str(2)
        params["_reward"][last]["kernel"] = jnp.zeros_like(params["_reward"][last]["kernel"])
        params["_Qs"]["heads"][last]["kernel"] = jnp.zeros_like(params["_Qs"]["heads"][last]["kernel"])
        params["_target_Qs"] = jax.tree.map(jnp.copy, params["_Qs"])
        return params

    # -- deterministic modules -------------------------------------------------------------------------
    def encode(self, params: Params, obs: jax.Array) -> jax.Array:
        return self._encoder.apply({"params": params["_encoder"]}, obs)

    def next(self, params: Params, z: jax.Array, a: jax.Array) -> jax.Array:
        return self._dynamics.apply({"params": params["_dynamics"]}, jnp.concatenate([z, a], axis=-1))

    def reward(self, params: Params, z: jax.Array, a: jax.Array) -> jax.Array:
        return self._reward.apply({"params": params["_reward"]}, jnp.concatenate([z, a], axis=-1))

    # -- stochastic cores ------------------------------------------------------------------------------
    def pi(self, params: Params, z: jax.Array, eps: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Squashed Gaussian with injected eps: u = mu + eps * exp(log_std), a = tanh(u).

        HEAD's entropy scaling: scaled_entropy = -log_prob * (A * log_prob_gauss / (log_prob + 1e-8)).
        """
        mean, raw_log_std = jnp.split(self._pi.apply({"params": params["_pi"]}, z), 2, axis=-1)
        log_std = jmath.log_std(raw_log_std, self.log_std_min, self.log_std_dif)
        log_prob = jmath.gaussian_logprob(eps, log_std)
        scaled_log_prob = log_prob * eps.shape[-1]
        action = mean + eps * jnp.exp(log_std)
        mean, action, log_prob = jmath.squash(mean, action, log_prob)
        entropy_scale = scaled_log_prob / (log_prob + 1e-8)
        info = {
            "mean": mean,
            "log_std": log_std,
            "entropy": -log_prob,
            "scaled_entropy": -log_prob * entropy_scale,
        }
        return action, info

    def Q(self, params: Params, z: jax.Array, a: jax.Array, return_type: str = "min",
          pair: jax.Array | None = None, target: bool = False, detach: bool = False,
          keep_mask: jax.Array | None = None, heads_first: bool = False) -> jax.Array:
        """'all' -> logits (num_q, ..., bins); 'min'/'avg' -> (..., 1) over the 2 heads in `pair` (2,).

        `heads_first`: evaluate only the pair's 2 heads (their parameters, and keep_mask, gathered first)
        instead of all num_q and selecting: the same values (the TD target and the policy loss use it)."""
        if return_type not in ("min", "avg", "all"):
            raise ValueError(f"return_type must be min, avg or all, got {return_type!r}")
        q_params = params["_target_Qs"] if target else params["_Qs"]
        if detach:
            q_params = jax.lax.stop_gradient(q_params)
        x = jnp.concatenate([z, a], axis=-1)
        if heads_first and return_type != "all":
            if pair is None:
                raise ValueError("Q(heads_first=True) needs the head pair (2 distinct indices)")
            two = jax.tree.map(lambda p: p[pair], q_params)
            logits = self._Q_pair.apply({"params": two}, x, None if keep_mask is None else keep_mask[pair])
        else:
            out = self._Qs.apply({"params": q_params}, x, keep_mask)
            if return_type == "all":
                return out
            if pair is None:
                raise ValueError("Q(return_type='min'/'avg') needs the head pair (2 distinct indices)")
            logits = out[pair]
        q = jmath.two_hot_inv(logits, self.cfg)
        return q.min(0) if return_type == "min" else q.sum(0) / 2

    def soft_update_target_Q(self, params: Params) -> Params:
        """theta_target <- theta_target + tau * (theta - theta_target) on the Q ensemble only."""
        tau = self.cfg.tau
        target = jax.tree.map(lambda t, s: t + tau * (s - t), params["_target_Qs"], params["_Qs"])
        return {**params, "_target_Qs": target}

    # bookkeeping: parameter counts (tests/test_spec_numbers.py)
    def param_counts(self, params: Params) -> dict[str, int]:  # parity: not compared
        """Learnable parameters per module (the target ensemble is a copy and is not counted)."""
        def count(tree) -> int:
            return int(sum(x.size for x in jax.tree.leaves(tree)))

        counts = {
            "encoder": count(params["_encoder"]),
            "dynamics": count(params["_dynamics"]),
            "reward": count(params["_reward"]),
            "policy": count(params["_pi"]),
            "Q_ensemble": count(params["_Qs"]),
        }
        if "_glass" in params:
            counts["glass"] = count(params["_glass"])
        counts["total"] = sum(counts.values())
        return counts
