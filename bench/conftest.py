"""pytest-benchmark set-up for the sps benchmarks: profile option, machine block, result file naming.

Options:
* `--bench-profile {cpu,gpu}` (default cpu): the benchmark size (`harness.benchmeta.BENCH_MODELS` for the
  model, `bench.harness_utils.SIZES` for task, n_envs and calls): a tiny model on cartpole-swingup that
  finishes in minutes on 2 CPU cores, or the official 5M model on hopper-hop with 256 envs. The gpu profile
  refuses to start when neither torch nor JAX sees a GPU, and skips the cases of a backend without one.
* `--bench-task NAME`: run every case on another task (default: the profile's; with `--benchmark-disable`,
  the CI smoke mode, `bench.harness_utils.SMOKE_TASK`, whose MJX physics compiles fastest).
* `--bench-results DIR`: write the JSON to DIR/<machine-slug>/<date>T<time>-<commit>.json (sets
  `--benchmark-json`). Either way an existing JSON file is never overwritten, and the folder is created.
  Asking for a JSON file (`--bench-results` or `--benchmark-json`) turns timing on (`--benchmark-enable`):
  the project's addopts carry `--benchmark-disable`, under which pytest-benchmark would silently write none.

Modes: `pytest bench/` alone is the CI smoke mode (addopts `--benchmark-disable`: every case's body runs
once, untimed, on `SMOKE_TASK`); `--benchmark-enable` or a JSON option times every case.

Hooks: `pytest_benchmark_update_machine_info` merges `harness.machine.machine_info()` (GPU, CPU, versions,
JAX backend, machine_slug) plus the host load average at session start and end, the bench profile and the
benchmark version. An autouse fixture checks every benchmark's extra_info against `harness.benchmeta`, so
a record the report would refuse fails its test instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.harness_utils import BenchSizes, benchmarks_disabled, has_gpu, sizes_from_config
from harness.benchmeta import BenchProfile, bench_version, get_bench_profile, validate_extra_info
from harness.machine import load_average, machine_info, machine_slug
from harness.tasks import TASKS

_LOAD_START = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tdmpc-parity benchmarks")
    group.addoption("--bench-profile", choices=("cpu", "gpu"), default="cpu",
                    help="benchmark size: cpu (tiny model, minutes on 2 cores) or gpu (official 5M model)")
    group.addoption("--bench-task", metavar="NAME", default=None,
                    help="task of every case (default: cartpole-swingup for cpu, hopper-hop for gpu)")
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
    task = config.getoption("bench_task", default=None)
    if task is not None and task not in TASKS:
        raise pytest.UsageError(f"--bench-task {task!r} is not a task; tasks: {', '.join(sorted(TASKS))}")
    if config.getoption("bench_profile", default="cpu") == "gpu" and not any(map(has_gpu, ("torch", "jax"))):
        raise pytest.UsageError(
            "--bench-profile gpu runs the official 5M model with 256 envs and needs a GPU, but neither torch "
            "(torch.cuda.is_available()) nor JAX (jax.default_backend()) sees one; on this machine run "
            "--bench-profile cpu"
        )
    results = config.getoption("bench_results", default=None)
    current = config.getoption("benchmark_json", default=None)
    if results or current:
        config.option.benchmark_enable = True  # a results file holds timings (addopts carry --benchmark-disable)
    if results:
        if current:
            raise pytest.UsageError("give either --bench-results or --benchmark-json, not both")
        slug = machine_slug(machine_info(probe_frameworks=False))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
        config.option.benchmark_json = Path(results) / slug / f"{stamp}-{_commit(config.rootpath)}.json"
    load = config.stash[_LOAD_START]
    if not benchmarks_disabled(config) and load and load[0] > 0.5 * (os.cpu_count() or 1):
        config.issue_config_time_warning(pytest.PytestWarning(
            f"host load average {load[0]:.2f} on {os.cpu_count()} cores at the start of a timed benchmark run: "
            "other processes share the CPU and the timings (torch's intra-op threads above all) will be "
            "unreliable; the load is recorded in machine_info"), stacklevel=2)
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
    machine_info["bench_task"] = sizes_from_config(config).task
    machine_info["bench_version"] = bench_version()
    torch = sys.modules.get("torch")  # imported by the torch cases: its intra-op threads shape CPU timings
    machine_info["torch_num_threads"] = torch.get_num_threads() if torch is not None else None
    machine_info["xla_flags"] = os.environ.get("XLA_FLAGS")


@pytest.fixture(scope="session")
def bench_profile(request: pytest.FixtureRequest) -> BenchProfile:
    """The `--bench-profile` settings: model label and config values, rounds and warm-up rounds."""
    return get_bench_profile(request.config.getoption("bench_profile"))


@pytest.fixture(scope="session")
def sizes(request: pytest.FixtureRequest) -> BenchSizes:
    """Task, n_envs and calls of the selected bench profile (`bench.harness_utils.SIZES`)."""
    return sizes_from_config(request.config)


@pytest.fixture(autouse=True)
def _smoke_torch_threads(request: pytest.FixtureRequest):
    """Smoke mode only (nothing is timed): one torch thread per case. On a loaded 2-core machine torch's
    2-thread intra-op pool spins against other processes and runs 10x slower; timed runs keep the default."""
    if not benchmarks_disabled(request.config) or importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _check_extra_info(request: pytest.FixtureRequest):
    """Fail a benchmark whose extra_info the report would refuse (checked after the test body)."""
    bm = request.getfixturevalue("benchmark") if "benchmark" in request.fixturenames else None
    yield
    if bm is not None and (bm.extra_info or getattr(bm, "stats", None) is not None):
        validate_extra_info(bm.extra_info, request.node.nodeid, expected_version=bench_version())
