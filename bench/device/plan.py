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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.budget import MIN_ROUNDS

TRAIN_PROGRAMS = {"jax": 2.0, "torch": 1.0}  # compiled programs per training case (JAX: chunk + episode-end chunk)
KINDS = ("env_step", "plan", "update")


def probe_costs(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """backend -> kind -> {compile, per_unit}: the largest compile seconds of that kind's probe records and the
    largest seconds per unit (per env step of one vector step, per act, per update) among them."""
    costs: dict[str, dict[str, dict[str, float]]] = {}
    for rec in records:
        info, stats = rec.get("extra_info", {}), rec.get("stats", {})
        kind, backend = info.get("bench"), info.get("backend")
        if kind not in KINDS or backend not in TRAIN_PROGRAMS or not stats.get("median"):
            continue
        if kind == "update":
            units = info["updates_per_call"]
        else:
            units = max(1, info["agent_steps_per_call"] // max(1, info.get("n_envs", 1)))  # vector steps per call
        entry = costs.setdefault(backend, {}).setdefault(kind, {"compile": 0.0, "per_unit": 0.0})
        entry["compile"] = max(entry["compile"], float(info.get("compile_seconds", 0.0)))
        entry["per_unit"] = max(entry["per_unit"], float(stats["median"]) / units)
    return costs


def expected_train_seconds(costs: dict[str, dict[str, dict[str, float]]], backend: str, iterations: int,
                           updates: int) -> float | None:
    """compile(train) + MIN_ROUNDS x call(train) (module docstring); None when the probe lacks a kind."""
    kinds = costs.get(backend, {})
    if any(k not in kinds for k in KINDS):
        return None
    compile_s = TRAIN_PROGRAMS[backend] * sum(kinds[k]["compile"] for k in KINDS)
    per_iteration = kinds["env_step"]["per_unit"] + kinds["plan"]["per_unit"]
    call_s = iterations * per_iteration + updates * kinds["update"]["per_unit"]
    return compile_s + MIN_ROUNDS * call_s


def make_plan(records: list[dict[str, Any]], cases: dict[str, tuple[str, int, int]]) -> dict[str, Any]:
    """{"cases": {case name: expected seconds}, "costs": probe_costs} for `cases` (name -> backend, iterations
    per call, updates per call; backend "torch+jax" for a paired case, which runs both). A case the probe
    cannot predict (it measured no env_step, plan or update of that backend) gets None: it is skipped, since
    nothing says it fits."""
    costs = probe_costs(records)
    planned: dict[str, float | None] = {}
    for name, (backend, iterations, updates) in cases.items():
        parts = [expected_train_seconds(costs, b, iterations, updates) for b in backend.split("+")]
        planned[name] = None if None in parts else round(sum(parts), 1)  # "torch+jax": a paired case, both
    return {"cases": planned, "costs": costs}


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
