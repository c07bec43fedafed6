"""The one config both backends read: official TD-MPC2 fields and defaults, harness settings, Glass.

Official fields and defaults follow nicklashansen/tdmpc2 `config.yaml` at e9f5932 (docs/differences.md).
Derived values (bin_size, discount, seed_steps, planning iterations,
updates per vector step, ...) are computed in `resolve_config` and nowhere else.

Loading order: defaults -> profile (`official` | `fast`) -> YAML file -> `key=value` overrides; then the
MODEL_SIZE preset fills the architecture keys that were not given explicitly; then the Glass preset fills
the `glass.*` keys that were not given explicitly. An unknown key, a wrong type or an impossible value is a
ValueError that names the field. The file may be a run folder's `config.json` (a `.json` file is read as JSON):
its `_meta` entry and its derived fields (DERIVED_FIELDS) are ignored and the derived values computed again
(so a copy edited in, say, `n_envs` stays consistent); in overrides a derived field is still an error.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from tdmpc_parity.core.config_files import config_file
from tdmpc_parity.core.tasks import OWN_MJX_ENVS, REGISTERED, TASKS, get_task

# ----------------------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------------------

MODEL_SIZE: dict[int, dict[str, int]] = {
    1: dict(enc_dim=256, mlp_dim=384, latent_dim=128, num_enc_layers=2, num_q=2),
    5: dict(enc_dim=256, mlp_dim=512, latent_dim=512, num_enc_layers=2),
    19: dict(enc_dim=1024, mlp_dim=1024, latent_dim=768, num_enc_layers=3),
    48: dict(enc_dim=1792, mlp_dim=1792, latent_dim=768, num_enc_layers=4),
    317: dict(enc_dim=4096, mlp_dim=4096, latent_dim=1376, num_enc_layers=5, num_q=8),
}

PROFILES: dict[str, dict[str, Any]] = {
    # The official algorithm: 1 env, MPPI collection, 1 update per agent step, action repeat 2.
    "official": dict(n_envs=1, collector="mppi", updates_per_step=1.0, action_repeat=2),
    # The seed's public code: 256 envs, 64 updates per vector step (0.25 per agent step), pi + noise.
    # ... and MuJoCo Playground's re-tuned physics for the JAX backend (docs/physics.md)
    "fast": dict(n_envs=256, collector="policy", updates_per_step=0.25, action_repeat=2, physics="playground"),
}

GLASS_PRESETS: dict[str, dict[str, Any]] = {
    "off": dict(enabled=False),
    # Phase 0, the inert original: l2 prototype distance, l2-to-uniform balance, tiny init and weights.
    "phase0": dict(
        enabled=True, assignment="l2", balance="l2", assign_logits_init_scale=0.01, t_proto=0.2,
        lambda_se=1e-4, lambda_bal=1e-3, lambda_tmp=1e-4,
    ),
    "phase1": dict(enabled=True),
    "phase1b": dict(enabled=True, t_proto=0.7, assign_logits_init_scale=0.5),
    "phase2": dict(enabled=True, t_proto=0.7, assign_logits_init_scale=0.5, stopgrad_graph=False),
}


# ----------------------------------------------------------------------------------------------------------
# Dataclasses
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlassConfig:
    """Glass structural-entropy regulariser (the equations: docs/glass.md). Off by default."""

    preset: str = "off"
    enabled: bool = False
    lambda_se: float = 5e-3
    lambda_bal: float = 1e-2
    lambda_tmp: float = 1e-3
    t_proto: float = 1.0
    t_assign: float = 1.0
    num_prototypes: int = 16
    num_clusters: int = 8
    every_k_updates: int = 4
    warmup_env_steps: int = 100_000
    stopgrad_graph: bool = True
    assign_logits_init_scale: float = 1.0
    row_smoothing_eps: float = 1e-4
    log_eps: float = 1e-8
    se_form: str = "glass"  # "glass" (the compact form, docs/glass.md) | "dsi" (LSEnet/DSI soft form)
    assignment: str = "cosine"  # "cosine" (phase 1+) | "l2" (phase 0)
    balance: str = "hinge"  # "hinge" (phase 1+) | "l2" (phase 0: l2 to uniform)
    lr_mult: float = 1.0
    diag_every: int = 10_000  # agent steps between diagnostic dumps


@dataclass(frozen=True)
class Config:
    """Official TD-MPC2 fields (names and defaults as in the official config.yaml) + harness settings."""

    # --- environment and evaluation (official)
    task: str = "hopper-hop"
    obs: str = "state"
    episodic: bool = False
    steps: int = 10_000_000  # agent steps (x action_repeat = env steps)
    eval_episodes: int = 10
    eval_freq: int = 50_000  # agent steps
    # --- training (official)
    batch_size: int = 256
    horizon: int = 3
    consistency_coef: float = 20.0
    reward_coef: float = 0.1
    value_coef: float = 0.1
    termination_coef: float = 1.0
    rho: float = 0.5
    lr: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip_norm: float = 20.0
    tau: float = 0.01
    discount_denom: float = 5.0
    discount_min: float = 0.95
    discount_max: float = 0.995
    buffer_size: int = 1_000_000
    seed: int = 1
    # --- planning (official)
    mpc: bool = True
    iterations: int = 6
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 24
    min_std: float = 0.05
    max_std: float = 2.0
    temperature: float = 0.5
    # --- actor (official)
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    entropy_coef: float = 1e-4
    # --- critic (official)
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0
    # --- architecture (official; equal to the 5M preset)
    model_size: int | None = None
    num_enc_layers: int = 2
    enc_dim: int = 256
    num_channels: int = 32
    mlp_dim: int = 512
    latent_dim: int = 512
    task_dim: int = 0  # single-task runs: the official parser sets 0
    num_q: int = 5
    dropout: float = 0.01
    simnorm_dim: int = 8
    # --- harness settings
    profile: str = "official"
    backend: str = "torch"  # "torch" | "jax"
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    dtype: str = "float32"  # "float32" | "float64"
    # the agent's matmuls, set per computation (jax_impl/torch_ref runtime.py): "highest" (float32, TF32 off) |
    # "high" (TF32 allowed on CUDA, as official HEAD) | "bf16" (linear layers in bfloat16, the rest float32)
    matmul_precision: str = "highest"
    n_envs: int = 1
    updates_per_step: float = 1.0  # gradient updates per agent step (per env step of one env)
    collector: str = "mppi"  # "mppi" (official) | "policy" (pi + Gaussian noise, the `fast` profile's)
    policy_noise_std: float = 0.3  # std of the Gaussian added by the `policy` collector
    # --- Phase 1c (docs/glass.md; both off by default; tdmpc_parity/core/schedule.py computes both from the step)
    # `act_noise` anneal: with policy_noise_end set, the `policy` collector's std goes linearly from
    # policy_noise_std (at env step 0) to policy_noise_end (at policy_noise_anneal_env_steps), then stays there.
    policy_noise_end: float | None = None  # None: a constant policy_noise_std
    policy_noise_anneal_env_steps: int = 1_000_000
    # REDQ-style periodic Q reset every q_reset_every_env_steps env steps (0: never), "with the target network as
    # the warm restart": before the updates of the vector step that reaches a multiple of
    # it, the online Q ensemble is set to the target ensemble's parameters (the Polyak average, not a random
    # re-init) and the Q ensemble's Adam state (moments and step count) starts afresh; the target ensemble, the
    # rest of the model, the policy and RunningScale are kept. Resets in the seed phase are skipped (no update
    # has run: online and target are equal, Adam is fresh).
    q_reset_every_env_steps: int = 0
    action_repeat: int = 2
    mjx_impl: str = "jax"  # Playground physics backend: "jax" (CPU/GPU); "warp" is refused by jax_impl/env.py
    # the JAX backend's physics (docs/physics.md): "dm_control" (the official task's model and options) |
    # "playground" (MuJoCo Playground's re-tuned ones); torch always steps dm_control, so resolve_config records
    # "dm_control" for torch runs. A run's config.json without the key (older runs) was "playground" on jax.
    physics: str = "dm_control"
    save_every: int = 50_000  # agent steps between checkpoints (at the next episode end); 0 = only at the end
    video_every: int = 0  # env steps between rollout videos RUN_DIR/videos/ (core/training_video.py); 0 = off
    devices: int = 0  # JAX: devices the seeds x each seed's envs are sharded over (0 = all visible that split them)
    logger: str = "auto"  # scalars to RUN_DIR/tb when tensorboardX is installed: auto | tensorboard | wandb | none
    wandb_project: str = "tdmpc-parity"  # the W&B project of logger=wandb
    seed_steps: int | None = None  # None = official max(1000, 5 * episode_length)
    episode_length: int | None = None  # None = the task's control steps / action_repeat (500 for DMC)
    glass: GlassConfig = field(default_factory=GlassConfig)
    # --- derived (filled by resolve_config; cannot be set)
    obs_dim: int | None = None
    action_dim: int | None = None
    bin_size: float | None = None
    discount: float | None = None
    plan_iterations: int | None = None
    updates_per_iteration: int | None = None
    seed_iterations: int | None = None
    pretrain_updates: int | None = None
    buffer_capacity: int | None = None

    @property
    def resolved(self) -> bool:
        return self.obs_dim is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DERIVED_FIELDS = (
    "obs_dim", "action_dim", "bin_size", "discount", "plan_iterations", "updates_per_iteration",
    "seed_iterations", "pretrain_updates", "buffer_capacity",
)
FILE_IGNORED_KEYS = ("_meta", *DERIVED_FIELDS)  # keys of a run's config.json that a config file may hold
ARCH_FIELDS = ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q")


# ----------------------------------------------------------------------------------------------------------
# Derived values
# ----------------------------------------------------------------------------------------------------------


def discount_heuristic(episode_length: int, denom: float = 5.0, lo: float = 0.95, hi: float = 0.995) -> float:
    """Official `_get_discount`: f = L/denom, gamma = clip((f - 1)/f, lo, hi); 0.99 for L = 500."""
    frac = episode_length / denom
    return min(max((frac - 1) / frac, lo), hi)


def official_seed_steps(episode_length: int) -> int:
    """Official seed phase length in agent steps: max(1000, 5 * episode_length) (2500 for DMC)."""
    return max(1000, 5 * episode_length)


def resolve_config(cfg: Config) -> Config:
    """Fill every derived value, in this one place. Idempotent; validates first."""
    validate_config(cfg)
    spec = get_task(cfg.task)
    max_len = spec.control_steps // cfg.action_repeat
    episode_length = cfg.episode_length if cfg.episode_length is not None else max_len
    if episode_length > max_len:
        raise ValueError(
            f"episode_length={episode_length} exceeds the task's {spec.control_steps} control steps / "
            f"action_repeat {cfg.action_repeat} = {max_len}"
        )
    seed_steps = cfg.seed_steps if cfg.seed_steps is not None else official_seed_steps(episode_length)
    # The seed phase runs whole episodes in every env, so that the buffer holds complete episodes
    # (the in-progress episode cannot be sampled, as in the official buffer).
    vec_steps = math.ceil(seed_steps / cfg.n_envs)
    seed_iterations = math.ceil(vec_steps / episode_length) * episode_length
    upi = cfg.updates_per_step * cfg.n_envs
    return replace(
        cfg,
        physics=cfg.physics if cfg.backend == "jax" else "dm_control",  # torch steps dm_control whatever is asked
        episode_length=episode_length,
        seed_steps=seed_steps,
        obs_dim=spec.obs_dim,
        action_dim=spec.action_dim,
        bin_size=(cfg.vmax - cfg.vmin) / (cfg.num_bins - 1),
        discount=discount_heuristic(episode_length, cfg.discount_denom, cfg.discount_min, cfg.discount_max),
        plan_iterations=cfg.iterations + 2 * int(spec.action_dim >= 20),
        updates_per_iteration=int(round(upi)),
        seed_iterations=seed_iterations,
        # official: `seed_steps` updates at the end of the seed phase (UTD 1); in general UTD x seed data
        pretrain_updates=int(round(seed_iterations * cfg.n_envs * cfg.updates_per_step)),
        # official: min(buffer_size, steps). A run shorter than buffer_size never fills the FIFO, so using
        # buffer_size alone changes no sample, and a resumed run that extends `steps` keeps its buffer shape.
        buffer_capacity=cfg.buffer_size,
    )


# ----------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------

# tasks the JAX backend runs on an MJX env of its own: dm_control physics only (MuJoCo Playground lacks them)
_NO_PLAYGROUND = frozenset(name for name, spec in TASKS.items() if spec.playground in OWN_MJX_ENVS)


def _playground_lacks(task: str) -> bool:
    """Playground has no env for `task`: one of the JAX backend's own MJX envs, or a registered task."""
    return task in _NO_PLAYGROUND or task in REGISTERED

_CHOICES: dict[str, tuple[Any, ...]] = {
    "obs": ("state",),
    "profile": tuple(PROFILES) + ("custom",),
    "backend": ("torch", "jax"),
    "dtype": ("float32", "float64"),
    "matmul_precision": ("highest", "high", "bf16"),
    "collector": ("mppi", "policy"),
    "mjx_impl": ("jax", "warp"),
    "physics": ("dm_control", "playground"),
    "logger": ("auto", "tensorboard", "wandb", "none"),
    "model_size": (None,) + tuple(MODEL_SIZE),
}
_GLASS_CHOICES: dict[str, tuple[Any, ...]] = {
    "preset": tuple(GLASS_PRESETS),
    "se_form": ("glass", "dsi"),
    "assignment": ("cosine", "l2"),
    "balance": ("hinge", "l2"),
}


def _require(cond: bool, name: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"config field {name!r}: {msg}")


def validate_config(cfg: Config) -> None:
    """Raise ValueError naming the field for any impossible value."""
    for name, choices in _CHOICES.items():
        _require(getattr(cfg, name) in choices, name, f"{getattr(cfg, name)!r} is not one of {choices}")
    for name, choices in _GLASS_CHOICES.items():
        val = getattr(cfg.glass, name)
        _require(val in choices, f"glass.{name}", f"{val!r} is not one of {choices}")
    get_task(cfg.task)
    _require(not cfg.episodic, "episodic", "episodic (termination) training is not implemented; DMC has none")
    _require(cfg.task_dim == 0, "task_dim", "multitask models are not supported; task_dim must be 0")
    dev = cfg.device
    _require(dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit()), "device",
             f"{dev!r} is not auto, cpu, cuda or cuda:N")
    positive_ints = ("steps", "eval_episodes", "eval_freq", "batch_size", "horizon", "buffer_size", "iterations",
                     "num_samples", "num_elites", "enc_dim", "mlp_dim", "latent_dim", "num_enc_layers",
                     "simnorm_dim", "n_envs", "action_repeat")
    for name in positive_ints:
        _require(getattr(cfg, name) >= 1, name, f"must be >= 1, got {getattr(cfg, name)}")
    _require(cfg.save_every >= 0, "save_every", f"must be >= 0, got {cfg.save_every}")
    _require(cfg.video_every >= 0, "video_every", f"must be >= 0 (0: no videos), got {cfg.video_every}")
    _require(cfg.devices >= 0, "devices", f"must be >= 0 (0 = all visible), got {cfg.devices}")
    _require(cfg.num_q >= 2, "num_q", f"the Q ensemble needs at least 2 heads (min/avg of 2), got {cfg.num_q}")
    _require(cfg.num_elites <= cfg.num_samples, "num_elites",
             f"num_elites={cfg.num_elites} > num_samples={cfg.num_samples}")
    _require(0 <= cfg.num_pi_trajs <= cfg.num_samples, "num_pi_trajs",
             f"must be in [0, num_samples={cfg.num_samples}], got {cfg.num_pi_trajs}")
    _require(cfg.num_bins >= 2, "num_bins", f"two-hot regression needs >= 2 bins, got {cfg.num_bins}")
    _require(cfg.vmin < cfg.vmax, "vmin", f"vmin={cfg.vmin} must be < vmax={cfg.vmax}")
    _require(0 < cfg.tau <= 1, "tau", f"must be in (0, 1], got {cfg.tau}")
    _require(0 < cfg.rho <= 1, "rho", f"must be in (0, 1], got {cfg.rho}")
    _require(cfg.lr > 0, "lr", f"must be > 0, got {cfg.lr}")
    _require(cfg.enc_lr_scale > 0, "enc_lr_scale", f"must be > 0, got {cfg.enc_lr_scale}")
    _require(cfg.grad_clip_norm > 0, "grad_clip_norm", f"must be > 0, got {cfg.grad_clip_norm}")
    _require(0 < cfg.min_std <= cfg.max_std, "min_std", f"need 0 < min_std <= max_std, got {cfg.min_std}")
    _require(cfg.temperature > 0, "temperature", f"must be > 0, got {cfg.temperature}")
    _require(cfg.log_std_min < cfg.log_std_max, "log_std_min", "must be < log_std_max")
    _require(0 <= cfg.dropout < 1, "dropout", f"must be in [0, 1), got {cfg.dropout}")
    _require(cfg.latent_dim % cfg.simnorm_dim == 0, "latent_dim",
             f"latent_dim={cfg.latent_dim} is not a multiple of simnorm_dim={cfg.simnorm_dim}")
    _require(cfg.discount_denom > 0, "discount_denom", "must be > 0")
    _require(0 < cfg.discount_min <= cfg.discount_max < 1, "discount_min", "need 0 < min <= max < 1")
    _require(cfg.matmul_precision != "bf16" or cfg.dtype == "float32", "matmul_precision",
             f"bf16 compute keeps float32 parameters and needs dtype=float32, got dtype={cfg.dtype}")
    _require(cfg.policy_noise_std >= 0, "policy_noise_std", "must be >= 0")
    if cfg.policy_noise_end is not None:
        _require(cfg.policy_noise_end >= 0, "policy_noise_end", f"must be >= 0, got {cfg.policy_noise_end}")
        _require(cfg.collector == "policy", "policy_noise_end",
                 f"anneals the `policy` collector's noise, but collector={cfg.collector!r} (use profile fast or "
                 "collector=policy)")
    _require(cfg.policy_noise_anneal_env_steps >= 1, "policy_noise_anneal_env_steps",
             f"must be >= 1, got {cfg.policy_noise_anneal_env_steps}")
    _require(cfg.q_reset_every_env_steps >= 0, "q_reset_every_env_steps",
             f"must be >= 0 (0: never), got {cfg.q_reset_every_env_steps}")
    _require(cfg.updates_per_step > 0, "updates_per_step", f"must be > 0, got {cfg.updates_per_step}")
    upi = cfg.updates_per_step * cfg.n_envs
    _require(abs(upi - round(upi)) < 1e-9 and round(upi) >= 1, "updates_per_step",
             f"updates_per_step x n_envs = {upi} must be a whole number >= 1 (updates per vector step)")
    _require(cfg.buffer_size >= cfg.horizon + 1, "buffer_size", "must hold at least horizon + 1 rows")
    if cfg.seed_steps is not None:
        _require(cfg.seed_steps >= 1, "seed_steps", f"must be >= 1, got {cfg.seed_steps}")
    if cfg.episode_length is not None:
        _require(cfg.episode_length >= cfg.horizon + 1, "episode_length",
                 f"must be >= horizon + 1 = {cfg.horizon + 1}, got {cfg.episode_length}")
    spec = get_task(cfg.task)
    _require(spec.control_steps % cfg.action_repeat == 0, "action_repeat",
             f"{spec.control_steps} control steps are not divisible by {cfg.action_repeat}")
    if cfg.backend == "jax":
        try:
            spec.check_backend("jax")
        except ValueError as exc:  # names the backends that run the task
            raise ValueError(f"config field 'task': {exc}") from None
        _require(cfg.physics == "dm_control" or not _playground_lacks(cfg.task), "physics",
                 f"MuJoCo Playground has no {cfg.task} environment, so physics=playground does not exist for it; "
                 "physics=dm_control runs it")
    g = cfg.glass
    for name in ("num_prototypes", "num_clusters", "every_k_updates", "diag_every"):
        _require(getattr(g, name) >= (2 if name.startswith("num_") else 1), f"glass.{name}",
                 f"too small: {getattr(g, name)}")
    for name in ("lambda_se", "lambda_bal", "lambda_tmp", "warmup_env_steps", "assign_logits_init_scale",
                 "row_smoothing_eps"):
        _require(getattr(g, name) >= 0, f"glass.{name}", f"must be >= 0, got {getattr(g, name)}")
    for name in ("t_proto", "t_assign", "log_eps", "lr_mult"):
        _require(getattr(g, name) > 0, f"glass.{name}", f"must be > 0, got {getattr(g, name)}")


# ----------------------------------------------------------------------------------------------------------
# Loading: defaults + profile + YAML + key=value
# ----------------------------------------------------------------------------------------------------------


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


_CONFIG_TYPES = _field_types(Config)
_GLASS_TYPES = _field_types(GlassConfig)


def _coerce(name: str, tp: Any, value: Any, from_text: bool) -> Any:
    """Convert/check `value` against the declared type `tp`; ValueError names the field."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (from_text and str(value).lower() in ("none", "null", "~")):
            return None
        return _coerce(name, args[0], value, from_text)
    if from_text and isinstance(value, str):
        text = value.strip()
        try:
            if tp is bool:
                low = text.lower()
                if low in ("true", "1", "yes", "on"):
                    return True
                if low in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if tp is int:
                as_float = float(text)
                if not as_float.is_integer():
                    raise ValueError
                return int(as_float)
            if tp is float:
                return float(text)
            if tp is str:
                return text
        except ValueError:
            raise ValueError(f"config field {name!r}: cannot read {value!r} as {tp.__name__}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (bool, int, float, str):
        if isinstance(value, bool) and tp is not bool:
            raise ValueError(f"config field {name!r}: expected {tp.__name__}, got bool {value!r}")
        if not isinstance(value, tp):
            raise ValueError(
                f"config field {name!r}: expected {tp.__name__}, got {type(value).__name__} {value!r}"
            )
    return value


def _parse_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ValueError(f"override {text!r} is not of the form key=value")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ValueError(f"override {text!r} has an empty key")
    return key, value


# Keys of the official TD-MPC2 config.yaml that are no key here: what does their job instead.
OFFICIAL_KEY_HINTS: dict[str, str] = {
    "enable_wandb": "Weights & Biases logging is `logger=wandb` here (the project: wandb_project=NAME).",
    "save_video": "rollout videos during training are `video_every=N` here (env steps between videos; 0 = off).",
    "checkpoint": "to evaluate a checkpoint, run `tdmpc-parity eval SOURCE` (a run folder, weights file or "
                  "official checkpoint).",
    "exp_name": "the run folder is chosen with `tdmpc-parity train --run-dir DIR` here.",
}


def unknown_key_error(key: str) -> ValueError:
    """The error of an unknown key: the official key's replacement, or the closest keys (difflib), and where
    every key is listed."""
    import difflib

    if key in OFFICIAL_KEY_HINTS:
        return ValueError(f"unknown config key {key!r}: {OFFICIAL_KEY_HINTS[key]}")
    names = [k for k in _CONFIG_TYPES if k not in DERIVED_FIELDS and k != "glass"]
    names += [f"glass.{k}" for k in _GLASS_TYPES]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    if f"glass.{key}" in names and f"glass.{key}" not in close:
        close.insert(0, f"glass.{key}")
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown config key {key!r}{hint} (`tdmpc-parity keys` lists every key)")


def _set_key(top: dict[str, Any], glass: dict[str, Any], key: str, value: Any, from_text: bool) -> None:
    if key == "glass":  # shorthand: glass=phase1b selects a preset
        key = "glass.preset"
    if key.startswith("glass."):
        sub = key[len("glass."):]
        if sub not in _GLASS_TYPES:
            raise unknown_key_error(key)
        glass[sub] = _coerce(key, _GLASS_TYPES[sub], value, from_text)
        return
    if key in DERIVED_FIELDS:
        raise ValueError(f"config field {key!r} is derived from the task and other fields; it cannot be set")
    if key not in _CONFIG_TYPES or key == "glass":
        raise unknown_key_error(key)
    top[key] = _coerce(key, _CONFIG_TYPES[key], value, from_text)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping of a YAML file, or of a JSON one (`.json`: PyYAML would read JSON's 1e-08 as a string)."""
    try:
        text = Path(path).read_text()
        data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise ValueError(f"config file {str(path)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid JSON: {exc}") from None
    except RecursionError:  # JSON or YAML nested thousands deep
        raise ValueError(f"config file {str(path)!r} is nested too deeply to be a config") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of key: value")
    return data


def load_config(
    profile: str = "official",
    yaml_path: str | Path | None = None,
    overrides: typing.Sequence[str] | None = None,
    values: dict[str, Any] | None = None,
    resolve: bool = True,
) -> Config:
    """Build a config: defaults -> profile -> YAML -> `overrides` ("key=value" text) -> `values` (typed).

    `yaml_path`: a YAML file (or a run's config.json), or the name of a shipped config such as "tiny"
    (tdmpc_parity/core/config_files.py)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)}")
    top: dict[str, Any] = {"profile": profile}
    glass: dict[str, Any] = {}
    explicit: set[str] = set()
    for key, value in PROFILES[profile].items():
        _set_key(top, glass, key, value, from_text=False)
    yaml_path = config_file(yaml_path)
    if yaml_path is not None:
        for key, value in _read_yaml(yaml_path).items():
            if key in FILE_IGNORED_KEYS:  # a run's config.json: metadata and derived values
                continue
            if key == "glass" and isinstance(value, dict):
                for sub, subval in value.items():
                    _set_key(top, glass, f"glass.{sub}", subval, from_text=False)
                    explicit.add(f"glass.{sub}")
                continue
            _set_key(top, glass, str(key), value, from_text=False)
            explicit.add(str(key))
        if _legacy_playground(_read_yaml(yaml_path)):
            top["physics"] = "playground"
    for text in overrides or ():
        key, value = _parse_override(text)
        _set_key(top, glass, key, value, from_text=True)
        explicit.add("glass.preset" if key == "glass" else key)
    for key, value in (values or {}).items():
        _set_key(top, glass, key, value, from_text=False)
        explicit.add("glass.preset" if key == "glass" else key)
    # MODEL_SIZE preset fills the architecture keys that were not given explicitly.
    size = top.get("model_size")
    if size is not None:
        if size not in MODEL_SIZE:
            raise ValueError(f"config field 'model_size': {size!r} is not one of {tuple(MODEL_SIZE)}")
        for key, value in MODEL_SIZE[size].items():
            if key not in explicit:
                top[key] = value
    # The Glass preset fills the glass keys that were not given explicitly.
    preset = glass.get("preset", "off")
    if preset not in GLASS_PRESETS:
        raise ValueError(f"config field 'glass.preset': {preset!r} is not one of {tuple(GLASS_PRESETS)}")
    for key, value in GLASS_PRESETS[preset].items():
        if f"glass.{key}" not in explicit:
            glass[key] = value
    if "physics" not in explicit and top.get("physics") == "playground" and _playground_lacks(top.get("task", "")):
        top["physics"] = "dm_control"  # the fast profile's Playground physics, for a task Playground lacks
    cfg = Config(**top, glass=GlassConfig(**glass))
    return resolve_config(cfg) if resolve else (validate_config(cfg) or cfg)


def _legacy_playground(data: dict[str, Any]) -> bool:
    """A run's config.json (it has `_meta` or the derived `obs_dim`) of a JAX run written before the `physics` key
    existed: that run stepped MuJoCo Playground's physics."""
    return (("_meta" in data or "obs_dim" in data) and data.get("backend") == "jax" and "physics" not in data
            and data.get("task") not in _NO_PLAYGROUND)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a config saved with `Config.to_dict()` (a run folder's config.json); checks every key."""
    data = dict(data)
    if _legacy_playground(data):
        data["physics"] = "playground"
    glass = data.pop("glass", {}) or {}
    unknown = set(data) - set(_CONFIG_TYPES)
    if unknown:
        raise unknown_key_error(sorted(unknown)[0])
    unknown_g = set(glass) - set(_GLASS_TYPES)
    if unknown_g:
        raise unknown_key_error(f"glass.{sorted(unknown_g)[0]}")
    top = {k: _coerce(k, _CONFIG_TYPES[k], v, False) for k, v in data.items()}
    g = {k: _coerce(f"glass.{k}", _GLASS_TYPES[k], v, False) for k, v in glass.items()}
    cfg = Config(**top, glass=GlassConfig(**g))
    return resolve_config(replace(cfg, **{k: None for k in DERIVED_FIELDS}))
