"""Model FLOPs of TD-MPC2 from the config alone: per module, per MPPI act, per update, per env step.

What is counted (so that each sps figure can be read as a fraction of a machine's peak):
* A Linear layer costs 2 * in * out FLOPs per sample (one multiply and one add per weight).
* Ignored, explicitly: bias adds, LayerNorm, Mish, SimNorm, softmax, two-hot encode/decode, the MPPI moment
  and top-k arithmetic, Adam, gradient clipping and the Polyak update. Each is O(width) or O(params) per
  sample or per update against O(width^2) for the matmuls (for the 5M model below 2% in total).
* Backward costs 2x forward (input gradients + weight gradients), so a trained forward+backward is 3x
  forward. Where the weights are detached (the policy loss's Q ensemble) only input gradients are
  computed: forward + backward = 2x forward.
* The Q ensemble is evaluated head-batched. The value loss (all heads) and the planner's terminal value
  (one head pair per env, as official) compute all `num_q` heads' logits; the TD target (min of 2 target
  heads) and the policy loss (mean of 2 detached heads) evaluate only the 2 heads they use, their
  parameters gathered first (`heads_first` in both backends' `WorldModel.Q`; the official code computes all
  num_q there, which costs (num_q - 2) heads more per call). Backward through the ensemble in the world-model
  step is dense over all heads.
* Glass is not counted (its prototype graph is O(num_prototypes^2 + B * num_prototypes) per update).

The MPPI act follows the official `_plan` / `_estimate_value` (tdmpc2.py of nicklashansen/tdmpc2 @ e9f5932)
for one env: encode once; `num_pi_trajs` policy trajectories (H policy samples, H-1 dynamics steps);
then `iterations` times `num_samples` sequences each scored by H x (reward + dynamics) + one terminal
policy sample + one Q-ensemble call.
One update follows section 5: no-grad encoder on obs[1:] and TD target (policy + target ensemble);
world-model forward+backward (encoder on obs[0], H dynamics, H reward, H ensemble calls); policy step on
H+1 latents (policy forward+backward, detached ensemble forward + input-gradient backward).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from tdmpc_parity.core.config import Config

COLLECTORS = ("mppi", "policy", "random", "none")


@dataclass(frozen=True)
class FlopConfig:
    """The config values the FLOP count depends on (from a resolved Config or a benchmark extra_info)."""

    obs_dim: int
    action_dim: int
    enc_dim: int
    num_enc_layers: int
    latent_dim: int
    mlp_dim: int
    num_bins: int
    num_q: int
    horizon: int
    batch_size: int
    num_samples: int
    num_pi_trajs: int
    iterations: int  # planning iterations actually run (resolved `plan_iterations`)
    action_repeat: int
    updates_per_step: float  # gradient updates per agent step
    collector: str  # "mppi" | "policy" | "random" | "none"


def flop_config(src: Config | FlopConfig | Mapping[str, Any]) -> FlopConfig:
    """Build a FlopConfig from a resolved Config, a benchmark extra_info mapping, or pass one through.

    extra_info names: `iterations` (the resolved planning iterations), `updates_per_agent_step`.
    """
    if isinstance(src, FlopConfig):
        return src
    if isinstance(src, Config):
        if not src.resolved:
            raise ValueError("flop_config needs a resolved config (tdmpc_parity.core.config.resolve_config)")
        values = {f.name: getattr(src, f.name) for f in fields(FlopConfig)
                  if f.name not in ("iterations", "updates_per_step")}
        values.update(iterations=src.plan_iterations, updates_per_step=src.updates_per_step)
        return FlopConfig(**values)
    values = {}
    for f in fields(FlopConfig):
        key = "updates_per_agent_step" if f.name == "updates_per_step" else f.name
        if key not in src:
            raise ValueError(f"flop_config: field {key!r} is missing")
        values[f.name] = src[key]
    if values["collector"] not in COLLECTORS:
        raise ValueError(f"flop_config: collector {values['collector']!r} is not one of {COLLECTORS}")
    return FlopConfig(**values)


# ----------------------------------------------------------------------------------------------------------
# Layers and modules
# ----------------------------------------------------------------------------------------------------------


def module_dims(fc: FlopConfig) -> dict[str, list[int]]:
    """Layer widths [in, hidden..., out] of each module (official `world_model.py`); q_head is ONE head."""
    Z, A, M = fc.latent_dim, fc.action_dim, fc.mlp_dim
    return {
        "encoder": [fc.obs_dim, *[fc.enc_dim] * max(fc.num_enc_layers - 1, 1), Z],
        "dynamics": [Z + A, M, M, Z],
        "reward": [Z + A, M, M, fc.num_bins],
        "pi": [Z, M, M, 2 * A],
        "q_head": [Z + A, M, M, fc.num_bins],
    }


def mlp_forward_flops(dims: list[int]) -> int:
    """Sum over Linear layers of 2 * in * out: matmul FLOPs of one sample's forward pass."""
    return sum(2 * a * b for a, b in zip(dims[:-1], dims[1:], strict=False))


def forward_flops(src: Config | FlopConfig | Mapping[str, Any]) -> dict[str, int]:
    """Forward FLOPs per sample of encoder, dynamics, reward, pi and ONE Q head (`q_head`)."""
    return {name: mlp_forward_flops(d) for name, d in module_dims(flop_config(src)).items()}


def param_counts(src: Config | FlopConfig | Mapping[str, Any]) -> dict[str, int]:
    """Learnable parameters per module as `torch_ref.WorldModel.param_counts` names them (no target Qs).

    Each Linear has in*out + out; each hidden layer (and the SimNorm output layer of encoder and dynamics)
    has a LayerNorm with 2*out; plain output layers (reward, pi, Q) have no LayerNorm.
    """
    fc = flop_config(src)
    dims = module_dims(fc)

    def count(d: list[int], normed_last: bool) -> int:
        total = 0
        for i, (a, b) in enumerate(zip(d[:-1], d[1:], strict=False)):
            last = i == len(d) - 2
            total += a * b + b + (2 * b if (not last or normed_last) else 0)
        return total

    counts = {
        "encoder": count(dims["encoder"], True),
        "dynamics": count(dims["dynamics"], True),
        "reward": count(dims["reward"], False),
        "policy": count(dims["pi"], False),
        "Q_ensemble": fc.num_q * count(dims["q_head"], False),
    }
    counts["total"] = sum(counts.values())
    return counts


# ----------------------------------------------------------------------------------------------------------
# Planning, acting, updating
# ----------------------------------------------------------------------------------------------------------


def plan_breakdown(src: Config | FlopConfig | Mapping[str, Any]) -> dict[str, int]:
    """FLOPs of one official MPPI act for ONE env, by part, and their `total`."""
    fc = flop_config(src)
    f = forward_flops(fc)
    H, N, P, Q = fc.horizon, fc.num_samples, fc.num_pi_trajs, fc.num_q
    per_sample = H * (f["reward"] + f["dynamics"]) + f["pi"] + Q * f["q_head"]
    parts = {
        "encode": f["encoder"],
        "pi_trajectories": P * (H * f["pi"] + (H - 1) * f["dynamics"]),
        "estimate_value": fc.iterations * N * per_sample,
    }
    parts["total"] = sum(parts.values())
    return parts


def plan_flops(src: Config | FlopConfig | Mapping[str, Any]) -> int:
    """FLOPs of one official MPPI act for one env (see `plan_breakdown`)."""
    return plan_breakdown(src)["total"]


def policy_act_flops(src: Config | FlopConfig | Mapping[str, Any]) -> int:
    """FLOPs of the seed's `policy` collector for one env: encoder + policy forward."""
    f = forward_flops(src)
    return f["encoder"] + f["pi"]


def collect_flops_per_agent_step(src: Config | FlopConfig | Mapping[str, Any]) -> int:
    """Model FLOPs to choose one env's action: MPPI act, policy act, or 0 (random / none)."""
    fc = flop_config(src)
    if fc.collector == "mppi":
        return plan_flops(fc)
    if fc.collector == "policy":
        return policy_act_flops(fc)
    return 0


def update_breakdown(src: Config | FlopConfig | Mapping[str, Any]) -> dict[str, int]:
    """FLOPs of one official update (world-model step + policy step), by part, and their `total`."""
    fc = flop_config(src)
    f = forward_flops(fc)
    H, B, Q = fc.horizon, fc.batch_size, fc.num_q
    ens, pair = Q * f["q_head"], 2 * f["q_head"]
    parts = {
        # no grad: next_z = enc(obs[1:]); td = r + gamma * min of 2 target heads at (next_z, pi(next_z))
        "td_target": H * B * (f["encoder"] + f["pi"] + pair),
        # forward + backward (3x): enc(obs[0]), H dynamics, H ensemble calls (all heads), H reward heads
        "world_model": 3 * (B * f["encoder"] + H * B * (f["dynamics"] + ens + f["reward"])),
        # pi on H+1 latents trained (3x); 2 detached heads: forward + input-gradient backward (2x)
        "policy": (H + 1) * B * (3 * f["pi"] + 2 * pair),
    }
    parts["total"] = sum(parts.values())
    return parts


def update_flops(src: Config | FlopConfig | Mapping[str, Any]) -> int:
    """FLOPs of one official update (see `update_breakdown`)."""
    return update_breakdown(src)["total"]


def flops_per_env_step(src: Config | FlopConfig | Mapping[str, Any]) -> dict[str, float]:
    """Training FLOPs per env step (physics control step) of one env: collection, updates, total.

    collect = act FLOPs / action_repeat (MPPI for `mppi`, enc + pi for `policy`, 0 for `random`);
    update = update FLOPs x updates per agent step / action_repeat. Evaluation episodes are not counted.
    """
    fc = flop_config(src)
    collect = collect_flops_per_agent_step(fc) / fc.action_repeat
    update = update_flops(fc) * fc.updates_per_step / fc.action_repeat
    return {"collect": collect, "update": update, "total": collect + update}


def flops_per_call(src: Config | FlopConfig | Mapping[str, Any], agent_steps_per_call: int,
                   updates_per_call: int) -> int:
    """Model FLOPs of one benchmark call: agent steps x act FLOPs + updates x update FLOPs."""
    fc = flop_config(src)
    return agent_steps_per_call * collect_flops_per_agent_step(fc) + updates_per_call * update_flops(fc)


def profile_flops(task: str = "hopper-hop", model_size: int | None = 5,
                  profiles: tuple[str, ...] = ("official", "fast")) -> dict[str, dict[str, Any]]:
    """FLOPs of the named config profiles (defaults + profile + task + model size): per act of the
    profile's collector, per update, per env step (collect, update, total); the report's reference rows."""
    from tdmpc_parity.core.config import load_config

    out: dict[str, dict[str, Any]] = {}
    for name in profiles:
        values: dict[str, Any] = {"task": task}
        if model_size is not None:
            values["model_size"] = model_size
        cfg = load_config(name, values=values)
        fc = flop_config(cfg)
        per_step = flops_per_env_step(fc)
        out[name] = {
            "collector": fc.collector,
            "updates_per_agent_step": fc.updates_per_step,
            "per_act": float(collect_flops_per_agent_step(fc)),
            "per_update": float(update_flops(fc)),
            "collect_per_env_step": per_step["collect"],
            "update_per_env_step": per_step["update"],
            "total_per_env_step": per_step["total"],
        }
    return out
