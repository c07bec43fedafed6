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


def test_readme_test_command_is_what_ci_runs_on_every_core() -> None:
    """The suite runs on pytest-xdist workers, one test file per worker (module fixtures compile once)."""
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"\.venv/bin/python -m pytest [^&\n]*", ci).group(0).strip()
    assert command in (ROOT / "README.md").read_text()
    assert "-n auto" in command and "--dist loadfile" in command
    test_extra = " ".join(_project()["optional-dependencies"]["test"])
    assert "pytest-xdist==" in test_extra and "execnet" in _constraints()


def test_a_child_pytest_does_not_take_itself_for_an_xdist_worker(monkeypatch) -> None:
    """`check`, `bench`, the device run and mutants start pytest from inside a test run: pytest-benchmark
    disables timing in any process that sees PYTEST_XDIST_WORKER, so the child must not inherit it."""
    from harness.pytest_env import XDIST_WORKER_VARIABLES, child_pytest_env

    for name in XDIST_WORKER_VARIABLES:
        monkeypatch.setenv(name, "gw1")
    monkeypatch.setenv("TDMPC_PARITY_JAX_CACHE", "/tmp/cache")
    env = child_pytest_env()
    assert not set(XDIST_WORKER_VARIABLES) & set(env)
    assert env["TDMPC_PARITY_JAX_CACHE"] == "/tmp/cache"
    assert child_pytest_env({"PYTEST_XDIST_WORKER": "gw0", "A": "1"}) == {"A": "1"}
