"""The TD-MPC2 agent: losses, one update and acting (official `tdmpc2.py` at HEAD e9f5932).

Pure cores (`td_target`, `world_model_loss`, `policy_loss`, `policy_act`) take every noise array as an
argument; `TDMPC2.update_core` runs one full update (world-model step, policy step, Polyak) from given noise;
the random wrappers (`update`, `act`) only draw noise (tdmpc_parity.core.noise specs) and call the cores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tdmpc_parity.core import noise as noise_specs
from tdmpc_parity.core.config import Config
from tdmpc_parity.core.schedule import policy_noise_std_at
from torch_ref import math as tmath
from torch_ref import noise as tnoise
from torch_ref.planner import plan
from torch_ref.runtime import agent_precision, configure
from torch_ref.scale import RunningScale, scale_update
from torch_ref.world_model import WorldModel

# ----------------------------------------------------------------------------------------------------------
# Pure cores
# ----------------------------------------------------------------------------------------------------------


@torch.no_grad()
def td_target(model: WorldModel, cfg: Config, next_z: torch.Tensor, reward: torch.Tensor,
              pi_eps: torch.Tensor, q_pair: torch.Tensor) -> torch.Tensor:
    """td = r + gamma * min_{2 target heads} Q(next_z, a'), a' ~ pi(next_z); no dropout on targets."""
    action, _ = model.pi(next_z, pi_eps)
    return reward + cfg.discount * model.Q(next_z, action, return_type="min", pair=q_pair, target=True,
                                           heads_first=True)


def world_model_loss(model: WorldModel, cfg: Config, obs: torch.Tensor, action: torch.Tensor,
                     reward: torch.Tensor, next_z: torch.Tensor, td: torch.Tensor,
                     q_keep: torch.Tensor | None, glass_active: bool = False):
    """20 * consistency + 0.1 * reward + 0.1 * value (+ Glass), each sum_t rho^t l_t / H (value also / num_q).

    obs (H+1, B, obs_dim), action (H, B, A), reward (H, B, 1), next_z = enc(obs[1:]) (no grad), td (H, B, 1).
    Returns (total_loss, zs (H+1, B, Z), metrics). With a Glass head the metrics hold `glass_active` and the
    Glass metrics, which are zeros on an inactive update (the Glass loss is then not computed: `glass_terms`).
    """
    H = cfg.horizon
    z = model.encode(obs[0])
    zs = [z]
    consistency_loss = 0
    for t in range(H):
        z = model.next(z, action[t])
        consistency_loss = consistency_loss + F.mse_loss(z, next_z[t]) * cfg.rho**t
        zs.append(z)
    zs = torch.stack(zs)
    _zs = zs[:-1]
    qs = model.Q(_zs, action, return_type="all", keep_mask=q_keep)  # (num_q, H, B, bins)
    reward_preds = model.reward(_zs, action)
    reward_loss, value_loss = 0, 0
    for t in range(H):
        reward_loss = reward_loss + tmath.soft_ce(reward_preds[t], reward[t], cfg).mean() * cfg.rho**t
        for q in range(cfg.num_q):
            value_loss = value_loss + tmath.soft_ce(qs[q, t], td[t], cfg).mean() * cfg.rho**t
    consistency_loss = consistency_loss / H
    reward_loss = reward_loss / H
    value_loss = value_loss / (H * cfg.num_q)
    total_loss = (cfg.consistency_coef * consistency_loss + cfg.reward_coef * reward_loss
                  + cfg.value_coef * value_loss)
    metrics = {"consistency_loss": consistency_loss, "reward_loss": reward_loss, "value_loss": value_loss}
    if model._glass is not None:
        from torch_ref.glass import glass_terms

        g_loss, g_metrics = glass_terms(model._glass, zs[:-1], next_z, cfg.glass, glass_active)
        if glass_active:  # inactive: no Glass gradient at all, so Adam skips the Glass parameters
            total_loss = total_loss + g_loss
        metrics.update(g_metrics)
    metrics["total_loss"] = total_loss
    return total_loss, zs, metrics


def policy_loss(model: WorldModel, cfg: Config, scale_value: torch.Tensor, zs: torch.Tensor,
                pi_eps: torch.Tensor, q_pair: torch.Tensor, q_keep: torch.Tensor | None):
    """L_pi = mean_t rho^t mean_B[-(entropy_coef * scaled_entropy + Q_avg / S)] over zs (H+1, B, Z).

    Q_avg uses the detached Q parameters (dropout on); S is RunningScale updated with Q_avg[0] first.
    Returns (loss, new_scale_value, metrics).
    """
    action, info = model.pi(zs, pi_eps)
    qs = model.Q(zs, action, return_type="avg", pair=q_pair, detach=True, keep_mask=q_keep, heads_first=True)
    q_mean = qs.mean().detach()
    new_scale = scale_update(scale_value, qs[0], cfg.tau)
    qs = qs * (1 / new_scale)
    rho = torch.pow(cfg.rho, torch.arange(len(qs), device=zs.device, dtype=zs.dtype))
    loss = (-(cfg.entropy_coef * info["scaled_entropy"] + qs).mean(dim=(1, 2)) * rho).mean()
    metrics = {
        "pi_loss": loss,
        "pi_entropy": info["entropy"].mean(),
        "pi_scaled_entropy": info["scaled_entropy"].mean(),
        "pi_scale": new_scale.squeeze(),
        "pi_q_mean": q_mean,
    }
    return loss, new_scale, metrics


@torch.no_grad()
def policy_act(model: WorldModel, obs: torch.Tensor, noise_std: float, noise: torch.Tensor) -> torch.Tensor:
    """The seed's collector: clamp(tanh(mu(enc(obs))) + noise_std * noise, -1, 1)."""
    z = model.encode(obs)
    _, info = model.pi(z, torch.zeros_like(noise))
    return (info["mean"] + noise_std * noise).clamp(-1, 1)


@torch.no_grad()
def pi_act(model: WorldModel, obs: torch.Tensor, eps: torch.Tensor, eval_mode: bool) -> torch.Tensor:
    """Official act with mpc=False: tanh(mu) in eval, the sampled action in training."""
    action, info = model.pi(model.encode(obs), eps)
    return info["mean"] if eval_mode else action


# ----------------------------------------------------------------------------------------------------------
# The agent: state, optimisers, one update, acting
# ----------------------------------------------------------------------------------------------------------


class TDMPC2:
    """Official TD-MPC2 agent state: world model, two Adams, RunningScale, planner warm start, RNG."""

    def __init__(self, cfg: Config, n_envs: int | None = None, device: torch.device | None = None,
                 dtype: torch.dtype | None = None):
        if not cfg.resolved:
            raise ValueError("TDMPC2 needs a resolved config (tdmpc_parity.core.config.resolve_config)")
        self.cfg = cfg
        dev, dt = configure(cfg)
        self.device, self.dtype = device or dev, dtype or dt
        self.n_envs = n_envs if n_envs is not None else cfg.n_envs
        torch.manual_seed(cfg.seed)  # parameter init
        glass = None
        if cfg.glass.enabled:
            from torch_ref.glass import GlassHead

            glass = GlassHead(cfg)
        self.model = WorldModel(cfg, glass=glass).to(self.device, self.dtype)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        m = self.model
        groups = [
            {"params": list(m._encoder.parameters()), "lr": cfg.lr * cfg.enc_lr_scale},
            {"params": list(m._dynamics.parameters())},
            {"params": list(m._reward.parameters())},
            {"params": list(m._Qs.parameters())},
        ]
        if m._glass is not None:
            groups.append({"params": list(m._glass.parameters()), "lr": cfg.lr * cfg.glass.lr_mult})
        self.optim = torch.optim.Adam(groups, lr=cfg.lr)
        self.pi_optim = torch.optim.Adam(m._pi.parameters(), lr=cfg.lr, eps=1e-5)
        self.scale = RunningScale(cfg.tau, device=self.device, dtype=self.dtype)
        self.prev_mean = torch.zeros(self.n_envs, cfg.horizon, cfg.action_dim, device=self.device,
                                     dtype=self.dtype)
        self.eval_prev_mean = torch.zeros(cfg.eval_episodes, cfg.horizon, cfg.action_dim, device=self.device,
                                          dtype=self.dtype)
        self.num_updates = 0
        self.model.eval()

    # -- noise ---------------------------------------------------------------------------------------------
    def draw(self, specs) -> dict[str, torch.Tensor]:  # parity: not compared (noise drawing with torch's RNG)
        return tnoise.draw(specs, self.generator, self.cfg, self.device, self.dtype)

    def _keep(self, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.cfg.dropout > 0 else None

    # -- update ----------------------------------------------------------------------------------------------
    @agent_precision  # the config's matmul precision around forward, backward and Adam (runtime.py)
    def update_core(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
                    noise: dict[str, torch.Tensor], glass_active: bool = False) -> dict[str, torch.Tensor]:
        """One official update from given noise: world-model Adam step, policy Adam step, Polyak."""
        cfg, model = self.cfg, self.model
        with torch.no_grad():
            next_z = model.encode(obs[1:])
            td = td_target(model, cfg, next_z, reward, noise["td_pi_eps"], noise["td_q_pair"])
        model.train()
        total_loss, zs, metrics = world_model_loss(model, cfg, obs, action, reward, next_z, td,
                                                   self._keep(noise["q_dropout"]), glass_active)
        total_loss.backward()
        metrics["grad_norm"] = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
        self.optim.step()
        self.optim.zero_grad(set_to_none=True)

        pi_loss, new_scale, pi_metrics = policy_loss(model, cfg, self.scale.value, zs.detach(), noise["pi_eps"],
                                                     noise["pi_q_pair"], self._keep(noise["pi_q_dropout"]))
        self.scale.value.copy_(new_scale)
        pi_loss.backward()
        pi_metrics["pi_grad_norm"] = torch.nn.utils.clip_grad_norm_(model._pi.parameters(), cfg.grad_clip_norm)
        self.pi_optim.step()
        self.pi_optim.zero_grad(set_to_none=True)

        model.soft_update_target_Q()
        model.eval()
        self.num_updates += 1
        metrics.update(pi_metrics)
        return {k: v.detach() for k, v in metrics.items()}

    def glass_active(self, env_steps: int) -> bool:
        """Glass runs every `every_k_updates` updates, only after `warmup_env_steps` env steps."""
        g = self.cfg.glass
        return (g.enabled and env_steps >= g.warmup_env_steps and self.num_updates % g.every_k_updates == 0)

    # random wrapper: draws noise with its framework's RNG, then calls a compared core
    def update(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],  # parity: not compared
               env_steps: int = 0):
        """Random wrapper: draw the update noise, then `update_core`."""
        obs, action, reward = batch
        noise = self.draw(noise_specs.update_noise(self.cfg))
        return self.update_core(obs, action, reward, noise, glass_active=self.glass_active(env_steps))

    # -- acting ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    @agent_precision  # the config's matmul precision around planning / acting (runtime.py)
    # random wrapper: draws noise with its framework's RNG, then calls a compared core
    def act(self, obs: torch.Tensor, t0: torch.Tensor, eval_mode: bool = False,  # parity: not compared
            env_step: int = 0) -> torch.Tensor:
        """Actions (E, A) for observations (E, obs_dim): MPPI (official) or the configured collector (its noise
        std at `env_step`, the env steps done: tdmpc_parity.core.schedule.policy_noise_std_at)."""
        cfg = self.cfg
        E = obs.shape[0]
        if not eval_mode and cfg.collector == "policy":
            n = self.draw(noise_specs.policy_collector_noise(cfg, E))
            return policy_act(self.model, obs, policy_noise_std_at(cfg, env_step), n["action_noise"])
        if not cfg.mpc:
            n = self.draw(noise_specs.pi_noise((E,), cfg))
            return pi_act(self.model, obs, n["eps"], eval_mode)
        n = self.draw(noise_specs.planner_noise(cfg, E))
        warm = self.eval_prev_mean if eval_mode else self.prev_mean  # eval envs keep their own warm start
        res = plan(self.model, cfg, obs, warm[:E], t0, n, eval_mode=eval_mode)
        warm[:E] = res.mean
        return res.action

    # -- Phase 1c: periodic Q reset (config q_reset_every_env_steps; tdmpc_parity.core.schedule.q_reset_due) -----------
    @torch.no_grad()
    def reset_q(self) -> None:
        """Online Q ensemble <- target ensemble; the Q parameters' Adam state (moments, step) starts afresh."""
        for dst, src in zip(self.model._Qs.parameters(), self.model._target_Qs.parameters(), strict=True):
            dst.copy_(src)
            self.optim.state.pop(dst, None)

    # -- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:  # parity: not compared (checkpoint bookkeeping; exact resume is tested in tests/)
        """Everything an exact resume needs (the buffer is saved by the trainer)."""
        return {
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "pi_optim": self.pi_optim.state_dict(),
            "scale": self.scale.value.clone(),
            "prev_mean": self.prev_mean.clone(),
            "eval_prev_mean": self.eval_prev_mean.clone(),
            "generator": self.generator.get_state(),
            "num_updates": self.num_updates,
        }

    # checkpoint bookkeeping; exact resume is tested in tests/
    def load_state_dict(self, state: dict) -> None:  # parity: not compared
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.pi_optim.load_state_dict(state["pi_optim"])
        self.scale.value.copy_(state["scale"])
        self.prev_mean.copy_(state["prev_mean"])
        self.eval_prev_mean.copy_(state["eval_prev_mean"])
        self.generator.set_state(state["generator"])
        self.num_updates = int(state["num_updates"])
