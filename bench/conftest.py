"""pytest-benchmark set-up for the sps benchmarks: profile option, machine block, result file naming.

Options:
* `--bench-profile {cpu,gpu}` (default cpu): the benchmark size (`tdmpc_parity.analysis.benchmeta.BENCH_MODELS` for the
  model, `bench.protocol.SIZES` for task, n_envs and calls): a tiny model on cartpole-swingup that
  finishes in minutes on 2 CPU cores, or the official 5M model on hopper-hop with 256 envs. The gpu profile
  refuses to start when neither torch nor JAX sees a GPU, and skips the cases of a backend without one.
* `--bench-task NAME`: run every case on another task (default: the profile's; with `--benchmark-disable`,
  the CI smoke mode, `bench.protocol.SMOKE_TASK`, whose MJX physics compiles fastest).
* `--bench-results DIR`: write the JSON to DIR/<machine-slug>/<date>T<time>-<commit>.json (sets
  `--benchmark-json`). Either way an existing JSON file is never overwritten, and the folder is created.
  Asking for a JSON file (`--bench-results` or `--benchmark-json`) turns timing on (`--benchmark-enable`):
  the project's addopts carry `--benchmark-disable`, under which pytest-benchmark would silently write none.

* `--bench-backends jax` (default `torch,jax`): the cases of a backend not listed (and the paired cases, which
  need both) are skipped with that reason. The JAX-only CPU rehearsal of the GPU run uses it (its Python has no
  torch); without it a backend that is not installed skips its cases with the import error.

* `--bench-budget SECONDS` (`--bench-case-seconds S`): a time budget for the whole session, compiles
  included (bench/budget.py): cases run in priority order, rounds are cut to fit, cases that do not fit are
  skipped with the reason; the JSON is rewritten after every case and lists every skipped or failed case
  with its reason (`skipped_cases`, `failed_cases`). Used by the one-shot GPU run (bench/device/run.sh).

JAX on a GPU: unless the user set them, `XLA_PYTHON_CLIENT_PREALLOCATE=false` is set before JAX starts, so
JAX does not take 75 % of the card and torch cases get their memory; the setting is recorded in
machine_info and in every JAX record.

Modes: `pytest bench/` alone is the CI smoke mode (addopts `--benchmark-disable`: every case's body runs
once, untimed, on `SMOKE_TASK`); `--benchmark-enable` or a JSON option times every case.

Set-up seconds: every timed record's extra_info has `setup_seconds` beside `compile_seconds`: the seconds from the
start of the case's pytest set-up (fixtures) to the start of its first, untimed call (building envs, agents,
jitted functions' Python objects, seeding the buffer). It is read off the moment `bench.protocol.time_call`
stores `compile_seconds` (that moment less the compile seconds is when the first call began); for a paired case
it ends where the first backend's first call began (its compile seconds, `paired.first_compile_seconds`, are
taken off when the case ends; a paired case the budget skipped keeps them in).

Deprecations: with `TDMPC_DEPRECATIONS_AS_ERRORS=jax,flax,...` in the environment (the GPU run's rehearsal), every
DeprecationWarning that code of those packages issues is an error in the benchmark cases
(`bench.device.dryrun.retag_deprecations`; the filter is appended to the ini's `filterwarnings`, after the
project's `ignore::DeprecationWarning`, so it wins).

Hooks: `pytest_benchmark_update_machine_info` merges `tdmpc_parity.core.machine.machine_info()` (GPU, CPU, versions,
JAX backend, machine_slug) plus the host load average at session start and end, the bench profile and the
benchmark version. An autouse fixture checks every benchmark's extra_info against `tdmpc_parity.analysis.benchmeta`, so
a record the report would refuse fails its test instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.budget import Budget, BudgetSkip, case_priority
from bench.device.dryrun import UPSTREAM_ERROR_FILTER, packages_from_env, retag_deprecations
from bench.json_target import BenchmarkJsonTarget, json_path
from bench.protocol import (
    MEASURED_SKIPS,
    XLA_ENV,
    BenchSizes,
    benchmarks_disabled,
    has_gpu,
    set_active_budget,
    sizes_from_config,
)
from tdmpc_parity.analysis.benchmeta import (
    MATMUL_PRECISIONS,
    BenchProfile,
    bench_version,
    get_bench_profile,
    validate_extra_info,
)
from tdmpc_parity.core.fsutil import atomic_file
from tdmpc_parity.core.machine import load_average, machine_info, machine_slug
from tdmpc_parity.core.tasks import TASKS

_LOAD_START = pytest.StashKey[list]()
_BUDGET = pytest.StashKey[Budget]()
_OUTCOMES = pytest.StashKey[dict]()  # "skipped_cases" / "failed_cases": [{"case", "reason"}]
_PLAN = pytest.StashKey[dict]()  # case name -> expected seconds (--bench-plan)
_MACHINE = pytest.StashKey[dict]()  # the machine block, collected once per session (nvidia-smi, versions: seconds)
_CASE_START = pytest.StashKey[float]()  # time.perf_counter() at the start of a case's set-up phase
BACKENDS = ("torch", "jax")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tdmpc-parity benchmarks")
    group.addoption("--bench-profile", choices=("cpu", "gpu"), default="cpu",
                    help="benchmark size: cpu (tiny model, minutes on 2 cores) or gpu (official 5M model)")
    group.addoption("--bench-precision", choices=MATMUL_PRECISIONS, default="highest",
                    help="the agents' matmul_precision (recorded per record; the report pairs only equal modes)")
    group.addoption("--bench-devices", metavar="N", type=int, default=1,
                    help="train_iteration: also time the JAX fast cases with one agent's envs sharded over N devices "
                         "(jax_impl/sharding.py; on a CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N) "
                         "(default: 1, none)")
    group.addoption("--bench-backends", metavar="LIST", default="torch,jax",
                    help="comma-separated backends whose cases run; the others' cases (and the paired ones, which "
                         "need both) are skipped with that reason (default: %(default)s)")
    group.addoption("--bench-task", metavar="NAME", default=None,
                    help="task of every case (default: cartpole-swingup for cpu, hopper-hop for gpu)")
    group.addoption("--bench-results", metavar="DIR", default=None,
                    help="write the benchmark JSON to DIR/<machine-slug>/<date>-<commit>.json")
    group.addoption("--bench-budget", metavar="SECONDS", type=float, default=None,
                    help="time budget of the whole session (priority order, rounds cut to fit, skips recorded)")
    group.addoption("--bench-progress", metavar="FILE", default=None,
                    help="append 'start<TAB>nodeid' / 'end<TAB>nodeid' per case (bench/device/run.py finds a "
                         "case that crashed the process)")
    group.addoption("--bench-plan", metavar="FILE", default=None,
                    help="with --bench-budget: a plan (bench/device/plan.py) giving cases their expected seconds; "
                         "a case starts only if they fit in the time left")
    group.addoption("--bench-case-seconds", metavar="SECONDS", type=float, default=None,
                    help="with --bench-budget: timed seconds per case at most (default 20)")


def _commit(root: Path) -> str:
    """Short commit of the tree, `-dirty` when tracked files outside results/ differ from it (writing
    results/ — parity.md, REPORT.md, the JSON itself — is what a run does, not a code change).
    `TDMPC_COMMIT` names it where the tree has no git history (the GPU machine gets a copy without .git)."""
    if os.environ.get("TDMPC_COMMIT"):
        return os.environ["TDMPC_COMMIT"]

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "--short=10", "HEAD")
    if commit is None:
        return "nogit"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results")
                     else "")


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's (trylast) configure reads --benchmark-json
def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before JAX starts (has_gpu imports it)
    # compile_seconds must be compiles, not loads from the persistent cache of jax_impl/runtime.py
    os.environ.setdefault("TDMPC_PARITY_JAX_CACHE", "off")
    config.stash[_LOAD_START] = load_average()
    config.stash[_OUTCOMES] = {"skipped_cases": [], "failed_cases": []}
    budget = config.getoption("bench_budget", default=None)
    if budget is not None:
        case_seconds = config.getoption("bench_case_seconds", default=None)
        try:
            config.stash[_BUDGET] = Budget(budget, **({"case_seconds": case_seconds} if case_seconds else {}))
        except ValueError as exc:
            raise pytest.UsageError(f"--bench-budget: {exc}") from None
        set_active_budget(config.stash[_BUDGET])
        plan = config.getoption("bench_plan", default=None)
        if plan:
            from bench.device.plan import read_plan

            try:
                config.stash[_PLAN] = read_plan(Path(plan))
            except ValueError as exc:
                raise pytest.UsageError(f"--bench-plan: {exc}") from None
    config.pluginmanager.register(_CaseOutcomes(config), "tdmpc-bench-outcomes")
    bench_backends(config)  # a bad --bench-backends fails here, with the backends that exist
    packages = packages_from_env()
    if packages:  # the rehearsal's deprecation check: after the ini's ignore::DeprecationWarning, so it wins
        retag_deprecations(packages)
        config.addinivalue_line("filterwarnings", UPSTREAM_ERROR_FILTER)
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
        # a path for pytest-benchmark >= 5.3, an open-able context manager for older versions (json_target.py)
        config.option.benchmark_json = BenchmarkJsonTarget(
            Path(results) / slug / f"{stamp}-{_commit(config.rootpath)}.json")
    load = config.stash[_LOAD_START]
    if not benchmarks_disabled(config) and load and load[0] > 0.5 * (os.cpu_count() or 1):
        config.issue_config_time_warning(pytest.PytestWarning(
            f"host load average {load[0]:.2f} on {os.cpu_count()} cores at the start of a timed benchmark run: "
            "other processes share the CPU and the timings (torch's intra-op threads above all) will be "
            "unreliable; the load is recorded in machine_info"), stacklevel=2)
    value = config.getoption("benchmark_json", default=None)
    path = json_path(value)
    if path is not None and hasattr(value, "write"):  # pytest-benchmark <= 5.2 opened (and emptied) it already
        value.close()
        config.option.benchmark_json = BenchmarkJsonTarget(path)
    elif path is not None:
        if path.exists():
            raise pytest.UsageError(f"{path} exists; benchmark results are never overwritten")
        path.parent.mkdir(parents=True, exist_ok=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    set_active_budget(None)


def bench_backends(config: pytest.Config) -> tuple[str, ...]:
    """The backends of `--bench-backends` (UsageError naming a value that is not one)."""
    value = config.getoption("bench_backends", default=",".join(BACKENDS))
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        raise pytest.UsageError(f"--bench-backends {value!r}: give one or more of {', '.join(BACKENDS)}, "
                                "comma-separated")
    return names


def case_backends(item: pytest.Item) -> frozenset[str]:
    """The backends a benchmark case runs: the paired cases both, the others the first part of their id
    (`torch-E1`, `jax-official-E1-mppi`, ...); none for an item that is no backend's case."""
    if getattr(item, "originalname", item.name) == "test_bench_paired":
        return frozenset(BACKENDS)
    spec = getattr(item, "callspec", None)
    head = spec.id.split("-")[0] if spec else ""
    return frozenset({head}) if head in BACKENDS else frozenset()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the cases of backends `--bench-backends` leaves out; under --bench-budget run the cases in priority
    order (bench/budget.py), stable within a rank."""
    chosen = bench_backends(config)
    for item in items:
        left_out = sorted(case_backends(item) - set(chosen))
        if left_out:
            item.add_marker(pytest.mark.skip(reason=f"backend {', '.join(left_out)} left out "
                                                    f"(--bench-backends {','.join(chosen)})"))
    if _BUDGET not in config.stash:
        return

    def rank(item: pytest.Item) -> int:
        spec = getattr(item, "callspec", None)
        return case_priority(getattr(item, "originalname", item.name), spec.id if spec else "")

    items.sort(key=rank)


def _failure_reason(report: pytest.TestReport) -> str:
    """The exception of a failed case, `Type: message` (at most 500 characters); the report's last line when it
    has no crash entry."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = (crash.message if crash is not None else report.longreprtext).strip()
    return (text.splitlines()[-1] if crash is None and text else " ".join(text.split()))[:500] or "failed"


class _CaseOutcomes:
    """Plugin: keeps every skipped or failed benchmark case with its reason; under a budget it rewrites the
    JSON after every case, so a killed session still leaves the records it finished."""

    def __init__(self, config: pytest.Config):
        self.config = config

    def _progress(self, kind: str, nodeid: str) -> None:
        path = self.config.getoption("bench_progress", default=None)
        if path and "test_bench_" in nodeid:
            with open(path, "a") as fh:
                fh.write(f"{kind}\t{nodeid}\n")
                fh.flush()
                os.fsync(fh.fileno())

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._progress("start", nodeid)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self._progress("end", nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "test_bench_" not in report.nodeid:
            return
        outcomes = self.config.stash[_OUTCOMES]
        if report.skipped and report.when in ("setup", "call"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            entry = {"case": report.nodeid, "reason": reason.removeprefix("Skipped: ")}
            measured = MEASURED_SKIPS.pop(report.nodeid, None)  # compile and one call, timed before the skip
            if measured is not None:
                entry["measured"] = measured
            outcomes["skipped_cases"].append(entry)
        elif report.failed:
            outcomes["failed_cases"].append({"case": report.nodeid, "when": report.when,
                                             "reason": _failure_reason(report)})
        if report.when == "teardown" and _BUDGET in self.config.stash:
            _write_json_now(self.config)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    """Every skipped or failed case with its reason, and the budget, beside the records."""
    output_json.update(config.stash.get(_OUTCOMES, {}))
    if _BUDGET in config.stash:
        output_json["bench_budget_seconds"] = config.stash[_BUDGET].seconds


def _write_json_now(config: pytest.Config) -> None:
    """The JSON as pytest-benchmark writes it at the end, written now (atomically) with the records so far."""
    bs = getattr(config, "_benchmarksession", None)
    path = json_path(config.getoption("benchmark_json", default=None))
    if bs is None or path is None or not bs.benchmarks:
        return
    if _MACHINE not in config.stash:  # collected once: every rewrite of the JSON reuses it
        config.stash[_MACHINE] = bs.get_machine_info()
    machine = config.stash[_MACHINE]
    commit = config.hook.pytest_benchmark_generate_commit_info(config=config)
    config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit)
    out = config.hook.pytest_benchmark_generate_json(config=config, benchmarks=bs.benchmarks, include_data=True,
                                                    machine_info=machine, commit_info=commit)
    config.hook.pytest_benchmark_update_json(config=config, benchmarks=bs.benchmarks, output_json=out)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(out, indent=4, default=str))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_CASE_START] = time.perf_counter()


class _SetupClock(dict):
    """A benchmark's extra_info that adds `setup_seconds` when `compile_seconds` first arrives (`time_call`
    stores it right after the first call, so that moment less the compile seconds is when the call began)."""

    def __init__(self, start: float):
        super().__init__()
        self._start = start

    def update(self, *args, **kwargs) -> None:
        super().update(*args, **kwargs)
        if "compile_seconds" in self and "setup_seconds" not in self:
            began = time.perf_counter() - float(self["compile_seconds"])
            self["setup_seconds"] = round(max(0.0, began - self._start), 4)


@pytest.fixture(autouse=True)
def _setup_seconds(request: pytest.FixtureRequest):
    """Timed benchmarks: `setup_seconds` in extra_info (the module docstring says what it covers)."""
    bm = request.getfixturevalue("benchmark") if "benchmark" in request.fixturenames else None
    if bm is None or bm.disabled or _CASE_START not in request.node.stash:
        yield
        return
    clock = _SetupClock(request.node.stash[_CASE_START])
    dict.update(clock, bm.extra_info)
    bm.extra_info = clock
    yield
    first = (clock.get("paired") or {}).get("first_compile_seconds")
    if first is not None and "setup_seconds" in clock:  # ended where the second backend's first call began
        clock["setup_seconds"] = round(max(0.0, clock["setup_seconds"] - float(first)), 4)


@pytest.fixture(autouse=True)
def _budget_start(request: pytest.FixtureRequest):
    """Under --bench-budget: skip a case that cannot start in the time left."""
    budget = request.config.stash.get(_BUDGET, None)
    if budget is not None:
        plan = request.config.stash.get(_PLAN, {})
        expected = plan.get(request.node.name)
        if request.node.name in plan and expected is None:
            pytest.skip("budget: the probe measured no env_step, plan or update of this backend, so nothing "
                        "predicts that this case fits")
        try:
            budget.check_start(expected)
        except BudgetSkip as exc:
            pytest.skip(str(exc))
    yield


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add what pytest-benchmark lacks: GPU, driver/CUDA, CPU model/cores, versions, JAX backend, load."""
    from tdmpc_parity.core.machine import machine_info as harness_machine_info

    machine_info.update(harness_machine_info())
    machine_info["load_average_start"] = config.stash.get(_LOAD_START, None)
    machine_info["load_average_end"] = load_average()
    machine_info["bench_profile"] = config.getoption("bench_profile", default=None)
    machine_info["bench_task"] = sizes_from_config(config).task
    machine_info["bench_version"] = bench_version()
    torch = sys.modules.get("torch")  # imported by the torch cases: its intra-op threads shape CPU timings
    machine_info["torch_num_threads"] = torch.get_num_threads() if torch is not None else None
    machine_info["xla_flags"] = os.environ.get("XLA_FLAGS")
    machine_info["xla_env"] = {k: os.environ.get(k) for k in XLA_ENV}


@pytest.fixture(scope="session")
def bench_profile(request: pytest.FixtureRequest) -> BenchProfile:
    """The `--bench-profile` settings: model label and config values (+ `--bench-precision`), rounds and
    warm-up rounds."""
    bp = get_bench_profile(request.config.getoption("bench_profile"))
    return replace(bp, values={**bp.values, "matmul_precision": request.config.getoption("bench_precision")})


@pytest.fixture(scope="session")
def sizes(request: pytest.FixtureRequest) -> BenchSizes:
    """Task, n_envs and calls of the selected bench profile (`bench.protocol.SIZES`)."""
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
