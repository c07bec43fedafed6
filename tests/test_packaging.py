"""Dependencies: ranges in pyproject.toml, the tested versions pinned once in .ci/constraints.txt."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RANGED = ("numpy", "scipy", "tqdm", "matplotlib")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_general_libraries_take_ranges_and_ci_pins_the_tested_versions() -> None:
    deps = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower(): d for d in _project()["dependencies"]}
    pins = _constraints()
    for name in RANGED:
        assert "==" not in deps[name], f"{name} should be a range in pyproject.toml: {deps[name]}"
        assert name in pins, f"{name} has no tested version in .ci/constraints.txt"
    for path in (ROOT / ".ci" / "run", ROOT / "README.md"):
        assert "-c .ci/constraints.txt" in path.read_text(), f"{path.name} does not install with the constraints"


def test_orbax_is_bounded_and_ruff_is_a_dev_tool() -> None:
    extras = _project()["optional-dependencies"]
    orbax = next(d for d in extras["jax"] if d.startswith("orbax-checkpoint"))
    assert "<" in orbax, "jax_impl/checkpoint.py relies on one orbax API: bound it"
    assert not any(d.startswith("ruff") for d in extras["test"])
    assert any(d.startswith("ruff") for d in extras["dev"]) and "dev" in extras["all"][0]


def test_every_imported_scipy_module_is_a_declared_dependency() -> None:
    pattern = re.compile(r"^\s*(from|import) scipy", re.M)
    uses_scipy = [p for p in (ROOT / "harness").glob("*.py") if pattern.search(p.read_text())]
    deps = " ".join(_project()["dependencies"])
    assert uses_scipy and "scipy" in deps  # scipy is used (harness/stats.py) and declared
