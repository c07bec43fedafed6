"""The parity table: per component and dtype, the largest abs/rel difference seen between the backends.

The parity suite records every comparison (`ParityLog.record`); at the end of the session it writes
`parity.json` and `parity.md` (`write_report`). `tdmpc-parity parity` runs the suite with that option.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tdmpc_parity.core.fsutil import atomic_write_text

TOLERANCES = {"float64": (1e-10, 1e-10), "float32": (1e-5, 1e-5)}  # (rtol, atol) defaults


@dataclass
class Entry:
    component: str
    dtype: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    rtol: float = 0.0
    atol: float = 0.0
    leaves: int = 0
    worst_leaf: str = ""
    tests: set[str] = field(default_factory=set)

    def fold(self, leaves: int, worst_leaf: str, max_abs: float, max_rel: float, rtol: float, atol: float,
             tests: set[str] | list[str]) -> None:
        """Take in `leaves` more compared leaves: the larger differences and tolerances, the tests' names."""
        self.leaves += leaves
        self.rtol, self.atol = max(self.rtol, rtol), max(self.atol, atol)
        if max_abs >= self.max_abs:
            self.max_abs, self.worst_leaf = max_abs, worst_leaf
        self.max_rel = max(self.max_rel, max_rel)
        self.tests.update(tests)


class ParityLog:
    """Accumulates comparisons: component (e.g. 'update/10 steps') x dtype -> worst differences."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self.failures: list[str] = []

    def _entry(self, component: str, dtype: str) -> Entry:
        return self.entries.setdefault((component, dtype), Entry(component, dtype))

    def record(self, component: str, dtype: str, leaf: str, max_abs: float, max_rel: float, rtol: float,
               atol: float, test: str = "") -> None:
        self._entry(component, dtype).fold(1, leaf, max_abs, max_rel, rtol, atol, {test} if test else set())

    def merge(self, data: dict) -> None:
        """Fold in another log's `to_json()` (a pytest-xdist worker's): the worst differences of both."""
        for r in data["rows"]:
            self._entry(r["component"], r["dtype"]).fold(r["leaves"], r["worst_leaf"], r["max_abs"], r["max_rel"],
                                                         r["rtol"], r["atol"], r["tests"])
        self.failures.extend(data["failures"])

    def to_json(self) -> dict:
        rows = [
            {"component": e.component, "dtype": e.dtype, "max_abs": e.max_abs, "max_rel": e.max_rel,
             "rtol": e.rtol, "atol": e.atol, "leaves": e.leaves, "worst_leaf": e.worst_leaf,
             "tests": sorted(e.tests)}
            for e in sorted(self.entries.values(), key=lambda e: (e.component, e.dtype))
        ]
        return {"generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows, "failures": self.failures}


def render_markdown(data: dict, extra: dict | None = None) -> str:
    lines = [
        "# Parity: torch_ref vs jax_impl",
        "",
        f"Generated {data['generated']} by `pytest parity/ --parity-report DIR` (`tdmpc-parity parity`).",
        "Each row is the largest difference over every compared output leaf of that component "
        "(same weights, same inputs, same injected noise; TF32 off). rel = |a - b| / max(|b|, atol).",
        "",
        "| component | dtype | max abs diff | max rel diff | tolerance (rtol, atol) | leaves | worst leaf |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['component']} | {r['dtype']} | {r['max_abs']:.3g} | {r['max_rel']:.3g} | "
            f"({r['rtol']:.0e}, {r['atol']:.0e}) | {r['leaves']} | `{r['worst_leaf']}` |"
        )
    if data.get("failures"):
        lines += ["", "## Failures", ""] + [f"- {f}" for f in data["failures"]]
    for title, body in (extra or {}).items():
        lines += ["", f"## {title}", "", body]
    return "\n".join(lines) + "\n"


def write_report(log: ParityLog, out_dir: str | Path, extra: dict | None = None) -> tuple[Path, Path]:
    """Write parity.json and parity.md into out_dir (atomically)."""
    out = Path(out_dir)
    data = log.to_json()
    if extra:
        data["notes"] = extra
    atomic_write_text(out / "parity.json", json.dumps(data, indent=2))
    atomic_write_text(out / "parity.md", render_markdown(data, extra))
    return out / "parity.json", out / "parity.md"
