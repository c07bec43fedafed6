"""Tasks of your own: `register_task` adds one beside the built-in table, `load_task_module` runs the module that
registers them (the CLI's `--task-module`), and a run folder records that module's name.

A registered task is a `RegisteredTask`: a `TaskSpec` (sizes, episode length) with two factories that the backends
call when they build an env, never before (registering imports neither torch, jax, MuJoCo nor dm_control):
- `torch_env(seed)` returns a dm_control `control.Environment` whose task draws its episodes from the RNG `seed` (as
  `suite.load(..., task_kwargs={"random": seed})` does). The torch backend wraps it as it wraps the suite's tasks
  (`torch_ref/env.py`): actions in [-1, 1] rescaled onto the action spec, `action_repeat` control steps per agent step
  with the rewards summed, the observation dict flattened to float32, episodes of `episode_length` agent steps.
- `jax_env()` returns a MuJoCo Playground env (an `mjx_env.MjxEnv` subclass, as Playground's dm_control_suite envs),
  which the JAX backend uses as it uses Playground's (`jax_impl/env.py`: its model, `reset`, `_get_obs`, `_get_reward`,
  the same stepping conventions). Without one the task is torch-only, refused by `--backend jax` as dog-* is.

`obs_dim` and `action_dim` are declared, as the built-in table writes them down, so that `info` and the config resolve
without building an env; each backend checks them against the env it builds.

A run folder trained with `--task-module` holds `task_module.json` (the module and the task). A run folder never runs
code by itself: `train --resume` and `eval` of such a folder import a module only when given `--task-module`, and
without it say which module to pass (`require_registered`).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tdmpc_parity.core.tasks import BACKENDS, REGISTERED, TASKS, UNSUPPORTED, TaskSpec

NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
NO_JAX_ENV = "registered without a jax_env factory; register_task(..., jax_env=...) adds one"
RECORD_FILE = "task_module.json"  # in a run folder trained with --task-module
TASK_MODULE_ENV = "TDMPC_PARITY_TASK_MODULE"  # the sweep driver's --task-module, for its trials' commands

_IMPORTED: set[str] = set()  # task modules imported in this process (absolute file paths, module names)
_LOADING: list[str] = []  # the task module being imported (where register_task records a task's origin)


@dataclass(frozen=True)
class RegisteredTask(TaskSpec):
    """A task of your own (module docstring): the spec plus the factories the backends build its envs with."""

    torch_env: Callable[[int], Any] | None = None  # seed -> dm_control control.Environment
    jax_env: Callable[[], Any] | None = None  # () -> Playground-style MJX env, None: torch only
    origin: str = ""  # the module that registered it

    @property
    def backends(self) -> tuple[str, ...]:
        """("torch", "jax") with a JAX factory, else ("torch",)."""
        return BACKENDS if self.jax_env is not None else ("torch",)

    def check_sizes(self, backend: str, obs_dim: int, action_dim: int) -> None:
        """ValueError when the env a factory built has other sizes than `register_task` declared."""
        if (obs_dim, action_dim) != (self.obs_dim, self.action_dim):
            raise ValueError(
                f"task {self.name!r}: the env of its {backend}_env factory has obs_dim={obs_dim}, "
                f"action_dim={action_dim}, but register_task declared obs_dim={self.obs_dim}, "
                f"action_dim={self.action_dim}; declare the env's sizes"
            )


def _whole(name: str, task: str, value: Any, what: str) -> int:
    """`value` as an int >= 1; ValueError naming the argument otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"register_task({task!r}): {name} must be a whole number >= 1 ({what}), got {value!r}")
    return value


def _check_name(name: Any) -> str:
    """A new task's name: lowercase words joined by '-' or '_', not a built-in, reserved or registered name."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"task name {name!r} is not valid: use lowercase letters and digits, words joined by single "
                         "'-' or '_', e.g. 'cartpole-long-pole'")
    if name in TASKS:
        raise ValueError(f"task name {name!r} is a built-in task (`tdmpc-parity tasks` lists them); give your task "
                         "another name")
    if name in UNSUPPORTED:
        raise ValueError(f"task name {name!r} is reserved (a custom task of the official repository); give your task "
                         "another name")
    if name in REGISTERED:
        raise ValueError(f"task {name!r} is already registered (by {REGISTERED[name].origin or 'this process'}); "
                         f"unregister_task({name!r}) first to replace it")
    return name


def register_task(name: str, *, torch_env: Callable[[int], Any], obs_dim: int, action_dim: int,
                  jax_env: Callable[[], Any] | None = None, episode_length: int = 500,
                  action_repeat: int = 2) -> RegisteredTask:
    """Add the task `name` (module docstring): `torch_env(seed)` -> dm_control `control.Environment`, optional
    `jax_env()` -> Playground-style MJX env; `obs_dim`, `action_dim`: the flattened observation's and the action's
    sizes; an episode is `episode_length` agent steps of `action_repeat` control steps each (the task's time limit
    `episode_length * action_repeat` control steps; a run repeats each action the config's `action_repeat` times)."""
    _check_name(name)
    for arg, factory, returns in (("torch_env", torch_env, "a dm_control control.Environment"),
                                  ("jax_env", jax_env, "a Playground-style MJX env")):
        if not callable(factory) and not (arg == "jax_env" and factory is None):
            raise TypeError(f"register_task({name!r}): {arg} must be a function returning {returns}, got "
                            f"{type(factory).__name__}")
    spec = RegisteredTask(
        name=name, domain="", task=name, playground=None,
        obs_dim=_whole("obs_dim", name, obs_dim, "the flattened observation's size"),
        action_dim=_whole("action_dim", name, action_dim, "the action's size"),
        control_steps=_whole("episode_length", name, episode_length, "agent steps")
        * _whole("action_repeat", name, action_repeat, "control steps per agent step"),
        action_repeat=action_repeat, official=False, custom=False, note="" if jax_env is not None else NO_JAX_ENV,
        torch_env=torch_env, jax_env=jax_env,
        origin=_LOADING[-1] if _LOADING else getattr(torch_env, "__module__", "") or "",
    )
    REGISTERED[name] = spec
    return spec


def unregister_task(name: str) -> None:
    """Remove a registered task (to register it again, e.g. in a notebook); ValueError when none has that name."""
    if name not in REGISTERED:
        raise ValueError(f"no registered task {name!r}; registered: {', '.join(sorted(REGISTERED)) or 'none'}")
    del REGISTERED[name]


# ----------------------------------------------------------------------------------------------------------
# --task-module: importing the module that registers the tasks
# ----------------------------------------------------------------------------------------------------------


def _is_path(source: str) -> bool:
    """A file path (ends in .py, holds a path separator, or names an existing file), not a module name."""
    return source.endswith(".py") or "/" in source or os.sep in source or Path(source).is_file()


def _run_module(source: str, key: str, run: Callable[[], None]) -> str:
    """`run()` imports the module; its failure is one ValueError sentence, its half-registered tasks are removed."""
    before = set(REGISTERED)
    _LOADING.append(key)
    try:
        run()
    except Exception as exc:
        for name in set(REGISTERED) - before:
            del REGISTERED[name]
        raise ValueError(f"task module {source!r} failed to import: {type(exc).__name__}: {exc}") from exc
    finally:
        _LOADING.pop()
    _IMPORTED.add(key)
    return key


def load_task_module(source: str) -> str:
    """Import the task module `source` (a .py file path or an importable module name) once per process, so that the
    tasks it registers are known; returns what identifies it (the file's absolute path, or the module name)."""
    if _is_path(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ValueError(f"task module {source!r}: no such file; give a .py file (e.g. examples/my_tasks.py) or "
                             "the name of an importable module")
        key = str(path.resolve())
        if key in _IMPORTED:
            return key
        name = "tdmpc_parity_task_module_" + re.sub(r"\W", "_", path.stem)
        spec = importlib.util.spec_from_file_location(name, key)
        assert spec is not None and spec.loader is not None  # a file path always has a source loader
        loader = spec.loader

        def run() -> None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # (dataclasses and pickling look their module up there)
            try:
                loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise

        return _run_module(source, key, run)
    if source in _IMPORTED:
        return source
    try:
        return _run_module(source, source, lambda: importlib.import_module(source))
    except ValueError as exc:
        cause = exc.__cause__
        if isinstance(cause, ModuleNotFoundError) and cause.name and source.startswith(cause.name):
            raise ValueError(f"task module {source!r}: no such file or importable module; give a .py file path "
                             "(e.g. examples/my_tasks.py) or the name of a module on the Python path") from None
        raise


# ----------------------------------------------------------------------------------------------------------
# The record in a run folder
# ----------------------------------------------------------------------------------------------------------


def record_task_module(run_dir: str | Path, module: str | None, task: str, overwrite: bool) -> None:
    """Before a new run in `run_dir`: write `task_module.json` (the module and the task), or with no module remove
    an old one. Nothing when `run_dir` holds a run that is not to be overwritten (the trainer refuses that)."""
    from tdmpc_parity.core.fsutil import atomic_write_text
    from tdmpc_parity.core.runlog import CONFIG_FILE

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():  # not a folder: the trainer refuses it, naming the problem
        return
    if (run_dir / CONFIG_FILE).exists() and not overwrite:
        return
    if module is None:
        (run_dir / RECORD_FILE).unlink(missing_ok=True)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / RECORD_FILE, json.dumps({"task_module": module, "task": task}, indent=2) + "\n")


def recorded_task_module(path: str | Path) -> dict[str, str] | None:
    """{"task_module", "task"} recorded for the run at `path` (a run folder, a file in one, a `--seeds` run folder or
    one of its seed_<s> folders); None when it has no record."""
    from tdmpc_parity.core.safe_json import read_json

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    for candidate in (folder, folder.parent) if re.fullmatch(r"seed_\d+", folder.name) else (folder,):
        record = candidate / RECORD_FILE
        if record.is_file():
            data = read_json(record, "task-module record")
            if not (isinstance(data, dict) and isinstance(data.get("task_module"), str)
                    and isinstance(data.get("task"), str)):
                raise ValueError(f"{str(record)!r} is not a task-module record (task_module and task strings)")
            return data
    return None


def require_registered(path: str | Path) -> None:
    """ValueError naming the `--task-module` to pass when the run at `path` was trained on a task of a module that
    this process has not imported (a run folder never imports code by itself)."""
    record = recorded_task_module(path)
    if record is not None and record["task"] not in TASKS and record["task"] not in REGISTERED:
        raise ValueError(f"{str(path)!r} is a run of task {record['task']!r}, registered by the task module "
                         f"{record['task_module']!r} it was trained with: pass --task-module {record['task_module']} "
                         "(a run folder never imports code by itself)")


def task_module_args() -> list[str]:
    """`--task-module M` of the sweep driver (environment variable TASK_MODULE_ENV) for a trial's command, or []."""
    module = os.environ.get(TASK_MODULE_ENV, "")
    return ["--task-module", module] if module else []


def import_task_module(given: str | None, *runs: str | Path) -> str | None:
    """The CLI's `--task-module`: `given` imported (returns its absolute path or module name); without it, each run
    folder in `runs` trained with a task module is refused, naming the module to pass (`require_registered`)."""
    if given:
        return load_task_module(given)
    for run in runs:
        require_registered(run)
    return None
