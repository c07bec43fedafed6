"""The TD-MPC2 agent in JAX/Optax: losses, one update and acting (mirror of torch_ref/agent.py).

Pure cores (`td_target`, `world_model_loss`, `policy_loss`, `policy_act`) take every noise array as an
argument; `TDMPC2.update_core` runs one full update (world-model step, policy step, Polyak) from given noise;
the random wrappers (`update`, `act`) only split the state's key, draw noise (tdmpc_parity.core.noise specs) and call
the cores. The agent state is a pytree (`AgentState`), so whole training iterations can be jitted/scanned.

Optimisers as torch: world-model Adam (encoder lr x enc_lr_scale, Glass lr x glass.lr_mult) after a global
clip at grad_clip_norm computed as torch's `clip_grad_norm_` (coef = max/(norm + 1e-6), capped at 1);
policy Adam with eps 1e-5 and its own clip. Glass parameters take an Adam step only on updates where the
Glass loss is active (torch skips parameters whose grad is None); on the others neither the Glass loss nor
its Adam step is computed (`lax.cond`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jax_impl import math as jmath
from jax_impl import noise as jnoise
from jax_impl.planner import plan
from jax_impl.runtime import agent_precision, configure
from jax_impl.scale import init_scale, scale_update
from jax_impl.world_model import Params, WorldModel
from tdmpc_parity.core import noise as noise_specs
from tdmpc_parity.core.config import Config
from tdmpc_parity.core.schedule import policy_noise_std_at

sg = jax.lax.stop_gradient

# ----------------------------------------------------------------------------------------------------------
# Pure cores
# ----------------------------------------------------------------------------------------------------------


def td_target(model: WorldModel, params: Params, cfg: Config, next_z: jax.Array, reward: jax.Array,
              pi_eps: jax.Array, q_pair: jax.Array) -> jax.Array:
    """td = r + gamma * min_{2 target heads} Q(next_z, a'), a' ~ pi(next_z); no dropout on targets."""
    action, _ = model.pi(params, next_z, pi_eps)
    return sg(reward + cfg.discount * model.Q(params, next_z, action, return_type="min", pair=q_pair,
                                              target=True, heads_first=True))


def world_model_loss(model: WorldModel, params: Params, cfg: Config, obs: jax.Array, action: jax.Array,
                     reward: jax.Array, next_z: jax.Array, td: jax.Array, q_keep: jax.Array | None,
                     glass_active: jax.Array | bool = False):
    """20 * consistency + 0.1 * reward + 0.1 * value (+ Glass), each sum_t rho^t l_t / H (value also / num_q).

    obs (H+1, B, obs_dim), action (H, B, A), reward (H, B, 1), next_z = enc(obs[1:]) (no grad), td (H, B, 1).
    Returns (total_loss, zs (H+1, B, Z), metrics). With Glass the metrics hold `glass_active` and the Glass
    metrics, which are zeros on an inactive update (the Glass loss is then not computed: `glass_terms`).
    """
    H = cfg.horizon
    rho = jnp.asarray([cfg.rho**t for t in range(H)], obs.dtype)
    z = model.encode(params, obs[0])

    def rollout(z, a_t):
        z = model.next(params, z, a_t)
        return z, z

    # a rolled scan: unrolled, XLA sums the dynamics' gradient over the steps in another order (ULPs differ)
    _, z_rest = jax.lax.scan(rollout, z, action)
    zs = jnp.concatenate([z[None], z_rest], axis=0)
    consistency_loss = (jnp.mean((z_rest - next_z) ** 2, axis=(1, 2)) * rho).sum() / H
    _zs = zs[:-1]
    qs = model.Q(params, _zs, action, return_type="all", keep_mask=q_keep)  # (num_q, H, B, bins)
    reward_preds = model.reward(params, _zs, action)
    reward_loss = (jmath.soft_ce(reward_preds, reward, cfg).mean(axis=(1, 2)) * rho).sum() / H
    value_ce = jmath.soft_ce(qs, jnp.broadcast_to(td, (cfg.num_q, *td.shape)), cfg).mean(axis=(2, 3))
    value_loss = (value_ce * rho).sum() / (H * cfg.num_q)
    total_loss = (cfg.consistency_coef * consistency_loss + cfg.reward_coef * reward_loss
                  + cfg.value_coef * value_loss)
    metrics = {"consistency_loss": consistency_loss, "reward_loss": reward_loss, "value_loss": value_loss}
    if cfg.glass.enabled:
        from jax_impl.glass import glass_terms

        g_loss, g_metrics = glass_terms(params["_glass"], zs[:-1], next_z, cfg.glass, glass_active)
        total_loss = total_loss + g_loss  # inactive: a zero loss with zero gradient
        metrics.update(g_metrics)
    metrics["total_loss"] = total_loss
    return total_loss, zs, metrics


def policy_loss(model: WorldModel, params: Params, cfg: Config, scale_value: jax.Array, zs: jax.Array,
                pi_eps: jax.Array, q_pair: jax.Array, q_keep: jax.Array | None):
    """L_pi = mean_t rho^t mean_B[-(entropy_coef * scaled_entropy + Q_avg / S)] over zs (H+1, B, Z).

    Q_avg uses the detached Q parameters (dropout on); S is RunningScale updated with Q_avg[0] first.
    Returns (loss, new_scale_value, metrics).
    """
    action, info = model.pi(params, zs, pi_eps)
    qs = model.Q(params, zs, action, return_type="avg", pair=q_pair, detach=True, keep_mask=q_keep, heads_first=True)
    q_mean = sg(qs.mean())
    new_scale = scale_update(scale_value, qs[0], cfg.tau)
    qs = qs * (1 / new_scale)
    rho = jnp.asarray(cfg.rho, zs.dtype) ** jnp.arange(qs.shape[0], dtype=zs.dtype)
    loss = (-(cfg.entropy_coef * info["scaled_entropy"] + qs).mean(axis=(1, 2)) * rho).mean()
    metrics = {
        "pi_loss": loss,
        "pi_entropy": info["entropy"].mean(),
        "pi_scaled_entropy": info["scaled_entropy"].mean(),
        "pi_scale": new_scale[0],
        "pi_q_mean": q_mean,
    }
    return loss, new_scale, metrics


def policy_act(model: WorldModel, params: Params, obs: jax.Array, noise_std: float,
               noise: jax.Array) -> jax.Array:
    """The seed's collector: clamp(tanh(mu(enc(obs))) + noise_std * noise, -1, 1)."""
    z = model.encode(params, obs)
    _, info = model.pi(params, z, jnp.zeros_like(noise))
    return jnp.clip(info["mean"] + noise_std * noise, -1, 1)


def pi_act(model: WorldModel, params: Params, obs: jax.Array, eps: jax.Array, eval_mode: bool) -> jax.Array:
    """Official act with mpc=False: tanh(mu) in eval, the sampled action in training."""
    action, info = model.pi(params, model.encode(params, obs), eps)
    return info["mean"] if eval_mode else action


def clip_grad_norm(grads: Any, max_norm: float) -> tuple[Any, jax.Array]:
    """torch.nn.utils.clip_grad_norm_: g * min(max_norm / (||g|| + 1e-6), 1); returns (clipped, ||g||)."""
    norm = optax.tree.norm(grads)
    coef = jnp.minimum(max_norm / (norm + 1e-6), 1.0)
    return jax.tree.map(lambda g: g * coef.astype(g.dtype), grads), norm


# ----------------------------------------------------------------------------------------------------------
# The agent: state, optimisers, one update, acting
# ----------------------------------------------------------------------------------------------------------


class AgentState(NamedTuple):
    """Everything that changes during training, as one pytree."""

    params: Params
    opt_state: Any  # world-model Adam (all groups but Glass)
    glass_opt_state: Any  # Glass Adam (empty when Glass is off)
    pi_opt_state: Any  # policy Adam
    scale: jax.Array  # RunningScale value (1,)
    prev_mean: jax.Array  # planner warm start (E, H, A)
    key: jax.Array
    num_updates: jax.Array  # int32 ()


def _group(name: str) -> str:
    """Adam group of a module. The Q ensemble has its own Adam (same settings as "model", so the same numbers):
    its state, step count included, can start afresh alone (`TDMPC2.reset_q`), as torch's per-parameter state."""
    return {"_encoder": "encoder", "_dynamics": "model", "_reward": "model", "_Qs": "q"}.get(name, "frozen")


class TDMPC2:
    """Official TD-MPC2 agent: module definitions, optimisers and pure update/act functions."""

    def __init__(self, cfg: Config, n_envs: int | None = None):
        if not cfg.resolved:
            raise ValueError("TDMPC2 needs a resolved config (tdmpc_parity.core.config.resolve_config)")
        self.cfg = cfg
        self.dtype = configure(cfg)
        self.n_envs = n_envs if n_envs is not None else cfg.n_envs
        self.model = WorldModel(cfg)
        self.optim = optax.multi_transform(
            {"encoder": optax.adam(cfg.lr * cfg.enc_lr_scale), "model": optax.adam(cfg.lr),
             "q": optax.adam(cfg.lr), "frozen": optax.set_to_zero()},
            lambda params: {k: _group(k) for k in params},
        )
        self.glass_optim = optax.adam(cfg.lr * cfg.glass.lr_mult)
        self.pi_optim = optax.adam(cfg.lr, eps=1e-5)

    def init(self, key: jax.Array | None = None) -> AgentState:
        """Fresh state: parameters from `key` (default PRNGKey(cfg.seed)), optimiser states, scale 1."""
        key = jax.random.PRNGKey(self.cfg.seed) if key is None else key
        k_model, k_glass, k_state = jax.random.split(key, 3)
        params = self.model.init(k_model)
        if self.cfg.glass.enabled:
            from jax_impl.glass import init_glass_params

            params["_glass"] = init_glass_params(k_glass, self.cfg)
        return self.state_from_params(params, k_state)

    def state_from_params(self, params: Params, key: jax.Array) -> AgentState:
        """Fresh optimiser states, scale and warm start around given parameters."""
        cfg = self.cfg
        return AgentState(
            params=params,
            opt_state=self.optim.init(params),
            glass_opt_state=self.glass_optim.init(params["_glass"]) if "_glass" in params else (),
            pi_opt_state=self.pi_optim.init(params["_pi"]),
            scale=init_scale(self.dtype),
            prev_mean=jnp.zeros((self.n_envs, cfg.horizon, cfg.action_dim), self.dtype),
            key=key,
            num_updates=jnp.zeros((), jnp.int32),
        )

    def _keep(self, mask: jax.Array) -> jax.Array | None:
        return mask if self.cfg.dropout > 0 else None

    # -- update ----------------------------------------------------------------------------------------------
    @agent_precision  # traced at the config's matmul precision (runtime.py; the linear layers set their own)
    def update_core(self, state: AgentState, obs: jax.Array, action: jax.Array, reward: jax.Array,
                    noise: dict[str, jax.Array], glass_active: jax.Array | bool = False):
        """One official update from given noise: world-model Adam step, policy Adam step, Polyak."""
        cfg, model = self.cfg, self.model
        params = state.params
        next_z = sg(model.encode(params, obs[1:]))
        td = td_target(model, params, cfg, next_z, reward, noise["td_pi_eps"], noise["td_q_pair"])

        def wm_loss(p):
            total, zs, metrics = world_model_loss(model, p, cfg, obs, action, reward, next_z, td,
                                                  self._keep(noise["q_dropout"]), glass_active)
            return total, (zs, metrics)

        grads, (zs, metrics) = jax.grad(wm_loss, has_aux=True)(params)
        grads, metrics["grad_norm"] = clip_grad_norm(grads, cfg.grad_clip_norm)
        updates, opt_state = self.optim.update(grads, state.opt_state, params)
        new_params = optax.apply_updates(params, updates)
        glass_opt_state = state.glass_opt_state
        if "_glass" in params:
            new_params["_glass"], glass_opt_state = self._glass_step(grads["_glass"], params["_glass"],
                                                                     glass_opt_state, glass_active)
        params = new_params

        def pi_loss(pi_params):
            loss, new_scale, m = policy_loss(model, {**params, "_pi": pi_params}, cfg, state.scale, sg(zs),
                                             noise["pi_eps"], noise["pi_q_pair"], self._keep(noise["pi_q_dropout"]))
            return loss, (new_scale, m)

        pi_grads, (new_scale, pi_metrics) = jax.grad(pi_loss, has_aux=True)(params["_pi"])
        pi_grads, pi_metrics["pi_grad_norm"] = clip_grad_norm(pi_grads, cfg.grad_clip_norm)
        pi_updates, pi_opt_state = self.pi_optim.update(pi_grads, state.pi_opt_state, params["_pi"])
        params = {**params, "_pi": optax.apply_updates(params["_pi"], pi_updates)}
        params = model.soft_update_target_Q(params)
        metrics.update(pi_metrics)
        new_state = state._replace(params=params, opt_state=opt_state, glass_opt_state=glass_opt_state,
                                   pi_opt_state=pi_opt_state, scale=new_scale, num_updates=state.num_updates + 1)
        return new_state, metrics

    def _glass_step(self, grads: Any, params: Any, opt_state: Any, active: jax.Array | bool) -> tuple[Any, Any]:
        """The Glass Adam step on an active update; an inactive one keeps parameters and state (lax.cond)."""
        def step() -> tuple[Any, Any]:
            updates, new_state = self.glass_optim.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), new_state

        return jax.lax.cond(active, step, lambda: (params, opt_state))

    # -- Phase 1c: annealed collector noise, periodic Q reset (tdmpc_parity/core/schedule.py decides both from the
    # step) --
    def collector_std(self, env_step: jax.Array | int) -> jax.Array | float:
        """The `policy` collector's noise std after `env_step` env steps (a traced counter is converted to the
        agent's float dtype first, so the anneal is computed in float64 in a float64 run)."""
        if self.cfg.policy_noise_end is None:
            return self.cfg.policy_noise_std
        return policy_noise_std_at(self.cfg, jnp.asarray(env_step, self.dtype), jnp.minimum)

    def reset_q(self, state: AgentState) -> AgentState:
        """Online Q ensemble <- target ensemble; the Q ensemble's Adam state (moments, count) starts afresh."""
        params = {**state.params, "_Qs": jax.tree.map(jnp.copy, state.params["_target_Qs"])}
        fresh = self.optim.init(params).inner_states["q"]
        opt_state = state.opt_state._replace(inner_states={**state.opt_state.inner_states, "q": fresh})
        return state._replace(params=params, opt_state=opt_state)

    def maybe_reset_q(self, state: AgentState, due: jax.Array | bool) -> AgentState:
        """`reset_q` when `due` (may be traced: a `lax.cond`, one branch run when `due` is unbatched)."""
        return jax.lax.cond(due, self.reset_q, lambda s: s, state)

    def glass_active(self, num_updates: jax.Array, env_steps: jax.Array) -> jax.Array:
        """Glass runs every `every_k_updates` updates, only after `warmup_env_steps` env steps."""
        g = self.cfg.glass
        if not g.enabled:
            return jnp.asarray(False)
        return (env_steps >= g.warmup_env_steps) & (num_updates % g.every_k_updates == 0)

    # random wrapper: draws noise with its framework's RNG, then calls a compared core
    def update(self, state: AgentState, batch: tuple[jax.Array, jax.Array, jax.Array],  # parity: not compared
               env_steps: jax.Array | int = 0, glass_active: jax.Array | None = None):
        """Random wrapper: split the key, draw the update noise, then `update_core`.

        `glass_active` defaults to `self.glass_active(state.num_updates, env_steps)`; the training loop passes
        its own, computed from counters shared by all seeds (one unbatched flag under vmap)."""
        key, sub = jax.random.split(state.key)
        noise = jnoise.draw(noise_specs.update_noise(self.cfg), sub, self.cfg, self.dtype)
        if glass_active is None:
            glass_active = self.glass_active(state.num_updates, jnp.asarray(env_steps))
        return self.update_core(state._replace(key=key), *batch, noise, glass_active=glass_active)

    # -- acting ----------------------------------------------------------------------------------------------
    @agent_precision  # traced at the config's matmul precision (runtime.py)
    # random wrapper: draws noise with its framework's RNG, then calls a compared core
    def act(self, state: AgentState, obs: jax.Array, t0: jax.Array, eval_mode: bool = False,  # parity: not compared
            env_step: jax.Array | int = 0):
        """(state, actions (E, A)) for observations (E, obs_dim): MPPI (official) or the configured collector (its
        noise std at `env_step`, the env steps done, may be traced: tdmpc_parity.core.schedule.policy_noise_std_at)."""
        cfg = self.cfg
        E = obs.shape[0]
        key, sub = jax.random.split(state.key)
        state = state._replace(key=key)
        if not eval_mode and cfg.collector == "policy":
            n = jnoise.draw(noise_specs.policy_collector_noise(cfg, E), sub, cfg, self.dtype)
            return state, policy_act(self.model, state.params, obs, self.collector_std(env_step), n["action_noise"])
        if not cfg.mpc:
            n = jnoise.draw(noise_specs.pi_noise((E,), cfg), sub, cfg, self.dtype)
            return state, pi_act(self.model, state.params, obs, n["eps"], eval_mode)
        n = jnoise.draw(noise_specs.planner_noise(cfg, E), sub, cfg, self.dtype)
        res = plan(self.model, state.params, cfg, obs, state.prev_mean[:E], t0, n, eval_mode=eval_mode)
        return state._replace(prev_mean=state.prev_mean.at[:E].set(res.mean)), res.action
