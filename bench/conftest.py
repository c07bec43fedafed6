"""pytest-benchmark set-up for the sps benchmarks: profile option, machine block, result file naming.

Options:
* `--bench-profile {cpu,gpu}` (default cpu): the benchmark size (`harness.benchmeta.BENCH_MODELS`): a tiny
  model that finishes in minutes on 2 CPU cores, or the official 5M model.
* `--bench-results DIR`: write the JSON to DIR/<machine-slug>/<date>T<time>-<commit>.json (sets
  `--benchmark-json`). Either way an existing JSON file is never overwritten, and the folder is created.

Hooks: `pytest_benchmark_update_machine_info` merges `harness.machine.machine_info()` (GPU, CPU, versions,
JAX backend, machine_slug) plus the host load average at session start and end, the bench profile and the
benchmark version. An autouse fixture checks every benchmark's extra_info against `harness.benchmeta`, so
a record the report would refuse fails its test instead.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.benchmeta import BenchProfile, bench_version, get_bench_profile, validate_extra_info
from harness.machine import load_average, machine_info, machine_slug

_LOAD_START = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tdmpc-parity benchmarks")
    group.addoption("--bench-profile", choices=("cpu", "gpu"), default="cpu",
                    help="benchmark size: cpu (tiny model, minutes on 2 cores) or gpu (official 5M model)")
    group.addoption("--bench-results", metavar="DIR", default=None,
                    help="write the benchmark JSON to DIR/<machine-slug>/<date>-<commit>.json")


def _commit(root: Path) -> str:
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "--short=10", "HEAD")
    if commit is None:
        return "nogit"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's (trylast) configure reads --benchmark-json
def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LOAD_START] = load_average()
    results = config.getoption("bench_results", default=None)
    current = config.getoption("benchmark_json", default=None)
    if results:
        if current:
            raise pytest.UsageError("give either --bench-results or --benchmark-json, not both")
        slug = machine_slug(machine_info(probe_frameworks=False))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
        config.option.benchmark_json = Path(results) / slug / f"{stamp}-{_commit(config.rootpath)}.json"
    path = config.getoption("benchmark_json", default=None)
    if path:
        path = Path(path)
        if path.exists():
            raise pytest.UsageError(f"{path} exists; benchmark results are never overwritten")
        path.parent.mkdir(parents=True, exist_ok=True)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add what pytest-benchmark lacks: GPU, driver/CUDA, CPU model/cores, versions, JAX backend, load."""
    from harness.machine import machine_info as harness_machine_info

    machine_info.update(harness_machine_info())
    machine_info["load_average_start"] = config.stash.get(_LOAD_START, None)
    machine_info["load_average_end"] = load_average()
    machine_info["bench_profile"] = config.getoption("bench_profile", default=None)
    machine_info["bench_version"] = bench_version()


@pytest.fixture(scope="session")
def bench_profile(request: pytest.FixtureRequest) -> BenchProfile:
    """The `--bench-profile` settings: model label and config values, rounds and warm-up rounds."""
    return get_bench_profile(request.config.getoption("bench_profile"))


@pytest.fixture(autouse=True)
def _check_extra_info(request: pytest.FixtureRequest):
    """Fail a benchmark whose extra_info the report would refuse (checked after the test body)."""
    bm = request.getfixturevalue("benchmark") if "benchmark" in request.fixturenames else None
    yield
    if bm is not None and (bm.extra_info or getattr(bm, "stats", None) is not None):
        validate_extra_info(bm.extra_info, request.node.nodeid, expected_version=bench_version())
