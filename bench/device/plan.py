"""The second GPU command's plan: which training cases fit, from what the probe (the first command) measured.

The probe (`bench/device/run.py --stage probe`) times the cheap cases (env_step, update, plan) of both backends,
each record with its compile seconds (the untimed first call) and seconds per call. A JAX training case compiles
whole-chunk programs that hold an env step, an act and the updates — two of them (the chunk and the episode-ending
chunk) — so its compile is expected at

    compile(train) = TRAIN_PROGRAMS[backend] x (compile(env_step) + compile(act) + compile(update)),

each term the largest of that backend's probe records of the kind (torch has no compile: its first calls are
the same sums of one call each). A case is planned at compile(train) + MIN_ROUNDS x call(train), with

    call(train) = iterations x (call(env_step) / steps per env call + call(act) / acts per plan call)
                  + updates x call(update) / updates per update call,

and starts only if that fits in the time left (bench/budget.py `check_start`); the plan and the reasons are in
the JSON. These are estimates from the same machine minutes earlier; the records keep the measured compile
seconds, so the next plan can be checked against them.

A case of a given task and physics (the physics cases, bench/test_bench_physics.py, `env_costs`) takes its
env_step terms from the probe's env_step records of that task and physics only: a humanoid-run env in dm_control's
physics compiles and steps many times slower than hopper-hop's in Playground's, so neither predicts the other;
without such a record nothing predicts the case. A physics case of the session's main task (task None) takes the
task of the probe's main env_step records (`main_task`), so a `--bench-task` session is planned on its own task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.budget import MIN_ROUNDS
from tdmpc_parity.analysis.benchmeta import record_physics

TRAIN_PROGRAMS = {"jax": 2.0, "torch": 1.0}  # compiled programs per training case (JAX: chunk + episode-end chunk)
KINDS = ("env_step", "plan", "update")
PHYSICS_CASES = "test_bench_physics_"  # the name prefix of bench/test_bench_physics.py's cases
MAIN_ENV_CASES = "test_bench_env_step["  # the name prefix of bench/test_bench_env.py's cases (the main task's)


Costs = dict[str, dict[str, dict[str, float]]]  # backend -> kind (or "task/physics") -> {compile, per_unit}
# A planned case: (backend, iterations per call, updates per call), or with (task, physics) when its env_step
# terms must come from the probe's records of that task (None: the main task) and physics.
PlanCase = tuple[str, int, int] | tuple[str, int, int, str | None, str]


def _max_costs(records: list[dict[str, Any]], group: Callable[[dict[str, Any]], str | None]) -> Costs:
    """backend -> group(info) -> {compile, per_unit}: the largest compile seconds of each group's probe records
    and the largest seconds per unit (per env step of one vector step, per act, per update) among them; a record
    whose group is None is left out."""
    costs: Costs = {}
    for rec in records:
        info, stats = rec.get("extra_info", {}), rec.get("stats", {})
        kind, backend = info.get("bench"), info.get("backend")
        if kind not in KINDS or backend not in TRAIN_PROGRAMS or not stats.get("median"):
            continue
        key = group(info)
        if key is None:
            continue
        if kind == "update":
            units = info["updates_per_call"]
        else:
            units = max(1, info["agent_steps_per_call"] // max(1, info.get("n_envs", 1)))  # vector steps per call
        entry = costs.setdefault(backend, {}).setdefault(key, {"compile": 0.0, "per_unit": 0.0})
        entry["compile"] = max(entry["compile"], float(info.get("compile_seconds", 0.0)))
        entry["per_unit"] = max(entry["per_unit"], float(stats["median"]) / units)
    return costs


def probe_costs(records: list[dict[str, Any]]) -> Costs:
    """backend -> kind -> {compile, per_unit}: the largest compile seconds of that kind's probe records and the
    largest seconds per unit (per env step of one vector step, per act, per update) among them; the records of
    the physics cases (other tasks and physics) are left out: they predict only the physics cases (`env_costs`)."""
    return _max_costs([r for r in records if not str(r.get("name", "")).startswith(PHYSICS_CASES)],
                      lambda info: info["bench"])


def env_key(task: str, physics: str) -> str:
    return f"{task}/{physics}"


def env_costs(records: list[dict[str, Any]]) -> Costs:
    """backend -> "task/physics" -> {compile, per_unit} of the probe's env_step records (their physics as the
    report reads it, `record_physics`)."""
    return _max_costs(records, lambda info: env_key(info["task"], record_physics(info))
                      if info["bench"] == "env_step" and "task" in info else None)


def main_task(records: list[dict[str, Any]]) -> str | None:
    """The task of the probe's main env_step cases (the session's task); None when the probe has none."""
    return next((r["extra_info"].get("task") for r in records
                 if str(r.get("name", "")).startswith(MAIN_ENV_CASES) and "extra_info" in r), None)


def expected_train_seconds(costs: Costs, backend: str, iterations: int, updates: int,
                           env: dict[str, float] | None = None) -> float | None:
    """compile(train) + MIN_ROUNDS x call(train) (module docstring), the env_step terms from `env` if given;
    None when the probe lacks a kind."""
    kinds = dict(costs.get(backend, {}))
    if env is not None:
        kinds["env_step"] = env
    if any(k not in kinds for k in KINDS):
        return None
    compile_s = TRAIN_PROGRAMS[backend] * sum(kinds[k]["compile"] for k in KINDS)
    per_iteration = kinds["env_step"]["per_unit"] + kinds["plan"]["per_unit"]
    call_s = iterations * per_iteration + updates * kinds["update"]["per_unit"]
    return compile_s + MIN_ROUNDS * call_s


def _expected(costs: Costs, by_env: Costs, task: str | None, backend: str, case: PlanCase) -> float | None:
    """One backend's expected seconds of a planned case (`task`: the main task); None when the probe measured too
    little to say."""
    iterations, updates = case[1], case[2]
    if len(case) == 3:
        return expected_train_seconds(costs, backend, iterations, updates)
    env = by_env.get(backend, {}).get(env_key(case[3] or task or "", case[4]))
    return None if env is None else expected_train_seconds(costs, backend, iterations, updates, env)


def make_plan(records: list[dict[str, Any]], cases: dict[str, PlanCase]) -> dict[str, Any]:
    """{"cases": {case name: expected seconds}, "costs": probe_costs, "env_costs": env_costs} for `cases` (name ->
    backend, iterations per call, updates per call[, task or None for the main task, physics]; backend "torch+jax"
    for a paired case, which runs both). A case the probe cannot predict (it measured no env_step, plan or update
    of that backend, or no env_step of the case's task and physics) gets None: it is skipped, since nothing says it
    fits."""
    costs, by_env, task = probe_costs(records), env_costs(records), main_task(records)
    planned: dict[str, float | None] = {}
    for name, case in cases.items():
        parts = [_expected(costs, by_env, task, b, case) for b in case[0].split("+")]
        planned[name] = None if None in parts else round(sum(parts), 1)  # "torch+jax": a paired case, both
    return {"cases": planned, "costs": costs, "env_costs": by_env}


def read_plan(path: Path) -> dict[str, float | None]:
    """The `cases` of a plan file (ValueError with one sentence for a missing or malformed file)."""
    try:
        data = json.loads(Path(path).read_text())
        cases = data["cases"]
        if not all(isinstance(k, str) and (v is None or isinstance(v, int | float)) for k, v in cases.items()):
            raise TypeError("case names must map to seconds or null")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not a plan file (JSON with 'cases': {{case name: seconds}}): {exc}") from None
    return {k: None if v is None else float(v) for k, v in cases.items()}
