"""What every benchmark record must say about itself: the `extra_info` schema, its version, its checks.

A benchmark (bench/, pytest-benchmark) times one call of a function; the record's `extra_info` carries the
raw counts of that call and the settings it ran with, and the report (`tdmpc_parity/analysis/report.py`) derives every
rate from them:
* `env_steps_per_call`: physics control steps produced by one call, summed over all envs
  (= `agent_steps_per_call` x `action_repeat`); 0 for benches that step no env (`update`).
* `agent_steps_per_call`: (env, agent step) transitions produced by one call, summed over all envs; for a
  `plan` bench this is the number of actions chosen (one MPPI act per env per agent step).
* `updates_per_call`: gradient updates (world-model step + policy step + Polyak) done by one call.
* `compile_seconds`: wall seconds spent before timing started on compilation / tracing / the first call
  (for eager torch: the first call). Untimed by the benchmark, reported beside it.
pytest-benchmark times are seconds per call (per iteration of the timed function); the timed function
blocks on the device itself (`torch.cuda.synchronize`, `jax.block_until_ready`).
Optional, outside the schema (neither required nor versioned; the report ignores them): `foreign_cpu_cores`,
the CPU cores other processes used on average while the rounds were timed (bench/protocol.py), so a
record timed on a busy shared machine can be recognised; `budget_rounds`, the timed rounds a
`--bench-budget` session cut the case to (bench/budget.py); and for JAX records `mjx_impl`, `xla_flags`,
`xla_python_client_preallocate`, `xla_python_client_mem_fraction`, `xla_python_client_allocator` and
`jax_compilation_cache_dir` (bench/protocol.py `runtime_settings`: the physics implementation, XLA flags
and GPU allocator the record ran with).
Optional and read by the report: `physics`, what the call's envs stepped (`dm_control`: dm_control's models and
options, the official tasks; `playground`: MuJoCo Playground's re-tuned models, JAX only). It is checked when
present (`validate_extra_info`) but not versioned, since records written before the field lack it; `record_physics`
reads such a record as what it stepped then: torch `dm_control`, JAX `playground` (the JAX default before
`physics` existed), except on a task MuJoCo Playground lacks, which the JAX backend always ran in `dm_control`.

`bench_version()` is a short hash of this schema, the semantics text above and the benchmark profiles; any
change to them changes the version, and the report refuses to mix versions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tdmpc_parity.core.config import MODEL_SIZE, Config, load_config
from tdmpc_parity.core.tasks import OWN_MJX_ENVS, TASKS

BACKENDS = ("torch", "jax")
BENCHES = ("env_step", "plan", "update", "train_iteration")
PROFILES = ("official", "fast", "custom")
COLLECTORS = ("mppi", "policy", "random", "none")
DTYPES = ("float32", "float64")
MATMUL_PRECISIONS = ("highest", "high", "bf16")
PHYSICS = ("dm_control", "playground")  # the optional extra_info field `physics` (module docstring)
# choices added after a bench version was fixed, hashed as they were then: a new allowed value changes the
# meaning of no existing record (records of the new value differ in the field, which the report matches on)
_VERSIONED_CHOICES: dict[str, tuple[str, ...]] = {"matmul_precision": ("highest", "high")}


@dataclass(frozen=True)
class FieldSpec:
    """One extra_info field: kind ("str" | "int" | "number" | "bool"), allowed values, minimum, meaning."""

    kind: str
    doc: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None


SCHEMA: dict[str, FieldSpec] = {
    "bench_version": FieldSpec("str", "tdmpc_parity.analysis.benchmeta.bench_version() when the record was made"),
    "backend": FieldSpec("str", "framework that ran the call", BACKENDS),
    "bench": FieldSpec("str", "what one call does", BENCHES),
    "task": FieldSpec("str", "official task name (tdmpc_parity.core.tasks)", tuple(sorted(TASKS))),
    "profile": FieldSpec("str", "config profile the settings came from", PROFILES),
    "n_envs": FieldSpec("int", "parallel envs", minimum=1),
    "action_repeat": FieldSpec("int", "physics control steps per agent step", minimum=1),
    "env_steps_per_call": FieldSpec("int", "control steps per call, all envs (agent steps x repeat)",
                                    minimum=0),
    "agent_steps_per_call": FieldSpec("int", "agent steps per call, summed over envs", minimum=0),
    "updates_per_call": FieldSpec("int", "gradient updates per call", minimum=0),
    "updates_per_agent_step": FieldSpec("number", "configured update-to-data ratio (per agent step)",
                                        minimum=0),
    "collector": FieldSpec("str", "how actions are chosen in the call", COLLECTORS),
    "model_size": FieldSpec("str", "short model label, e.g. '5M' or 'tiny'"),
    "params": FieldSpec("int", "learnable parameters (target ensemble not counted)", minimum=1),
    "glass": FieldSpec("bool", "Glass regulariser enabled"),
    "dtype": FieldSpec("str", "parameter / activation dtype", DTYPES),
    "matmul_precision": FieldSpec("str", "the agent's matmuls: 'highest' = float32 (TF32 off), 'high' = TF32 "
                                  "allowed, 'bf16' = linear layers in bfloat16", MATMUL_PRECISIONS),
    "device": FieldSpec("str", "device the call ran on, e.g. 'cpu' or 'cuda:0 NVIDIA H100'"),
    "compile_seconds": FieldSpec("number", "untimed compile / first-call seconds", minimum=0),
    "obs_dim": FieldSpec("int", "observation size", minimum=1),
    "action_dim": FieldSpec("int", "action size", minimum=1),
    "enc_dim": FieldSpec("int", "encoder hidden width", minimum=1),
    "num_enc_layers": FieldSpec("int", "encoder layers", minimum=1),
    "latent_dim": FieldSpec("int", "latent size", minimum=1),
    "mlp_dim": FieldSpec("int", "hidden width of dynamics / reward / pi / Q", minimum=1),
    "num_bins": FieldSpec("int", "two-hot bins of reward and Q", minimum=2),
    "num_q": FieldSpec("int", "Q heads", minimum=2),
    "horizon": FieldSpec("int", "planning / training horizon H", minimum=1),
    "batch_size": FieldSpec("int", "update batch size", minimum=1),
    "num_samples": FieldSpec("int", "MPPI samples", minimum=1),
    "num_pi_trajs": FieldSpec("int", "MPPI policy trajectories", minimum=0),
    "iterations": FieldSpec("int", "MPPI iterations actually run (resolved plan_iterations)", minimum=1),
}
REQUIRED_FIELDS: tuple[str, ...] = tuple(SCHEMA)

SEMANTICS = (
    "times: seconds per call of the timed function, device-synchronised inside the call; "
    "env_steps_per_call: physics control steps summed over envs = agent_steps_per_call x action_repeat; "
    "agent_steps_per_call: actions chosen per call summed over envs; updates_per_call: full updates "
    "(world model + policy + Polyak) per call; compile_seconds: untimed set-up before timing"
)


@dataclass(frozen=True)
class BenchProfile:
    """Size of the benchmarks: `cpu` finishes in minutes on 2 cores, `gpu` is the official 5M model."""

    name: str
    model_label: str
    values: dict[str, Any]  # config values applied on top of the config profile
    rounds: int
    warmup_rounds: int


# The model settings are part of bench_version(); rounds are not (they change precision, not meaning).
BENCH_MODELS: dict[str, dict[str, Any]] = {
    "cpu": {"model_label": "tiny", "values": {"enc_dim": 64, "mlp_dim": 64, "latent_dim": 64,
                                               "num_enc_layers": 2}},
    "gpu": {"model_label": "5M", "values": {"model_size": 5}},
}
BENCH_ROUNDS: dict[str, dict[str, int]] = {
    "cpu": {"rounds": 10, "warmup_rounds": 2},
    "gpu": {"rounds": 50, "warmup_rounds": 5},
}


def get_bench_profile(name: str) -> BenchProfile:
    """The `--bench-profile` settings by name ("cpu" | "gpu")."""
    if name not in BENCH_MODELS:
        raise ValueError(f"unknown bench profile {name!r}; profiles: {', '.join(BENCH_MODELS)}")
    m = BENCH_MODELS[name]
    return BenchProfile(name, m["model_label"], dict(m["values"]), **BENCH_ROUNDS[name])


def bench_config(bench_profile: BenchProfile | str, backend: str, profile: str = "official",
                 task: str = "hopper-hop", **values: Any) -> Config:
    """The resolved config a benchmark runs: config profile + the bench profile's model + `values`."""
    bp = get_bench_profile(bench_profile) if isinstance(bench_profile, str) else bench_profile
    return load_config(profile, values={"task": task, "backend": backend, **bp.values, **values})


def bench_version() -> str:
    """12-hex-digit hash of the schema, the semantics text and the bench profiles' model settings."""
    payload = {
        # the task list is not part of the version: adding a task changes no record's meaning
        "schema": {k: [s.kind, list(_VERSIONED_CHOICES.get(k, s.choices)) if s.choices and k != "task" else None,
                       s.minimum] for k, s in SCHEMA.items()},
        "semantics": SEMANTICS,
        "models": BENCH_MODELS,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def model_label(cfg: Config) -> str:
    """'5M' etc. when the architecture equals a MODEL_SIZE preset ('-q<n>' when num_q differs from the
    preset's or from the default 5); otherwise 'z<latent>-m<mlp>-e<enc>x<layers>-q<num_q>'."""
    for size, preset in MODEL_SIZE.items():
        arch = {k: v for k, v in preset.items() if k != "num_q"}
        if all(getattr(cfg, k) == v for k, v in arch.items()):
            expected_q = preset.get("num_q", 5)
            return f"{size}M" if cfg.num_q == expected_q else f"{size}M-q{cfg.num_q}"
    return f"z{cfg.latent_dim}-m{cfg.mlp_dim}-e{cfg.enc_dim}x{cfg.num_enc_layers}-q{cfg.num_q}"


_DEFAULT_COLLECTOR = {"update": "none", "env_step": "random"}


def make_extra_info(cfg: Config, *, bench: str, device: str, compile_seconds: float,
                    agent_steps_per_call: int, updates_per_call: int, env_steps_per_call: int | None = None,
                    collector: str | None = None, model_size: str | None = None,
                    params: int | None = None, profile: str | None = None) -> dict[str, Any]:
    """The extra_info of one benchmark record, from a resolved config and the call's counts.

    Defaults: env_steps_per_call = agent_steps_per_call x cfg.action_repeat; collector = "none" for
    `update`, "random" for `env_step`, else cfg.collector; model_size = model_label(cfg); params from
    tdmpc_parity.analysis.flops.param_counts (pass the model's own count to cross-check); profile = cfg.profile.
    The result is validated (ValueError naming the field).
    """
    from tdmpc_parity.analysis.flops import param_counts

    if not cfg.resolved:
        raise ValueError("make_extra_info needs a resolved config (tdmpc_parity.core.config.resolve_config)")
    if env_steps_per_call is None:
        env_steps_per_call = agent_steps_per_call * cfg.action_repeat
    info: dict[str, Any] = {
        "bench_version": bench_version(),
        "backend": cfg.backend,
        "bench": bench,
        "task": cfg.task,
        "profile": profile if profile is not None else cfg.profile,
        "n_envs": cfg.n_envs,
        "action_repeat": cfg.action_repeat,
        "env_steps_per_call": int(env_steps_per_call),
        "agent_steps_per_call": int(agent_steps_per_call),
        "updates_per_call": int(updates_per_call),
        "updates_per_agent_step": float(cfg.updates_per_step),
        "collector": collector if collector is not None else _DEFAULT_COLLECTOR.get(bench, cfg.collector),
        "model_size": model_size if model_size is not None else model_label(cfg),
        "params": int(params) if params is not None else param_counts(cfg)["total"],
        "glass": bool(cfg.glass.enabled),
        "dtype": cfg.dtype,
        "matmul_precision": cfg.matmul_precision,
        "device": device,
        "compile_seconds": float(compile_seconds),
        "obs_dim": cfg.obs_dim,
        "action_dim": cfg.action_dim,
        "enc_dim": cfg.enc_dim,
        "num_enc_layers": cfg.num_enc_layers,
        "latent_dim": cfg.latent_dim,
        "mlp_dim": cfg.mlp_dim,
        "num_bins": cfg.num_bins,
        "num_q": cfg.num_q,
        "horizon": cfg.horizon,
        "batch_size": cfg.batch_size,
        "num_samples": cfg.num_samples,
        "num_pi_trajs": cfg.num_pi_trajs,
        "iterations": cfg.plan_iterations,
    }
    validate_extra_info(info, "make_extra_info")
    return info


# ----------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------


def _kind_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float)) and value == value  # not NaN
    return isinstance(value, str) and value != ""


def validate_extra_info(info: Any, where: str, expected_version: str | None = None) -> None:
    """ValueError `"<where>: extra_info field 'x' ..."` for a missing, mistyped or inconsistent field."""
    if not isinstance(info, Mapping):
        raise ValueError(f"{where}: extra_info is missing or not a mapping")
    for name, spec in SCHEMA.items():
        if name not in info:
            raise ValueError(f"{where}: extra_info field {name!r} is missing")
        value = info[name]
        if not _kind_ok(spec.kind, value):
            raise ValueError(f"{where}: extra_info field {name!r} = {value!r} is not a valid {spec.kind}")
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(f"{where}: extra_info field {name!r} = {value!r} is not one of {spec.choices}")
        if spec.minimum is not None and value < spec.minimum:
            raise ValueError(f"{where}: extra_info field {name!r} = {value!r} is below {spec.minimum}")
    if expected_version is not None and info["bench_version"] != expected_version:
        raise ValueError(
            f"{where}: extra_info field 'bench_version' = {info['bench_version']!r} differs from "
            f"{expected_version!r}; records of different benchmark versions are not compared"
        )
    task = TASKS[info["task"]]
    for name, want in (("obs_dim", task.obs_dim), ("action_dim", task.action_dim)):
        if info[name] != want:
            raise ValueError(f"{where}: extra_info field {name!r} = {info[name]} but task {task.name} "
                             f"has {want}")
    if info["env_steps_per_call"] != info["agent_steps_per_call"] * info["action_repeat"]:
        raise ValueError(
            f"{where}: extra_info field 'env_steps_per_call' = {info['env_steps_per_call']} is not "
            f"agent_steps_per_call x action_repeat = {info['agent_steps_per_call']} x {info['action_repeat']}"
        )
    bench = info["bench"]
    if bench == "update" and (info["updates_per_call"] < 1 or info["agent_steps_per_call"] != 0):
        raise ValueError(f"{where}: extra_info field 'updates_per_call': an `update` bench needs "
                         "updates_per_call >= 1 and agent_steps_per_call = 0")
    if bench != "update" and info["agent_steps_per_call"] < 1:
        raise ValueError(f"{where}: extra_info field 'agent_steps_per_call': a `{bench}` bench steps at "
                         "least one agent step per call")
    if bench in ("env_step", "plan") and info["updates_per_call"] != 0:
        raise ValueError(f"{where}: extra_info field 'updates_per_call': a `{bench}` bench does no updates")
    if bench == "env_step" and info["collector"] not in ("random", "none"):
        raise ValueError(f"{where}: extra_info field 'collector': an `env_step` bench uses random or no "
                         "actions")
    _validate_physics(info, where)


def has_playground_physics(task: str) -> bool:
    """True when the JAX backend can step `task` in MuJoCo Playground's physics (Playground has the env)."""
    playground = TASKS[task].playground
    return playground is not None and playground not in OWN_MJX_ENVS


def record_physics(info: Mapping[str, Any]) -> str:
    """The physics a record's envs stepped: its `physics` field, or for a record written before the field, torch
    `dm_control` and JAX `playground` (the JAX default then) unless the task has no Playground env."""
    if "physics" in info:
        return str(info["physics"])
    if info.get("backend") == "jax" and has_playground_physics(info["task"]):
        return "playground"
    return "dm_control"


def _validate_physics(info: Mapping[str, Any], where: str) -> None:
    """ValueError for an optional `physics` field that names no physics, or one the record cannot have run."""
    if "physics" not in info:
        return
    physics = info["physics"]
    if physics not in PHYSICS:
        raise ValueError(f"{where}: extra_info field 'physics' = {physics!r} is not one of {PHYSICS}")
    if physics == "playground" and info["backend"] == "torch":
        raise ValueError(f"{where}: extra_info field 'physics' = 'playground' on a torch record; the torch backend "
                         "always steps dm_control's physics")
    if physics == "playground" and not has_playground_physics(info["task"]):
        raise ValueError(f"{where}: extra_info field 'physics' = 'playground' but MuJoCo Playground has no "
                         f"{info['task']} environment; only 'dm_control' exists for it")


_STAT_FIELDS = ("min", "max", "mean", "median", "q1", "q3", "iqr", "rounds")


def validate_record(record: Any, source: str, expected_version: str | None = None) -> None:
    """Check one pytest-benchmark record (name, extra_info, stats); the ValueError names `source`, field."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{source}: a benchmarks[] entry is not an object")
    name = record.get("name")
    if not isinstance(name, str):
        raise ValueError(f"{source}: a benchmarks[] entry has no 'name'")
    where = f"{source}: benchmark {name!r}"
    validate_extra_info(record.get("extra_info"), where, expected_version)
    stats = record.get("stats")
    if not isinstance(stats, Mapping):
        raise ValueError(f"{where}: 'stats' is missing")
    for key in _STAT_FIELDS:
        if not _kind_ok("number", stats.get(key)):
            raise ValueError(f"{where}: stats field {key!r} is missing or not a number")
    if not 0 < stats["min"] <= stats["q1"] <= stats["median"] <= stats["q3"] <= stats["max"]:
        raise ValueError(f"{where}: stats are not ordered 0 < min <= q1 <= median <= q3 <= max")
    if stats["rounds"] < 1:
        raise ValueError(f"{where}: stats field 'rounds' must be >= 1")
    data = stats.get("data")
    if data is not None and (not isinstance(data, list)
                             or not all(_kind_ok("number", x) and x > 0 for x in data)):
        raise ValueError(f"{where}: stats field 'data' must be a list of positive seconds")


if __name__ == "__main__":  # python -m tdmpc_parity.analysis.benchmeta: print the current benchmark version
    print(bench_version())
