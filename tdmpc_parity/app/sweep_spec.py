"""Sweep files: read, check and expand a SWEEP.yaml into trials (backend-free, no Ray; tdmpc_parity/app/sweep.py runs
them).

A sweep file is a YAML mapping:

    name: k_sweep                  # optional (default: the file's name without .yaml)
    profile: fast                  # optional: official (default) | fast
    config: tiny                   # optional: a shipped config's name, or a config file (YAML or a run's
                                   # config.json) relative to this file
    steps: 2000000                 # optional: agent steps of every trial (default: the config's)
    set: {glass: phase1b}          # optional: key: value given to every trial (the keys of `train key=value`)
    tasks: [hopper-hop]            # required
    backends: [jax]                # optional: torch (default) and/or jax
    seeds: [1, 2, 3, 4, 5]         # optional (default [1])
    grid:                          # optional: every combination of these values ...
      glass.num_clusters: [4, 8, 16]
    points:                        # optional: ... crossed with each of these settings (a mapping each)
      - {policy_noise_end: null, q_reset_every_env_steps: 0}
      - {policy_noise_end: 0.1, q_reset_every_env_steps: 1000000}
    resources: {cpus: 1, gpus: 0}  # optional: Ray resources of one trial; gpus may be a fraction (0.25) or a
                                   # whole number; default {cpus: 1, gpus: 0}
    retries: 2                     # optional: a crashed or killed trial is resumed from its last checkpoint up to
                                   # this many times (default 2)

Trials: tasks x backends x settings (grid x points), and for torch x seeds: a torch trial trains one seed, a
JAX trial trains all seeds vmapped in one program (`train --seeds`). A trial's config is, in this order, the
profile, the config file, `set`, its setting, task/backend/seed/steps; each trial's config is built with
tdmpc_parity.core.config.load_config before anything runs, so an unknown key or an impossible value is an error naming
the trial and the key. A trial's name is its task, backend, setting and seeds, e.g.
`hopper-hop_jax_glass.num_clusters=4_s1-2-3-4-5`: the name of its run folder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tdmpc_parity.core.config import FILE_IGNORED_KEYS, PROFILES, _read_yaml, _set_key, load_config
from tdmpc_parity.core.config_files import is_config_name, shipped_config

SPEC_KEYS = ("name", "profile", "config", "steps", "set", "tasks", "backends", "seeds", "grid", "points",
             "resources", "retries")
# config keys a trial takes from the sweep's own fields, never from set/grid/points
RESERVED = {"task": "tasks", "backend": "backends", "seed": "seeds", "profile": "profile"}
BACKENDS = ("torch", "jax")
MAX_NAME = 180  # characters of a trial name (longer names end in a hash)


class SweepSpecError(ValueError):
    """A sweep file that cannot run: the message names the file and the field."""


@dataclass(frozen=True)
class Resources:
    """What one trial asks Ray for: CPUs and GPUs (a fraction of one GPU, or whole GPUs)."""

    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class Trial:
    """One run folder of the sweep: a `tdmpc-parity train` command."""

    name: str
    task: str
    backend: str
    seeds: tuple[int, ...]
    setting: dict[str, Any]  # the grid/points values of this trial (what its name shows)
    overrides: tuple[str, ...]  # every key=value of the trial, in order (config file, set, setting)
    profile: str = "official"
    steps: int | None = None

    def train_args(self, run_dir: str | Path) -> list[str]:
        """`tdmpc-parity train` arguments of a fresh start in `run_dir` (replacing a run that never
        checkpointed: --overwrite)."""
        seed = ["--seeds", ",".join(map(str, self.seeds))] if len(self.seeds) > 1 else ["--seed", str(self.seeds[0])]
        steps = ["--steps", str(self.steps)] if self.steps is not None else []
        return ["train", "--backend", self.backend, "--task", self.task, "--profile", self.profile, *seed, *steps,
                "--run-dir", str(run_dir), "--overwrite", "--no-progress", *self.overrides]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        return cls(**{**data, "seeds": tuple(data["seeds"]), "overrides": tuple(data["overrides"])})


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file."""

    name: str
    trials: list[Trial]
    resources: Resources = field(default_factory=Resources)
    retries: int = 2
    source: str = ""  # the file's path


# ----------------------------------------------------------------------------------------------------------
# Values as override text and in names
# ----------------------------------------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A YAML value as the text of a `key=value` override (tdmpc_parity.core.config reads it back to the same value)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"{value!r} is a {type(value).__name__}; a config value is a number, a string, a boolean or "
                    "null (nested keys are written dotted, e.g. glass.t_proto: 0.7)")


def name_part(key: str, value: Any) -> str:
    """`key=value` for a trial name: characters other than letters, digits and `._+=-` become `-`."""
    return re.sub(r"[^A-Za-z0-9._+=-]", "-", f"{key}={value_text(value)}")


def trial_name(task: str, backend: str, setting: dict[str, Any], seeds: tuple[int, ...]) -> str:
    """`<task>_<backend>[_<key>=<value>...]_s<seed>[-<seed>...]`; past MAX_NAME characters the setting part is
    shortened and ends in 8 hex digits of its hash."""
    parts = "_".join(name_part(k, v) for k, v in setting.items())
    seed_part = "s" + "-".join(map(str, seeds))
    name = "_".join(p for p in (task, backend, parts, seed_part) if p)
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(parts.encode()).hexdigest()[:8]
        keep = MAX_NAME - len(task) - len(backend) - len(seed_part) - 13
        name = "_".join((task, backend, f"{parts[:max(keep, 0)]}~{digest}", seed_part))
    return name


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------


def _fail(source: str, msg: str) -> SweepSpecError:
    return SweepSpecError(f"sweep file {source!r}: {msg}")


def _check_key(source: str, where: str, key: Any, value: Any) -> None:
    """An unknown config key or a value of the wrong type is an error naming `where` and the key."""
    if not isinstance(key, str):
        raise _fail(source, f"{where}: key {key!r} is not a config key name")
    if key in RESERVED:
        raise _fail(source, f"{where}: {key!r} is set by the sweep's `{RESERVED[key]}` field, not here")
    try:
        _set_key({}, {}, key, value_text(value), from_text=True)
    except (ValueError, TypeError) as exc:
        raise _fail(source, f"{where}: {exc}") from None


def _list(source: str, data: dict[str, Any], key: str, default: list[Any] | None = None) -> list[Any]:
    value = data.get(key, default)
    if value is None:
        raise _fail(source, f"`{key}` is required: a list, e.g. `{key}: [...]`")
    if not isinstance(value, list):
        value = [value]
    if not value:
        raise _fail(source, f"`{key}` is empty: give at least one value")
    if len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
        raise _fail(source, f"`{key}` repeats a value: {value}")
    return value


def _resources(source: str, data: Any) -> Resources:
    if data is None:
        return Resources()
    if not isinstance(data, dict):
        raise _fail(source, f"`resources` must be a mapping like {{cpus: 1, gpus: 0.5}}, got {data!r}")
    unknown = set(data) - {"cpus", "gpus"}
    if unknown:
        raise _fail(source, f"`resources`: unknown key {sorted(unknown)[0]!r}; known: cpus, gpus")
    values = {}
    for key in ("cpus", "gpus"):
        v = data.get(key, getattr(Resources(), key))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _fail(source, f"`resources.{key}` must be a number, got {v!r}")
        values[key] = float(v)
    if values["cpus"] <= 0:
        raise _fail(source, f"`resources.cpus` must be > 0, got {values['cpus']:g}")
    if values["gpus"] < 0:
        raise _fail(source, f"`resources.gpus` must be >= 0, got {values['gpus']:g}")
    if values["gpus"] > 1 and not values["gpus"].is_integer():
        raise _fail(source, f"`resources.gpus` is {values['gpus']:g}: a fraction of a GPU must be <= 1, more "
                            "than one GPU a whole number (Ray's rule)")
    return Resources(**values)


def _settings(source: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """grid (every combination) x points (each a setting); [{}] when neither is given."""
    grid = data.get("grid") or {}
    if not isinstance(grid, dict):
        raise _fail(source, f"`grid` must map config keys to lists of values, got {grid!r}")
    axes = []
    for key, values in grid.items():
        if not isinstance(values, list):
            raise _fail(source, f"grid key {key!r}: give a list of values (e.g. [{value_text(values)}]), "
                                f"got {values!r}")
        if not values:
            raise _fail(source, f"grid key {key!r} has no values: the grid would be empty")
        for v in values:
            _check_key(source, f"grid key {key!r}", key, v)
        axes.append([(key, v) for v in values])
    points = data.get("points")
    if points is None:
        points = [{}]
    if not isinstance(points, list) or not points:
        raise _fail(source, "`points` must be a non-empty list of mappings (one setting each)")
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise _fail(source, f"points[{i}] must be a mapping of config keys to values, got {point!r}")
        for key, v in point.items():
            if key in grid:
                raise _fail(source, f"points[{i}]: {key!r} is also a grid key")
            _check_key(source, f"points[{i}]", key, v)
    return [{**point, **dict(combo)} for point in points for combo in itertools.product(*axes)]


def _config_file(source: str, base: Path, path: Any) -> list[str]:
    """The overrides of the `config` file (relative to the sweep file; a bare name such as `tiny` that is no file
    there: the shipped config, tdmpc_parity/core/config_files.py), its glass section flattened."""
    if not isinstance(path, str):
        raise _fail(source, f"`config` must be a path or a shipped config's name, got {path!r}")
    full = (base / path) if not Path(path).is_absolute() else Path(path)
    try:
        if is_config_name(path) and not full.is_file():
            full = shipped_config(path)
        data = _read_yaml(full)
    except ValueError as exc:
        raise _fail(source, f"`config`: {exc}") from None
    out = []
    for key, value in data.items():
        if key in FILE_IGNORED_KEYS:
            continue
        items = [(f"glass.{k}", v) for k, v in value.items()] if key == "glass" and isinstance(value, dict) \
            else [(key, value)]
        for k, v in items:
            _check_key(source, f"config file {str(full)!r}", k, v)
            out.append(f"{k}={value_text(v)}")
    return out


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; every trial's config is built once (errors name the trial and the field)."""
    path = Path(path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SweepSpecError(f"sweep file {source!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise _fail(source, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise _fail(source, "nested too deeply to be a sweep file") from None
    if not isinstance(data, dict):
        raise _fail(source, "must hold a mapping (name, tasks, grid, ...)")
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise _fail(source, f"unknown field {unknown[0]!r}; the fields are {', '.join(SPEC_KEYS)}")
    return expand(data, source, path.parent, default_name=path.stem)


def expand(data: dict[str, Any], source: str, base: Path, default_name: str = "sweep") -> SweepSpec:
    """The SweepSpec of a parsed sweep mapping (`base`: the folder a relative `config` path starts from)."""
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise _fail(source, f"`name` must be a word of letters, digits and ._- , got {name!r}")
    profile = data.get("profile", "official")
    if profile not in PROFILES:
        raise _fail(source, f"`profile` {profile!r} is not one of {', '.join(PROFILES)}")
    steps = data.get("steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise _fail(source, f"`steps` (agent steps per trial) must be a whole number >= 1, got {steps!r}")
    retries = data.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise _fail(source, f"`retries` must be a whole number >= 0, got {retries!r}")
    tasks = _list(source, data, "tasks")
    backends = _list(source, data, "backends", ["torch"])
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        raise _fail(source, f"`backends`: {bad[0]!r} is not one of {', '.join(BACKENDS)}")
    seeds = _list(source, data, "seeds", [1])
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise _fail(source, f"`seeds` must be whole numbers >= 0, got {seeds}")
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise _fail(source, f"`set` must be a mapping of config keys to values, got {fixed!r}")
    base_overrides = _config_file(source, base, data["config"]) if data.get("config") is not None else []
    for key, value in fixed.items():
        _check_key(source, "set", key, value)
        base_overrides.append(f"{key}={value_text(value)}")
    settings = _settings(source, data)
    trials, seen, configs = [], {}, {}
    for task, backend, setting in itertools.product(tasks, backends, settings):
        groups = [tuple(seeds)] if backend == "jax" else [(s,) for s in seeds]
        for group in groups:
            overrides = (*base_overrides, *(f"{k}={value_text(v)}" for k, v in setting.items()))
            trial = Trial(trial_name(str(task), backend, setting, group), str(task), backend, group, dict(setting),
                          overrides, profile, steps)
            resolved = _check_trial(source, trial)
            if resolved in configs:
                raise _fail(source, f"trials {configs[resolved]} and {trial.name} have the same config and seeds")
            configs[resolved] = trial.name
            if trial.name in seen:
                raise _fail(source, f"two trials have the name {trial.name!r}: settings {seen[trial.name]} and "
                                    f"{setting} (give each point different values)")
            seen[trial.name] = setting
            trials.append(trial)
    return SweepSpec(name, trials, _resources(source, data.get("resources")), retries, source)


def _check_trial(source: str, trial: Trial) -> str:
    """Build the trial's config as `train` will (errors name the trial and the field); returns the resolved
    config and seeds as sorted JSON (two trials with the same one would be the same run)."""
    values: dict[str, Any] = {"task": trial.task, "backend": trial.backend, "seed": trial.seeds[0]}
    if trial.steps is not None:
        values["steps"] = trial.steps
    try:
        cfg = load_config(trial.profile, None, list(trial.overrides), values)
    except ValueError as exc:
        raise _fail(source, f"trial {trial.name}: {exc}") from None
    return json.dumps({**cfg.to_dict(), "seed": list(trial.seeds)}, sort_keys=True, default=str)
