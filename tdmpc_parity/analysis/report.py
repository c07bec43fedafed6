"""`tdmpc-parity report results/`: merge every benchmark JSON into results/REPORT.md and PNG bar charts.

Input: pytest-benchmark JSON files in `results/<machine-slug>/*.json` (machine_info with the block of
`tdmpc_parity.core.machine`, commit_info, benchmarks[] whose extra_info follows `tdmpc_parity.analysis.benchmeta`).
Anything else
(not JSON, not pytest-benchmark JSON, a missing field, a record of another benchmark version, a file in the
wrong machine folder) is refused with a ValueError naming the file, before anything is written. Input files
are only read; REPORT.md and the charts are written to temporary files and renamed into place, so a failed
run leaves an existing report as it was.

Rates. A record's rate is units per call / stats.median, where the unit is env steps (physics control
steps, summed over envs) when the call steps envs and updates otherwise (`update` benches); its quartile
range is units / q3 .. units / q1. Speedups are JAX rate / torch rate, formed only between records of the
SAME machine folder and the same settings (`MATCH_FIELDS`, per bench kind: the fields that change the work
of one call). The central value is the ratio of the medians; the spread is the interquartile range of
2000 bootstrap resamples of both records' per-round times (fixed seed, so the report is reproducible), or,
when a record carries fewer than 3 per-round times, the quartile bounds
[(u_j/q3_j)/(u_t/q1_t), (u_j/q1_j)/(u_t/q3_t)]. Speedups of one machine are summarised by their geometric
mean. Figures of different machines are never divided. Of several records with the same machine, backend,
profile and settings, the newest file wins; the others are listed as superseded.

Physics. A record's `physics` (what its envs stepped: `dm_control` or MuJoCo Playground's `playground`,
`tdmpc_parity.analysis.benchmeta.record_physics`, which reads a record written before the field as torch
`dm_control`, JAX `playground`) is one of the settings of the benches that step envs (`env_step`,
`train_iteration`): records of two physics never pair, so the torch backend, which always steps dm_control,
pairs only with JAX `dm_control` records. The physics table (g) divides, within one machine, the rate of a JAX
`playground` record by that of the JAX `dm_control` record of otherwise the same settings, with the same
interval as the speedups.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.analysis import flops
from tdmpc_parity.analysis.benchmeta import BENCHES, bench_version, record_physics, validate_record
from tdmpc_parity.core.fsutil import atomic_file

MACHINE_FIELDS = ("machine_slug", "cpu_model", "cpu_logical_cores", "gpus", "versions")
_ARCH = ("model_size", "obs_dim", "action_dim", "enc_dim", "num_enc_layers", "latent_dim", "mlp_dim",
         "num_bins", "num_q")
_NUMERICS = ("glass", "dtype", "matmul_precision")
_PLAN = ("horizon", "num_samples", "num_pi_trajs", "iterations")
# `physics` only where a call steps envs: a plan or update call steps none, whatever its config says.
MATCH_FIELDS: dict[str, tuple[str, ...]] = {
    "env_step": ("bench", "task", "physics", "n_envs", "action_repeat", "dtype"),
    "plan": ("bench", "task", "n_envs", "action_repeat", "collector", *_NUMERICS, *_ARCH, *_PLAN),
    "update": ("bench", "task", *_NUMERICS, *_ARCH, "horizon", "batch_size"),
    "train_iteration": ("bench", "task", "physics", "n_envs", "action_repeat", "collector", "updates_per_agent_step",
                        *_NUMERICS, *_ARCH, *_PLAN, "batch_size"),
}
STEPS_ENVS = ("env_step", "train_iteration")  # the benches whose records carry a physics
# Fields compared in footnotes (what differs between compared columns).
COMPARE_FIELDS = (
    "profile", "physics", "n_envs", "collector", "updates_per_agent_step", "model_size", "params", "num_q", "glass",
    "dtype", "matmul_precision", "batch_size", "horizon", "num_samples", "num_pi_trajs", "iterations",
    "action_repeat", "env_steps_per_call", "agent_steps_per_call", "updates_per_call", "device",
)
# The published speedup table of the JAX TD-MPC2 + Glass port the `fast` profile comes from, quoted, not measured.
SEED_TABLE = (
    ("Official PyTorch (DM-Control gym)", "~11", "1x"),
    ("seed JAX, single RTX 3080", "~350", "~32x"),
    ("seed JAX, single RTX 3090 (Glass on)", "~115", "~10x"),
    ("seed JAX, single RTX 4070 Ti", "~580", "~50x"),
)
N_BOOT = 2000
# The JSON files other commands write at the top of results/ (not benchmark records): the parity table
# (tdmpc_parity/analysis/parity_report.py) and the mutation run (parity/mutants.py).
TOP_LEVEL_JSON = ("parity.json", "mutation.json")


# ----------------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One benchmark record of one file, with its machine folder and the file's timestamp."""

    source: Path
    machine: str
    name: str
    info: dict[str, Any]
    stats: dict[str, Any]
    datetime: str
    order: int  # position in reading order (ties of datetime: the later one wins)
    legacy_physics: bool = False  # written before extra_info.physics: info["physics"] is `record_physics`'s reading

    @property
    def backend(self) -> str:
        return self.info["backend"]

    @property
    def unit(self) -> str:
        return "env steps/s" if self.info["env_steps_per_call"] > 0 else "updates/s"

    @property
    def units_per_call(self) -> int:
        i = self.info
        return i["env_steps_per_call"] if i["env_steps_per_call"] > 0 else i["updates_per_call"]

    @property
    def rate(self) -> float:
        """Units per second at the median time per call."""
        return self.units_per_call / self.stats["median"]

    @property
    def rate_range(self) -> tuple[float, float]:
        """Units per second at the q3 and q1 times per call (slow end, fast end)."""
        return self.units_per_call / self.stats["q3"], self.units_per_call / self.stats["q1"]

    @property
    def flops_per_call(self) -> int:
        i = self.info
        return flops.flops_per_call(i, i["agent_steps_per_call"], i["updates_per_call"])


@dataclass(frozen=True)
class Machine:
    slug: str
    info: dict[str, Any]
    files: tuple[Path, ...]

    @property
    def fixture(self) -> bool:
        return bool(self.info.get("fixture"))


@dataclass(frozen=True)
class Pair:
    """torch and jax records of one machine; ratio = jax rate / torch rate with its spread."""

    machine: str
    torch: Record
    jax: Record
    ratio: float
    low: float
    high: float
    method: str  # "bootstrap" | "quartile bounds"


@dataclass(frozen=True)
class PhysicsSaving:
    """Two JAX records of one machine and otherwise equal settings; ratio = playground rate / dm_control rate."""

    machine: str
    dm_control: Record
    playground: Record
    ratio: float
    low: float
    high: float
    method: str  # "bootstrap" | "quartile bounds"


@dataclass
class ReportData:
    version: str
    machines: dict[str, Machine]
    records: list[Record]
    superseded: list[Record] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)  # matched settings
    seed_pairs: list[Pair] = field(default_factory=list)  # official torch vs fast jax
    paired: list[Record] = field(default_factory=list)  # alternating-round torch/JAX cases (extra_info.paired)
    savings: list[PhysicsSaving] = field(default_factory=list)  # JAX playground vs JAX dm_control


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read: {exc}") from None
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def load_file(path: Path, machine: str, version: str, order0: int = 0) -> tuple[dict[str, Any], list[Record]]:
    """Read and check one pytest-benchmark JSON file; ValueError naming `path` on any defect."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a pytest-benchmark JSON file (top level is not an object)")
    for key, tp in (("machine_info", dict), ("commit_info", dict), ("benchmarks", list), ("datetime", str),
                    ("version", str)):
        if not isinstance(data.get(key), tp):
            raise ValueError(f"{path}: not a pytest-benchmark JSON file (no {tp.__name__} {key!r})")
    mi = data["machine_info"]
    for key in MACHINE_FIELDS:
        if key not in mi:
            raise ValueError(f"{path}: machine_info field {key!r} is missing (the file was not written with "
                             "bench/conftest.py's machine hook)")
    if mi["machine_slug"] != machine:
        raise ValueError(f"{path}: machine_info.machine_slug {mi['machine_slug']!r} does not match its "
                         f"folder {machine!r}; results/<machine-slug>/ holds one machine's files")
    if not data["benchmarks"]:
        raise ValueError(f"{path}: holds no benchmarks")
    records = []
    for i, rec in enumerate(data["benchmarks"]):
        validate_record(rec, str(path), expected_version=version)
        _check_paired(rec["extra_info"].get("paired"), f"{path}: {rec.get('name')}")
        info = dict(rec["extra_info"])
        legacy = "physics" not in info
        info["physics"] = record_physics(info)
        records.append(Record(path, machine, rec["name"], info, dict(rec["stats"]), data["datetime"], order0 + i,
                              legacy))
    return mi, records


def _check_paired(paired: Any, where: str) -> None:
    """ValueError naming `where` when extra_info.paired (bench/protocol.py `time_pair`) is malformed."""
    if paired is None:
        return
    ok = (isinstance(paired, dict) and isinstance(paired.get("first_seconds"), list) and paired["first_seconds"]
          and all(isinstance(x, int | float) and x > 0 for x in paired["first_seconds"])
          and isinstance(paired.get("speedup_median"), int | float)
          and isinstance(paired.get("speedup_ci95"), list) and len(paired["speedup_ci95"]) == 2
          and paired.get("rounds") == len(paired["first_seconds"]))
    if not ok:
        raise ValueError(f"{where}: extra_info field 'paired' is malformed (it needs rounds, first_seconds with one "
                         "positive time per round, speedup_median and speedup_ci95 [low, high])")


def load_results(results_dir: Path, version: str | None = None) -> tuple[dict[str, Machine], list[Record]]:
    """Every record under results_dir/<machine-slug>/*.json (sorted), all checked before any is used."""
    results_dir = Path(results_dir)
    version = version or bench_version()
    if not results_dir.is_dir():
        raise ValueError(f"{results_dir}: not a directory")
    stray = sorted(p for p in results_dir.glob("*.json") if p.name not in TOP_LEVEL_JSON)
    if stray:
        raise ValueError(f"{stray[0]}: benchmark JSON must live in {results_dir}/<machine-slug>/, "
                         "not at the top")
    paths = sorted(p for p in results_dir.glob("*/*.json") if p.is_file())
    if not paths:
        raise ValueError(f"{results_dir}: no benchmark JSON in any <machine-slug>/ folder")
    infos: dict[str, list[tuple[str, Path, dict[str, Any]]]] = {}
    records: list[Record] = []
    for path in paths:
        mi, recs = load_file(path, path.parent.name, version, order0=len(records))
        infos.setdefault(path.parent.name, []).append((recs[0].datetime, path, mi))
        records.extend(recs)
    machines = {}
    for slug, entries in infos.items():
        newest = max(entries, key=lambda e: (e[0], str(e[1])))
        machines[slug] = Machine(slug, newest[2], tuple(p for _, p, _ in entries))  # newest file's block
    return machines, records


# ----------------------------------------------------------------------------------------------------------
# Keys, dedup, pairs
# ----------------------------------------------------------------------------------------------------------


def match_key(info: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The settings that must be equal for two records (of one machine) to be compared. A JAX record sharded
    over several devices (optional extra_info.devices, bench/test_bench_train.py) has no torch partner."""
    devices = info.get("devices", 1)
    key = tuple((k, record_physics(info) if k == "physics" else info[k]) for k in MATCH_FIELDS[info["bench"]])
    return key + ((("devices", devices),) if devices != 1 else ())


def pairs_by_settings(data: ReportData) -> list[tuple[tuple[Any, ...], dict[str, Pair]]]:
    """The matched pairs grouped by settings (`match_key`), one Pair per machine, sorted by settings."""
    by_key: dict[tuple[Any, ...], dict[str, Pair]] = {}
    for p in data.pairs:
        by_key.setdefault(match_key(p.torch.info), {})[p.machine] = p
    return sorted(by_key.items(), key=lambda kv: str(kv[0]))


def series_key(rec: Record) -> tuple[Any, ...]:
    """One row of the absolute table: backend, profile and the settings (a paired record is its own series)."""
    return (rec.backend, rec.info["profile"], match_key(rec.info), "paired" in rec.info)


def _newest(recs: Iterable[Record]) -> Record:
    return max(recs, key=lambda r: (r.datetime, r.order))


def dedupe(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """Keep the newest record per (machine, series); return (kept, superseded)."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for r in records:
        groups.setdefault((r.machine, series_key(r)), []).append(r)
    kept, superseded = [], []
    for recs in groups.values():
        best = _newest(recs)
        kept.append(best)
        superseded.extend(r for r in recs if r is not best)
    kept.sort(key=lambda r: r.order)
    return kept, superseded


def rate_ratio(base: Record, other: Record, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float, str]:
    """(ratio of median rates other/base, low, high, method): bootstrap IQR or quartile bounds (module
    docstring); ValueError for records of two machines."""
    if base.machine != other.machine:
        raise ValueError(f"refusing to compare {base.source} with {other.source}: different machines")
    ub, uo = base.units_per_call, other.units_per_call
    ratio = other.rate / base.rate
    db, do = base.stats.get("data"), other.stats.get("data")
    if db and do and len(db) >= 3 and len(do) >= 3:
        rng = np.random.default_rng(seed)
        ab, ao = np.asarray(db, dtype=float), np.asarray(do, dtype=float)
        mb = np.median(ab[rng.integers(0, len(ab), size=(n_boot, len(ab)))], axis=1)
        mo = np.median(ao[rng.integers(0, len(ao), size=(n_boot, len(ao)))], axis=1)
        boot = (uo / mo) / (ub / mb)
        low, high = np.percentile(boot, [25, 75])
        return ratio, float(low), float(high), "bootstrap"
    sb, so = base.stats, other.stats
    low = (uo / so["q3"]) / (ub / sb["q1"])
    high = (uo / so["q1"]) / (ub / sb["q3"])
    return ratio, low, high, "quartile bounds"


def speedup(torch_rec: Record, jax_rec: Record, n_boot: int = N_BOOT, seed: int = 0
            ) -> tuple[float, float, float, str]:
    """(ratio of median rates jax/torch, low, high, method): bootstrap IQR or quartile bounds."""
    return rate_ratio(torch_rec, jax_rec, n_boot, seed)


def _pair(t: Record, j: Record) -> Pair:
    ratio, low, high, method = speedup(t, j)
    return Pair(t.machine, t, j, ratio, low, high, method)


def matched_pairs(records: list[Record]) -> list[Pair]:
    """torch/jax pairs with equal match_key on the same machine (newest record of each backend); the key holds
    the physics, so a torch record (dm_control) pairs only with a JAX `dm_control` one."""
    groups: dict[tuple[Any, ...], dict[str, list[Record]]] = {}
    for r in records:
        groups.setdefault((r.machine, match_key(r.info)), {}).setdefault(r.backend, []).append(r)
    pairs = []
    for by_backend in groups.values():
        if "torch" in by_backend and "jax" in by_backend:
            pairs.append(_pair(_newest(by_backend["torch"]), _newest(by_backend["jax"])))
    return pairs


def is_official_torch(r: Record) -> bool:
    """The official configuration: profile official, 1 env, 1 update per agent step, MPPI collection."""
    i = r.info
    return (r.backend == "torch" and i["profile"] == "official" and i["n_envs"] == 1
            and i["updates_per_agent_step"] == 1 and (i["collector"] == "mppi" or i["bench"] == "env_step"))


def seed_pairs(records: list[Record]) -> list[Pair]:
    """The seed's comparison per machine: official torch vs JAX `fast` profile on one device, same bench, task
    and numerics (Glass, dtype, matmul precision: a speedup is never formed across precision modes)."""
    pairs = []
    for t in records:
        if not is_official_torch(t) or t.info["bench"] == "update":
            continue
        for j in records:
            if (j.backend == "jax" and j.info["profile"] == "fast" and j.machine == t.machine
                    and j.info.get("devices", 1) == 1
                    and all(j.info[k] == t.info[k] for k in ("bench", "task", *_NUMERICS))):
                pairs.append(_pair(t, j))
    return pairs


def physics_savings(records: list[Record]) -> list[PhysicsSaving]:
    """Per machine, each JAX `dm_control` record of a bench that steps envs with the JAX `playground` record of
    otherwise the same settings (`match_key` without the physics; newest of each)."""
    groups: dict[tuple[Any, ...], dict[str, list[Record]]] = {}
    for r in records:
        if r.backend == "jax" and r.info["bench"] in STEPS_ENVS:
            key = tuple(kv for kv in match_key(r.info) if kv[0] != "physics")
            groups.setdefault((r.machine, key), {}).setdefault(r.info["physics"], []).append(r)
    out = []
    for by_physics in groups.values():
        if "dm_control" in by_physics and "playground" in by_physics:
            dm, pg = _newest(by_physics["dm_control"]), _newest(by_physics["playground"])
            out.append(PhysicsSaving(dm.machine, dm, pg, *rate_ratio(dm, pg)))
    return sorted(out, key=lambda s: (s.machine, s.dm_control.info["bench"], settings_label(s.dm_control.info)))


def geomean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else float("nan")


def collect(results_dir: Path) -> ReportData:
    """Load, check, dedupe and pair everything; raises ValueError (naming the file) before any output."""
    version = bench_version()
    machines, records = load_results(Path(results_dir), version)
    kept, superseded = dedupe(records)
    paired = [r for r in kept if "paired" in r.info]
    single = [r for r in kept if "paired" not in r.info]
    return ReportData(version, machines, single, superseded, matched_pairs(single), seed_pairs(single), paired,
                      physics_savings(single))


# ----------------------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    """3 significant digits, thousands separators for large values."""
    if x != x:
        return "n/a"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def gflop(x: float) -> str:
    return fmt(x / 1e9)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def settings_label(info: dict[str, Any], physics: bool = True) -> str:
    """Short human label of a record's settings (per bench kind; the physics of a bench that steps envs unless
    `physics` is False)."""
    b = info["bench"]
    parts = [info["task"]]
    if physics and b in STEPS_ENVS:
        parts.append(record_physics(info))
    if b != "update":
        parts.append(f"E={info['n_envs']}")
    if b in ("plan", "train_iteration"):
        parts.append(info["collector"])
    if b == "train_iteration":
        parts.append(f"UTD={info['updates_per_agent_step']:g}")
    if b != "env_step":
        parts += [info["model_size"], f"Q={info['num_q']}", "glass" if info["glass"] else "no glass",
                  f"{info['dtype']}/{info['matmul_precision']}"]
    if b in ("update", "train_iteration"):
        parts.append(f"B={info['batch_size']}")
    if info.get("devices", 1) != 1:
        parts.append(f"envs over {info['devices']} devices")
    return " · ".join(parts)


def _cell(r: Record) -> str:
    lo, hi = r.rate_range
    return f"{fmt(r.rate)} [{fmt(lo)}–{fmt(hi)}]"


def _machine_label(m: Machine) -> str:
    return f"{m.slug} (FIXTURE)" if m.fixture else m.slug


def _diff(a: dict[str, Any], b: dict[str, Any], names: Iterable[str]) -> list[str]:
    return [f"{k}: {a[k]} vs {b[k]}" for k in names if a.get(k) != b.get(k)]


def _absolute_section(data: ReportData, slugs: list[str]) -> list[str]:
    out = ["## (a) Absolute rates per backend and machine",
           "Median rate [rate at q3 time – rate at q1 time] per record; env steps are physics control steps "
           "summed over envs. Each column is one machine; rows with no record on a machine show `—`. The settings "
           "of `env_step` and `train_iteration` name the physics the envs stepped (`dm_control` or MuJoCo "
           "Playground's `playground`).", ""]
    legacy = [r for r in data.records + data.paired if r.legacy_physics]
    if legacy:
        counts = Counter(f"{r.backend} `{r.info['physics']}`" for r in legacy)
        out += [f"{len(legacy)} record(s) carry no `extra_info.physics` (written before the field) and are read as "
                "what they stepped then: torch `dm_control`, JAX `playground` (the JAX default of that time; "
                "`dm_control` on a task MuJoCo Playground lacks). Here: "
                + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) + ".", ""]
    for bench in BENCHES:
        recs = [r for r in data.records if r.info["bench"] == bench]
        if not recs:
            continue
        rows: dict[tuple[Any, ...], dict[str, Record]] = {}
        for r in recs:
            rows.setdefault(series_key(r), {})[r.machine] = r
        body = []
        for key, by_m in sorted(rows.items(), key=lambda kv: str(kv[0])):
            any_rec = next(iter(by_m.values()))
            body.append([key[0], key[1], settings_label(any_rec.info)]
                        + [_cell(by_m[s]) if s in by_m else "—" for s in slugs])
        unit = recs[0].unit
        out += [f"### bench `{bench}` ({unit})", "",
                table(["backend", "profile", "settings", *slugs], body), ""]
    return out


def _sorted_seed_pairs(data: ReportData) -> list[Pair]:
    return sorted(data.seed_pairs, key=lambda p: (p.machine, p.torch.info["bench"], p.jax.source.name,
                                                  settings_label(p.jax.info)))


def _seed_section(data: ReportData) -> list[str]:
    out = ["## (b) The seed's table reproduced: official torch vs JAX fast profile (apples to oranges)",
           "The seed's headline compares the official PyTorch configuration (1 env, MPPI collection, "
           "1 update per agent step) with its JAX code at different settings (256 envs, policy-plus-noise "
           "collection, 0.25 updates per agent step, MuJoCo Playground's re-tuned physics). The ratio below is "
           "therefore NOT a speedup of one algorithm: it mixes implementation speed with a cheaper algorithm "
           "(and, in `playground` physics, cheaper physics). Each row is within one machine and names the physics "
           "of each side (torch always steps `dm_control`).", "",
           "Published by the seed (quoted, not measured here; its sps unit is unstated):", "",
           table(["implementation", "sps", "speedup"], [list(r) for r in SEED_TABLE]), "",
           "Measured here:", ""]
    if not data.seed_pairs:
        out += ["_No machine has both an official-profile torch record and a fast-profile JAX record._", ""]
        return out
    rows = []
    for i, p in enumerate(_sorted_seed_pairs(data), 1):
        rows.append([p.machine, p.torch.info["bench"], p.torch.info["task"],
                     f"{p.torch.info['physics']} / {p.jax.info['physics']}", p.torch.unit, _cell(p.torch),
                     _cell(p.jax), f"{fmt(p.ratio)}× [{fmt(p.low)}–{fmt(p.high)}] (note s{i})"])
    out += [table(["machine", "bench", "task", "physics torch / jax", "unit", "torch official", "jax fast",
                   "ratio jax/torch (not a speedup)"], rows), ""]
    return out


def _matched_section(data: ReportData, slugs: list[str]) -> list[str]:
    out = ["## (c) Matched settings: same algorithm, same settings, same physics, same machine",
           "torch steps dm_control's physics, so its records pair only with JAX records in `dm_control` physics "
           "(the `fast` profile's JAX default, MuJoCo Playground's `playground`, is in table g). "
           "Speedup = JAX rate / torch rate on one machine: ratio of the medians [interquartile range; "
           "bootstrap of the per-round times, † = quartile bounds]. Never divided across machines. These pairs are "
           "unpaired in time: the two records were timed one after the other, minutes apart, so a load change "
           "between them moves the ratio; (p) times both backends in alternating rounds.", ""]
    if not data.pairs:
        return out + ["_No machine has torch and JAX records with matching settings._", ""]
    body = []
    for _, by_m in pairs_by_settings(data):
        info = next(iter(by_m.values())).torch.info
        cells = []
        for s in slugs:
            p = by_m.get(s)
            mark = "" if p is None or p.method == "bootstrap" else "†"
            cells.append("—" if p is None else f"{fmt(p.ratio)}× [{fmt(p.low)}–{fmt(p.high)}]{mark}")
        body.append([info["bench"], settings_label(info), *cells])
    gm = []
    for s in slugs:
        ratios = [p.ratio for p in data.pairs if p.machine == s]
        gm.append(f"**{fmt(geomean(ratios))}×** (n={len(ratios)})" if ratios else "—")
    body.append(["all", "geometric mean", *gm])
    out += [table(["bench", "settings", *slugs], body), ""]
    return out


def _paired_section(data: ReportData) -> list[str]:
    """(p): one row per paired record: both backends' median seconds per call over the same rounds and the median
    per-round speedup torch_i / jax_i with its 95 % bootstrap interval (bench/protocol.py `time_pair`)."""
    out = ["## (p) Paired: torch and JAX in alternating rounds, same settings, same machine",
           "Each round times one torch call, then one JAX call of the same work; speedup = median over rounds of "
           "torch seconds / JAX seconds [95 % bootstrap interval of that median]. A load change during the case "
           "slows both calls of a round alike.", ""]
    if not data.paired:
        return out + ["_No paired records (bench/test_bench_paired.py)._", ""]
    rows = []
    for r in sorted(data.paired, key=lambda r: (r.machine, r.info["bench"], settings_label(r.info))):
        p = r.info["paired"]
        low, high = p["speedup_ci95"]
        rows.append([r.machine, r.info["bench"], settings_label(r.info), str(p["rounds"]),
                     f"{fmt(float(np.median(p['first_seconds'])) * 1e3)}", f"{fmt(r.stats['median'] * 1e3)}",
                     f"**{fmt(p['speedup_median'])}×** [{fmt(low)}–{fmt(high)}]"])
    return out + [table(["machine", "bench", "settings", "rounds", "torch ms/call", "JAX ms/call", "speedup"],
                        rows), ""]


def _physics_section(data: ReportData) -> list[str]:
    """(g): one row per machine and settings with JAX records of both physics: both rates and their ratio."""
    out = ["## (g) Physics: what MuJoCo Playground's re-tuned models save (JAX `dm_control` vs JAX `playground`)",
           "The same JAX case in dm_control's models and options (the official tasks) and in MuJoCo Playground's "
           "re-tuned models (docs/physics.md), same machine, otherwise the same settings. Ratio = playground rate / "
           "dm_control rate: ratio of the medians [interquartile range; bootstrap of the per-round times, "
           "† = quartile bounds]. A row exists only where both records do.", ""]
    if not data.savings:
        return out + ["_No machine has JAX records of both physics with otherwise the same settings._", ""]
    rows = []
    for sv in data.savings:
        mark = "" if sv.method == "bootstrap" else "†"
        rows.append([sv.machine, sv.dm_control.info["bench"], settings_label(sv.dm_control.info, physics=False),
                     sv.dm_control.unit, _cell(sv.dm_control), _cell(sv.playground),
                     f"**{fmt(sv.ratio)}×** [{fmt(sv.low)}–{fmt(sv.high)}]{mark}"])
    return out + [table(["machine", "bench", "settings", "unit", "JAX dm_control", "JAX playground",
                         "playground / dm_control"], rows), ""]


def _flop_section(data: ReportData, slugs: list[str]) -> list[str]:
    out = ["## (d) FLOP accounting",
           "Model matmul FLOPs from the config (tdmpc_parity/analysis/flops.py: 2·in·out per Linear per sample; "
           "backward "
           "2× forward; all Q heads evaluated per ensemble call; LayerNorm, activations, MPPI bookkeeping, "
           "Adam and physics not counted). Divide achieved GFLOP/s by the machine's peak to read a figure as "
           "a fraction of peak.", "", "Reference: hopper-hop, 5M model, from the config profiles:", ""]
    ref = flops.profile_flops("hopper-hop", 5)
    out += [table(["profile", "collector", "UTD", "GFLOP per act", "GFLOP per update",
                   "GFLOP/env step: collect", "update", "total"],
                  [[name, v["collector"], f"{v['updates_per_agent_step']:g}", gflop(v["per_act"]),
                    gflop(v["per_update"]), gflop(v["collect_per_env_step"]), gflop(v["update_per_env_step"]),
                    gflop(v["total_per_env_step"])] for name, v in ref.items()]), ""]
    seen: dict[flops.FlopConfig, Record] = {}
    for r in data.records:
        if r.info["bench"] != "env_step":
            seen.setdefault(flops.flop_config(r.info), r)
    if seen:
        rows = []
        for fc, r in seen.items():
            pe = flops.flops_per_env_step(fc)
            per_step = ([gflop(pe["collect"]), gflop(pe["update"]), gflop(pe["total"])]
                        if r.info["bench"] == "train_iteration" else ["—", "—", "—"])
            rows.append([r.info["bench"], settings_label(r.info, physics=False), gflop(flops.plan_flops(fc)),
                         gflop(flops.policy_act_flops(fc)), gflop(flops.update_flops(fc)), *per_step])
        out += ["Recorded configurations (recomputed from each record's extra_info; per env step at the "
                "record's collector and UTD, for `train_iteration` records; the physics changes no model FLOP):", "",
                table(["bench", "settings", "GFLOP per MPPI act", "GFLOP per policy act", "GFLOP per update",
                       "GFLOP/env step: collect", "update", "total"], rows), ""]
    rows_g: dict[tuple[Any, ...], dict[str, Record]] = {}
    for r in data.records:
        if r.flops_per_call > 0:
            rows_g.setdefault(series_key(r), {})[r.machine] = r
    if rows_g:
        body = []
        for key, by_m in sorted(rows_g.items(), key=lambda kv: str(kv[0])):
            info = next(iter(by_m.values())).info
            body.append([key[0], info["bench"], settings_label(info)]
                        + [fmt(by_m[s].flops_per_call / by_m[s].stats["median"] / 1e9) if s in by_m else "—"
                           for s in slugs])
        out += ["Achieved model GFLOP/s at the median time per call:", "",
                table(["backend", "bench", "settings", *slugs], body), ""]
    return out


def _machine_rows(m: Machine) -> dict[str, str]:
    i = m.info
    gpus = i.get("gpus") or []
    v = i.get("versions") or {}
    return {
        "fixture": "YES: synthetic, not a measurement" if m.fixture else "no",
        "GPU": ", ".join(str(g.get("name")) for g in gpus) or "none",
        "GPU memory (MiB)": ", ".join(str(g.get("memory_mib")) for g in gpus) or "—",
        "driver / CUDA": f"{i.get('gpu_driver') or '—'} / {i.get('cuda_version') or '—'}",
        "CPU": str(i.get("cpu_model")),
        "cores (logical / physical)": f"{i.get('cpu_logical_cores')} / {i.get('cpu_physical_cores')}",
        "RAM (GiB)": str(i.get("ram_gib")),
        "OS / Python": f"{i.get('os')} / {i.get('python')}",
        "JAX backend": str(i.get("jax_backend")),
        "torch CUDA": str(i.get("torch_cuda_available")),
        **{f"{k}": str(val) for k, val in sorted(v.items())},
        "load average start / end": f"{i.get('load_average_start')} / {i.get('load_average_end')}",
        "files": ", ".join(p.name for p in m.files),
    }


def _machines_section(data: ReportData, slugs: list[str]) -> list[str]:
    cols = {s: _machine_rows(data.machines[s]) for s in slugs}
    names = list(dict.fromkeys(k for c in cols.values() for k in c))
    body = [[n, *[cols[s].get(n, "—") for s in slugs]] for n in names]
    return ["## (f) Machines", "", table(["", *[_machine_label(data.machines[s]) for s in slugs]], body), ""]


def _footnotes(data: ReportData, slugs: list[str]) -> list[str]:
    out = ["## (e) What differs between compared columns", ""]
    cols = {s: _machine_rows(data.machines[s]) for s in slugs}
    names = [n for n in dict.fromkeys(k for c in cols.values() for k in c)
             if n not in ("files", "load average start / end")
             and len({cols[s].get(n) for s in slugs}) > 1]
    out.append("- Machine columns (tables a, c, d) differ in: " + (
        "; ".join(f"**{n}**: " + ", ".join(f"{cols[s].get(n)} ({s})" for s in slugs) for n in names)
        if len(slugs) > 1 and names else "nothing recorded (one machine)") + ".")
    for p in data.pairs:
        keyed = MATCH_FIELDS[p.torch.info["bench"]]
        extra = _diff(p.torch.info, p.jax.info, (k for k in COMPARE_FIELDS if k not in keyed))
        t, j = p.torch.info, p.jax.info
        out.append(f"- Matched `{t['bench']}` on {p.machine} ({settings_label(t)}): torch vs jax differ only "
                   f"in: {'; '.join(extra) or 'nothing'}; compile seconds {fmt(t['compile_seconds'])} vs "
                   f"{fmt(j['compile_seconds'])} (untimed).")
    for i, p in enumerate(_sorted_seed_pairs(data), 1):
        d = _diff(p.torch.info, p.jax.info, COMPARE_FIELDS)
        out.append(f"- **s{i}** (table b): {p.machine}, `{p.torch.info['bench']}`: torch official vs jax "
                   f"fast differ in: {'; '.join(d) or 'nothing'}.")
    out.append("")
    return out


def render_markdown(data: ReportData, charts: dict[str, str] | None = None) -> str:
    """The whole REPORT.md text."""
    slugs = sorted(data.machines)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_files = sum(len(m.files) for m in data.machines.values())
    out = ["# TD-MPC2 benchmark report: PyTorch reference vs JAX/MJX", "",
           f"Generated {now} by `tdmpc-parity report` from {n_files} file(s), {len(data.records)} record(s), "
           f"{len(data.machines)} machine(s); benchmark version `{data.version}`.", ""]
    fixtures = [s for s in slugs if data.machines[s].fixture]
    if fixtures:
        out += [f"> **Warning: synthetic test fixtures, not measurements**: {', '.join(fixtures)} "
                "(machine_info.fixture = true).", ""]
    out += ["Rates are units per call / median seconds per call. Speedups are formed only within one machine "
            "and only between records with the same settings; see tdmpc_parity/analysis/report.py for the IQR "
            "method.", ""]
    out += _absolute_section(data, slugs)
    out += _seed_section(data)
    out += _matched_section(data, slugs)
    out += _paired_section(data)
    out += _physics_section(data)
    out += _flop_section(data, slugs)
    out += _footnotes(data, slugs)
    out += _machines_section(data, slugs)
    if charts:
        out += ["## Charts", ""] + [f"![{title}]({fname})" for title, fname in charts.items()] + [""]
    if data.superseded:
        out += ["## Superseded records (an identical series has a newer record on the same machine)", ""]
        out += [f"- {r.source} :: {r.name} ({r.datetime})" for r in data.superseded] + [""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------------
# Charts and writing
# ----------------------------------------------------------------------------------------------------------


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    with atomic_file(path, suffix=path.suffix or ".tmp") as tmp:
        write(tmp)


# One fixed colour per backend, in every chart; the speedup bars (a ratio, not a backend) are neutral.
BACKEND_COLORS = {"torch": "#E8590C", "jax": "#1C7ED6"}
SPEEDUP_COLOR = "#5C5F66"
LOG_SPAN = 30.0  # a rate chart whose values span more than this factor gets a log axis


@dataclass(frozen=True)
class Bar:
    """One bar per machine of a chart row: `series` picks the colour and legend entry, `gid` tags the bar
    and its value label (`<machine>|<gid>`), values maps machine slug -> (value, low, high)."""

    series: str
    gid: str
    values: dict[str, tuple[float, float, float]]


def _wrap(label: str, width: int = 46) -> str:
    """Break a ` · `-separated label into lines of at most about `width` characters."""
    lines: list[str] = []
    for part in label.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def _bar_chart(rows: list[tuple[str, list[Bar]]], slugs: list[str], titles: list[str], xlabel: str,
               title: str, value_text, log: bool = False, ref: float | None = None,
               colors: dict[str, str] | None = None, legend: dict[str, str] | None = None,
               missing_text: str = "no record"):
    """Grouped horizontal bars, one subplot column per machine (shared row labels), one group per row, one
    bar per Bar of the row; whiskers low..high; value_text(value) printed at the end of each bar; a linear
    axis from 0 unless `log`; a vertical reference line at `ref`. Returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter
    from matplotlib.transforms import blended_transform_factory

    colors = colors or BACKEND_COLORS
    n_bars = max(len(bars) for _, bars in rows)
    row_h = 0.22 * n_bars + 0.3  # inches per row: the figure grows with the rows
    height = 1.5 + max(1.2, row_h * len(rows))
    fig, axes = plt.subplots(1, len(slugs), sharey=True, sharex=True, squeeze=False, layout="constrained",
                             figsize=(3.2 + 4.2 * len(slugs), height))
    axes = list(axes[0])
    vals = [b.values[s] for _, bars in rows for b in bars for s in slugs if s in b.values]
    top = max(max(v[0], v[2]) for v in vals)
    bottom = min(min(v[0], v[1]) for v in vals)
    h = 0.8 / n_bars
    for ax, slug, sub in zip(axes, slugs, titles, strict=True):
        missing = blended_transform_factory(ax.transAxes, ax.transData)
        for i, (_, bars) in enumerate(rows):
            for k, b in enumerate(bars):
                y = i + (k - (len(bars) - 1) / 2) * h
                if slug not in b.values:
                    ax.text(0.01, y, missing_text, transform=missing, va="center", fontsize=7, color="0.5")
                    continue
                v, lo, hi = b.values[slug]
                (patch,) = ax.barh(y, v, h * 0.92, color=colors[b.series],
                                   xerr=[[max(v - lo, 0.0)], [max(hi - v, 0.0)]],
                                   error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"}).patches
                patch.set_gid(f"{slug}|{b.gid}")
                end = max(v, hi)
                x = end * 1.08 if log else end + 0.012 * top
                t = ax.text(x, y, value_text(v), va="center", ha="left", fontsize=7.5)
                t.set_gid(f"{slug}|{b.gid}")
        if ref is not None:
            ax.axvline(ref, color="k", lw=1.0, ls="--", zorder=3)
        ax.set_title(sub, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8.5)
        ax.tick_params(labelsize=7.5)
        ax.grid(axis="x", color="0.88", lw=0.6)
        ax.set_axisbelow(True)
    if log:
        axes[0].set_xscale("log")
        axes[0].set_xlim(bottom / 2, top * 6)  # room for the value labels
    else:
        axes[0].set_xlim(0, max(top, ref or 0.0) * 1.22)
    if not log:
        unit = "×" if ref is not None else ""
        axes[0].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}{unit}"))
    axes[0].set_yticks(range(len(rows)), [_wrap(label) for label, _ in rows], fontsize=7.5)
    axes[0].set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    handles = [Patch(color=colors[s], label=name) for s, name in (legend or {}).items()]
    if ref is not None:
        handles.append(plt.Line2D([], [], color="k", ls="--", lw=1.0, label=f"{ref:g}× (parity)"))
    fig.suptitle(title, fontsize=10)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    return fig


def _save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        _atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _suffix(data: ReportData) -> str:
    return " (SYNTHETIC FIXTURE DATA)" if any(m.fixture for m in data.machines.values()) else ""


def rate_figure(data: ReportData, bench: str):
    """The Figure of one bench's rates (None without records): one row per profile and settings, one bar per
    backend (colour) in each machine's column; labels are the median rates as the markdown table prints them
    (`fmt`); a log axis, said so in its label, only when the rates span more than LOG_SPAN."""
    recs = [r for r in data.records if r.info["bench"] == bench]
    if not recs:
        return None
    slugs = sorted(data.machines)
    groups: dict[tuple[Any, ...], dict[str, dict[str, Record]]] = {}
    for r in recs:
        groups.setdefault((r.info["profile"], match_key(r.info)), {}).setdefault(r.backend, {})[r.machine] = r
    backends = [b for b in BACKEND_COLORS if any(b in g for g in groups.values())]
    rows = []
    for (profile, _), by_b in sorted(groups.items(), key=lambda kv: str(kv[0])):
        info = next(iter(next(iter(by_b.values())).values())).info
        label = f"{profile}: {settings_label(info)}"
        rows.append((label, [Bar(b, f"{b}|{profile}|{settings_label(info)}",
                                 {s: (r.rate, *r.rate_range) for s, r in by_b[b].items()})
                             for b in backends if b in by_b]))
    rates = [r.rate for r in recs]
    log = max(rates) / min(rates) > LOG_SPAN
    unit = recs[0].unit
    return _bar_chart(rows, slugs, [_machine_label(data.machines[s]) for s in slugs],
                      f"{unit}, median (log scale)" if log else f"{unit}, median",
                      f"bench {bench}: median rate per backend, whiskers = IQR{_suffix(data)}", fmt, log=log,
                      legend={b: b for b in backends})


def speedup_figure(data: ReportData):
    """The Figure of the matched-settings speedups (None without pairs): one row per bench and settings, one
    column per machine, a linear axis from 0 with a reference line at 1×; labels as in table (c)."""
    if not data.pairs:
        return None
    slugs = sorted(data.machines)
    rows = []
    for key, by_m in pairs_by_settings(data):
        info = next(iter(by_m.values())).torch.info
        rows.append((f"{key[0][1]}: {settings_label(info)}",
                     [Bar("speedup", f"{key[0][1]}|{settings_label(info)}",
                          {s: (p.ratio, p.low, p.high) for s, p in by_m.items()})]))
    return _bar_chart(rows, slugs, [_machine_label(data.machines[s]) for s in slugs],
                      "speedup = JAX rate / torch rate (same machine, linear)",
                      f"matched-settings speedup, whiskers = IQR{_suffix(data)}", lambda v: f"{fmt(v)}×",
                      ref=1.0, colors={"speedup": SPEEDUP_COLOR},
                      legend={"speedup": "JAX rate / torch rate"}, missing_text="no matched pair")


def make_charts(data: ReportData, out_dir: Path) -> dict[str, str]:
    """PNG bar charts: rates per backend and machine for each bench kind; matched speedup per machine."""
    charts: dict[str, str] = {}
    for bench in BENCHES:
        fig = rate_figure(data, bench)
        if fig is None:
            continue
        fname = f"report_rates_{bench}.png"
        _save_figure(fig, out_dir / fname)
        charts[f"rates, bench {bench}"] = fname
    fig = speedup_figure(data)
    if fig is not None:
        _save_figure(fig, out_dir / "report_speedup.png")
        charts["matched-settings speedup"] = "report_speedup.png"
    return charts


def build_report(results_dir: Path, out_md: Path | None = None, charts: bool = True) -> Path:
    """Check every JSON under results_dir/<machine-slug>/, then write REPORT.md (+ PNGs beside it).

    Raises ValueError naming the offending file before writing anything; input files are never modified.
    """
    results_dir = Path(results_dir)
    out_md = Path(out_md) if out_md is not None else results_dir / "REPORT.md"
    data = collect(results_dir)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    chart_files = make_charts(data, out_md.parent) if charts else {}
    text = render_markdown(data, chart_files)
    _atomic_write(out_md, lambda p: p.write_text(text))
    return out_md


def main(argv: list[str] | None = None) -> int:
    """`tdmpc-parity report RESULTS_DIR [--out FILE] [--no-charts]`; 0 on success, 2 when refused."""
    parser = argparse.ArgumentParser(prog="tdmpc-parity report", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path, help="folder holding <machine-slug>/*.json")
    parser.add_argument("--out", type=Path, default=None, help="report path (default RESULTS_DIR/REPORT.md)")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG bar charts")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        path = build_report(args.results_dir, args.out, charts=not args.no_charts)
    except ValueError as exc:
        print(f"tdmpc-parity report: refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
