"""Dependencies: ranges in pyproject.toml, the tested versions pinned once in .ci/constraints.txt, the GPU-image
constraints, and the repository's metadata (LICENSE, CITATION.cff, the docs navigation, no pointer outside it)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
RANGED = ("numpy", "scipy", "tqdm", "matplotlib")


def _norm(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _constraints(name: str = "constraints.txt") -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
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
    uses_scipy = [p for p in (ROOT / "tdmpc_parity").rglob("*.py") if pattern.search(p.read_text())]
    deps = " ".join(_project()["dependencies"])
    assert uses_scipy and "scipy" in deps  # scipy is used (tdmpc_parity/core/stats.py) and declared


def test_readme_test_command_is_what_ci_runs_on_every_core() -> None:
    """The suite runs on pytest-xdist workers, one test file per worker (module fixtures compile once)."""
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"\.venv/bin/python -m pytest [^&\n]*", ci).group(0).strip()
    assert command in (ROOT / "README.md").read_text()
    assert "-n auto" in command and "--dist loadfile" in command
    test_extra = " ".join(_project()["optional-dependencies"]["test"])
    assert "pytest-xdist" in test_extra and "pytest-xdist" in _constraints() and "execnet" in _constraints()


def test_a_child_pytest_does_not_take_itself_for_an_xdist_worker(monkeypatch) -> None:
    """`check`, `bench`, the device run and mutants start pytest from inside a test run: pytest-benchmark
    disables timing in any process that sees PYTEST_XDIST_WORKER, so the child must not inherit it."""
    from tdmpc_parity.app.pytest_env import XDIST_WORKER_VARIABLES, child_pytest_env

    for name in XDIST_WORKER_VARIABLES:
        monkeypatch.setenv(name, "gw1")
    monkeypatch.setenv("TDMPC_PARITY_JAX_CACHE", "/tmp/cache")
    env = child_pytest_env()
    assert not set(XDIST_WORKER_VARIABLES) & set(env)
    assert env["TDMPC_PARITY_JAX_CACHE"] == "/tmp/cache"
    assert child_pytest_env({"PYTEST_XDIST_WORKER": "gw0", "A": "1"}) == {"A": "1"}


def _requirements() -> dict[str, Requirement]:
    """Every requirement of pyproject.toml (dependencies and extras, `all` excluded) by normalised name; a name
    in several extras must carry the same specifier in each."""
    project = _project()
    reqs: dict[str, Requirement] = {}
    lists = [project["dependencies"]] + [v for k, v in project["optional-dependencies"].items() if k != "all"]
    for line in (r for group in lists for r in group):
        req = Requirement(line)
        name = _norm(req.name)
        assert name not in reqs or reqs[name].specifier == req.specifier, f"{name}: two different ranges"
        reqs[name] = req
    return reqs


# `==` in pyproject.toml only where the code imports a private module of that release: package -> module prefix.
PRIVATE_API_PINS = {"mujoco-mjx": "mujoco.mjx._src", "playground": "mujoco_playground._src", "mujoco": None}


def test_exact_pins_only_where_the_code_imports_a_private_module() -> None:
    pinned = {name for name, req in _requirements().items() if any(s.operator == "==" for s in req.specifier)}
    assert pinned == set(PRIVATE_API_PINS), f"exact pins without a private-API reason: {pinned - set(PRIVATE_API_PINS)}"
    code = "\n".join(p.read_text() for p in (ROOT / "jax_impl").glob("*.py"))
    for package, module in PRIVATE_API_PINS.items():
        if module:  # mujoco is pinned because mujoco-mjx requires its own version of it
            assert re.search(rf"^\s*(from|import) {re.escape(module)}", code, re.M), f"{package}: {module} unused"
    assert _requirements()["mujoco"].specifier == _requirements()["mujoco-mjx"].specifier


def test_ci_constraints_pin_every_requirement_inside_its_range() -> None:
    pins = _constraints()
    for name, req in _requirements().items():
        if name == "torch":  # given on .ci/run's command line (a local CPU build)
            assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text() and req.specifier.contains("2.13.0")
            continue
        assert name in pins, f"{name} has no tested version in .ci/constraints.txt"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside pyproject's {req.specifier}"


def test_gpu_image_constraints_leave_the_images_own_packages_alone() -> None:
    image_own = {"jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "torch", "numpy", "scipy"}
    gpu, ci, reqs = _constraints("constraints-gpu-image.txt"), _constraints(), _requirements()
    assert not image_own & set(gpu), f"the GPU-image constraints pin the image's {image_own & set(gpu)}"
    assert all(ci[name] == version for name, version in gpu.items()), "GPU-image pins differ from the tested ones"
    assert {"mujoco", "mujoco-mjx", "playground", "dm-control", "gymnasium"} <= set(gpu)
    for version in ("0.10.2", "0.11.2"):  # CI's JAX and a GPU image's
        assert reqs["jax"].specifier.contains(version) and reqs["jaxlib"].specifier.contains(version)
    assert not reqs["jax"].specifier.contains("0.12.0")


def test_docs_navigation_names_existing_pages_and_the_extra_installs_mkdocs() -> None:
    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)
        elif isinstance(node, list):
            for value in node:
                yield from pages(value)

    nav = list(pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))
    assert "glass.md" in nav and "reference/config-keys.md" in nav
    missing = [p for p in nav if not (ROOT / "docs" / p).is_file()]
    assert not missing, f"mkdocs.yml names pages that do not exist: {missing}"
    docs_extra = {_norm(Requirement(r).name) for r in _project()["optional-dependencies"]["docs"]}
    assert {"mkdocs", "mkdocs-material"} <= docs_extra
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text()


POINTER = re.compile(r"shared[/]notes|\.\./shared[/]|\bissue[ ]\d+")  # written so that it does not match itself
SKIP_DIRS = {"site", "build", "dist", "fixtures", "node_modules", "check-results", "runs"}  # and every .folder
SUFFIXES = (".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".cff")


def test_no_file_points_outside_the_repository() -> None:
    """Code and docs say what a user needs in the project's own words: no notes outside it, no issue numbers."""
    found = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in (n for n in names if n.endswith(SUFFIXES)):
            path = Path(folder) / name
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if POINTER.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not found, "pointers outside the repository:\n" + "\n".join(found)


def test_license_names_every_shipped_third_party_licence_and_citation_cites_td_mpc2() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and _project()["license"]["text"] == "MIT"
    third_party = sorted(ROOT.glob("tdmpc_parity/data/*/LICENSE.*")) + sorted(ROOT.glob("tests/fixtures/*/LICENSE.*"))
    assert third_party
    for path in third_party:
        assert str(path.parent.relative_to(ROOT)) + "/" in license_text, f"LICENSE does not name {path.parent}"
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["version"] == _project()["version"]
    paper = citation["references"][0]
    assert paper["title"] == "TD-MPC2: Scalable, Robust World Models for Continuous Control"
    assert [a["family-names"] for a in paper["authors"]] == ["Hansen", "Su", "Wang"] and paper["year"] == 2024


def test_readme_is_short_and_keeps_the_main_job_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    main_job = (".venv/bin/pip install torch==2.13.0 -c .ci/constraints.txt -e '.[all]' && "
                ".venv/bin/tdmpc-parity check")
    assert main_job in readme
    for target in re.findall(r"\]\(([^)#\s]+)", readme):  # every relative link of the README resolves
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to a missing {target}"
