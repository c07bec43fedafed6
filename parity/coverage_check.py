"""Branch coverage of the numerical cores by the parity tests alone, and the check CI runs on it.

    python -m pytest -q --cov --cov-context=test --cov-report=    # the default suite, measured (-n N works too)
    python -m parity.coverage_check [--data-file .coverage] [--out results/coverage.md]

coverage.py measures `torch_ref` and `jax_impl` with branch coverage (pyproject.toml [tool.coverage.*]) and
pytest-cov labels every line with the test that ran it. This check keeps only what the parity tests
(`parity/...` contexts, plus the import-time context in which modules are defined) executed, restricted to
the numerical cores of both backends (`CORE_MODULES`), and fails unless every statement and every branch
there was reached: a parity test compares the two backends wherever the code can go. Code that no parity
test can compare is excluded in the source, each with its reason (the `exclude_also` patterns of
pyproject.toml): error raises on bad input, and blocks marked `# parity: not compared (<reason>)` — the
random wrappers that only draw noise with each framework's own RNG before calling a compared pure core,
and bookkeeping such as parameter counts. JAX code counts as reached when it was traced.

The summary (per module: statements, branches, misses) goes to `--out` (results/coverage.md is committed).
Exit code 1 when a core statement or branch is not reached, with the list of them.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("math", "layers", "world_model", "scale", "planner", "agent", "buffer", "glass", "structural_entropy",
        "env", "custom_tasks")
CORE_MODULES = tuple(f"{pkg}/{name}.py" for name in CORE for pkg in ("torch_ref", "jax_impl"))
PARITY_CONTEXTS = r"^(parity/|$)"  # parity test phases, and module import (definitions)


def coverage_table(data_file: Path) -> tuple[str, float]:
    """coverage.py's report (missing lines and branches) of the core modules under the parity contexts."""
    import coverage

    cov = coverage.Coverage(data_file=str(data_file), config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    buf = io.StringIO()
    total = cov.report(include=[str(ROOT / m) for m in CORE_MODULES], contexts=[PARITY_CONTEXTS],
                       show_missing=True, file=buf, ignore_errors=False)
    text = buf.getvalue().replace(str(ROOT) + "/", "")
    return text, float(total)


def missed_rows(table: str) -> list[str]:
    """The rows of the table whose module is not fully covered."""
    rows = []
    for line in table.splitlines():
        parts = line.split()
        if parts and parts[0] in CORE_MODULES and re.search(r"\d+%", line) and not line.rstrip().endswith("100%"):
            rows.append(line.strip())
    return rows


def render(table: str, total: float) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "# Branch coverage of the numerical cores by the parity suite",
        "",
        f"Generated {stamp} by `python -m parity.coverage_check` from the default test suite run as "
        "`python -m pytest -q --cov --cov-context=test --cov-report=` (`.ci/run` adds `-n auto`), keeping only the "
        "lines and branches that the parity tests (`parity/`) reached. JAX code counts when it was traced.",
        "Excluded in the source, each with its reason (pyproject.toml `exclude_also`): raises on bad input and "
        "`# parity: not compared (...)` blocks (random wrappers around compared pure cores, bookkeeping).",
        "CI fails when any statement or branch below is not reached.",
        "",
        f"**Total: {total:.1f} %** of statements and branches of {len(CORE_MODULES)} core modules.",
        "",
        "```",
        table.rstrip(),
        "```",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m parity.coverage_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-file", default=".coverage", help="coverage data file (default: %(default)s)")
    p.add_argument("--out", default=None, help="write the markdown summary here (e.g. results/coverage.md)")
    args = p.parse_args(argv)
    data_file = Path(args.data_file)
    if not data_file.exists():
        print(f"coverage check: no coverage data at {data_file}; run the suite with "
              "`python -m pytest -q --cov --cov-context=test --cov-report=` first", file=sys.stderr)
        return 2
    table, total = coverage_table(data_file)
    print(table)
    if args.out:
        from tdmpc_parity.core.fsutil import atomic_write_text

        atomic_write_text(args.out, render(table, total))
    missed = missed_rows(table)
    if missed or total < 100.0:
        print("coverage check: FAILED: core code the parity tests do not reach (module, stmts, miss, branch, "
              "partial, cover, missing):\n  " + "\n  ".join(missed or [f"total {total:.2f} %"]), file=sys.stderr)
        return 1
    print(f"coverage check: every statement and branch of the {len(CORE_MODULES)} core modules is reached by "
          "the parity tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
