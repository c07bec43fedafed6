"""The one-shot GPU run, rehearsed on a CPU: the same script, in an environment that holds only what the GPU
machine has preinstalled, installing the bundle offline.

    python -m bench.device.dryrun [--work DIR] [--budget 30] [--bundle DIR]

1. The bundle for THIS machine's Python (`bench.device.bundle`; needs the package index), unless --bundle.
2. A device-like Python: a fresh virtualenv (no pip of its own, no system site-packages) that sees, through
   one .pth file, only the distributions of `DEVICE_PREINSTALLED` and their requirements, symlinked from
   the interpreter running this command (same versions as this machine's), except its test runner: an older
   pytest and pytest-benchmark (`DEVICE_TEST_STACK`), as the device may have. MuJoCo, MJX, Playground,
   dm_control and gymnasium are NOT importable there until the bundle is installed (checked).
3. `bash bench/device/run.sh --python <that> --profile cpu --budget N ...` with `PIP_NO_INDEX=1`: offline
   install into a target folder, facts, smoke, a budgeted CPU benchmark (cheap cases, small per-case time,
   so some cases run and the rest are skipped with reasons), the JSON checked by the report.
tests/test_device_run.py runs this in CI and checks what it wrote.

    python -m bench.device.dryrun --verdict OUT [--no-torch]

prints the one-line verdict on a finished run's output folder OUT (exit 0 for PASS, 1 for FAIL): the smoke
passed, no case failed, at least one record (`rehearsal_verdict`). `.ci/gpu_run_rehearsal.sh` ends with it.

The rehearsal's deprecation check: with `TDMPC_DEPRECATIONS_AS_ERRORS=jax,flax,...` in the environment, the smoke
and the benchmark session (bench/conftest.py) turn every DeprecationWarning that code of those packages issues
into an error (`deprecations_as_errors`). A filter on the warning's module cannot do it: `python -W` and
`PYTHONWARNINGS` match the whole module name (`error::DeprecationWarning:optax` misses optax.global_norm's
warning, attributed to optax._src.linear_algebra), API deprecations such as jax's deprecated attributes are
attributed to the caller (`stacklevel=2`: the project's module), and pytest's ini `filterwarnings =
ignore::DeprecationWarning` overrides both inside the tests. So `warnings.warn` is
wrapped to re-issue those warnings as `UpstreamDeprecationWarning` (a DeprecationWarning subclass: a warning those
packages silence on purpose stays silent), and that one category is made an error, in pytest through its
ini list (appended last, so it wins over the project's ignore). Warnings that other packages issue (jaxopt's
"no longer maintained", numpy's, dm_control's) are left as they are.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.device.bundle import DEVICE_PREINSTALLED, build_bundle

ROOT = Path(__file__).resolve().parents[2]
# The cheap cases of the CPU profile, on the task MJX compiles fastest: a few run within the budget.
DRY_RUN_TASK_ARGS = ("--bench-task", "pendulum-swingup")
DRY_RUN_PYTEST_ARGS = ("-k", "env_step or update", *DRY_RUN_TASK_ARGS)
# the two-command rehearsal: the probe times what the train stage's plan needs for torch (env_step, update, plan:
# seconds on a CPU) and the JAX env_step (one compile); JAX training, which nothing then predicts, is skipped
# with that reason, so the train stage runs torch's training cases within its budget
DRY_RUN_PROBE_ARGS = ("-k", "env_step or (torch and (update or plan))", *DRY_RUN_TASK_ARGS)
BUNDLED_MODULES = ("mujoco", "mujoco_playground", "dm_control", "gymnasium")
# The device's own test runner is of unknown, probably older, versions. The device-like Python gets such an
# older set in place of this machine's (pytest-benchmark 5.1 writes its JSON through another API and does not
# run on pytest 9), so the dry run shows the bundle's TEST_STACK is what runs the benchmarks.
DEVICE_TEST_STACK = ("pytest==8.3.5", "pluggy==1.5.0", "pytest-benchmark==5.1.0", "py-cpuinfo==9.0.0")
REPLACED_DISTS = ("pytest", "pluggy", "pytest-benchmark", "py-cpuinfo2", "py-cpuinfo")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ----------------------------------------------------------------------------------------------------------
# The rehearsal's deprecation check
# ----------------------------------------------------------------------------------------------------------

DEPRECATIONS_ENV = "TDMPC_DEPRECATIONS_AS_ERRORS"  # comma-separated top-level packages, e.g. "jax,flax,optax"
UPSTREAM_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax")  # orbax-checkpoint's modules are orbax.*


class UpstreamDeprecationWarning(DeprecationWarning):
    """A DeprecationWarning issued by code of one of the packages `deprecations_as_errors` was given."""


# the `filterwarnings` line (pytest's ini syntax) that makes the re-issued warnings errors
UPSTREAM_ERROR_FILTER = f"error::{__name__}.{UpstreamDeprecationWarning.__name__}"


def packages_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The top-level packages named by `TDMPC_DEPRECATIONS_AS_ERRORS` (empty when unset)."""
    value = (os.environ if environ is None else environ).get(DEPRECATIONS_ENV, "")
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _module_of(frame: Any) -> str:
    return str(frame.f_globals.get("__name__", "")) if frame is not None else ""


def retag_deprecations(packages: Iterable[str]) -> None:
    """Wrap `warnings.warn` so that a DeprecationWarning whose `warn` call sits in a module of `packages` (by
    top-level name: "jax" matches jax._src.deprecations, not jaxopt) is issued as `UpstreamDeprecationWarning`,
    its text naming the issuing module, the module it is attributed to and the first caller outside `packages`
    (module:line, where the deprecated API is used). The wrapper keeps the caller's stacklevel. Installing it
    again replaces the package list. Warnings issued from C (`PyErr_WarnEx`) do not pass through
    `warnings.warn` and are not re-issued."""
    tops = frozenset(packages)
    original = getattr(warnings.warn, "__wrapped__", warnings.warn)

    @functools.wraps(original)
    def warn(message: Any, category: type[Warning] | None = None, stacklevel: int = 1, source: Any = None,
             **kwargs: Any) -> None:
        kind = type(message) if isinstance(message, Warning) else (category or UserWarning)
        if issubclass(kind, DeprecationWarning) and not issubclass(kind, UpstreamDeprecationWarning):
            frame = sys._getframe(1)
            issuer = _module_of(frame)
            if issuer.partition(".")[0] in tops:
                try:
                    caller = _module_of(sys._getframe(stacklevel))
                except ValueError:  # a stacklevel above the stack: warnings attributes it to `sys`
                    caller = "sys"
                while frame is not None and _module_of(frame).partition(".")[0] in tops:
                    frame = frame.f_back
                origin = f"{_module_of(frame)}:{frame.f_lineno}" if frame is not None else "none"
                message = (f"{message} [{kind.__name__} issued by {issuer}, attributed to {caller}, "
                           f"reached from {origin}]")
                category = UpstreamDeprecationWarning
        original(message, category, stacklevel + 1, source, **kwargs)

    warn._tdmpc_packages = tops  # type: ignore[attr-defined]
    warnings.warn = warn


def deprecations_as_errors(packages: Iterable[str]) -> None:
    """Outside pytest: re-issue the DeprecationWarnings of `packages` (`retag_deprecations`) and make them errors
    (a filter in front of every other one). Call it before those packages are imported."""
    retag_deprecations(packages)
    warnings.filterwarnings("error", category=UpstreamDeprecationWarning)



def requirement_closure(names: tuple[str, ...]) -> list[md.Distribution]:
    """The installed distributions among `names` and, recursively, their unconditional requirements."""
    from packaging.requirements import Requirement

    seen: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # on the device but not installed here (opencv, tensorboard, ...): not needed by the code
        seen[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def older_test_stack(dest: Path, reqs: tuple[str, ...] = DEVICE_TEST_STACK) -> Path:
    """`reqs` (pure-Python wheels, from the package index) unpacked into `dest`: an older pytest set."""
    wheels = dest.parent / (dest.name + "-wheels")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d",
                    str(wheels), *reqs], check=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(dest)
    return dest


def device_like_python(dest: Path, test_stack: tuple[str, ...] = DEVICE_TEST_STACK) -> Path:
    """A virtualenv in `dest` whose Python sees only the device's preinstalled packages, with `test_stack` as
    its pytest set instead of this machine's (empty: this machine's); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(dest)], check=True)
    site = dest / "device-site"
    site.mkdir()
    entries = [str(site)]
    replaced: set[str] = set()
    if test_stack:
        entries.insert(0, str(older_test_stack(dest / "device-test-stack", test_stack)))
        replaced = {_norm(n) for n in REPLACED_DISTS}
    for dist in requirement_closure(DEVICE_PREINSTALLED):
        if _norm(dist.metadata["Name"]) in replaced:
            continue
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src = Path(str(dist.locate_file(top)))
            link = site / top
            if src.exists() and not link.exists() and not top.endswith(".pth"):
                link.symlink_to(src)
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([str(dest / "bin" / "python"), "-c", code], check=True, capture_output=True,
                             text=True).stdout.strip()
    Path(purelib, "device-preinstalled.pth").write_text("\n".join(entries) + "\n")
    return dest / "bin" / "python"


def importable(python: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), "-c", code], env=env).returncode == 0


def dry_run(work: Path, budget: float = 30.0, case_seconds: float = 2.0, bundle: Path | None = None,
            train_budget: float | None = None) -> int:
    """Build (or take) the bundle, make the device-like Python, run bench/device/run.sh; its exit code.
    Writes into work/: bundle/, devpy/, site/ (the install target) and out/ (what the device returns).
    With `train_budget`, the two commands of a GPU lease instead: `--stage probe` into out/, then
    `--stage train --probe out/probe.json` into out-train/ (the exit code of the first that fails)."""
    work.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        bundle = work / "bundle"
        build_bundle(bundle, python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
    python = device_like_python(work / "devpy")
    for module in ("jax", "torch", "flax", "optax", "pytest_benchmark"):
        if not importable(python, module):
            raise RuntimeError(f"the device-like Python cannot import {module}: install the project first")
    present = [m for m in BUNDLED_MODULES if importable(python, m)]
    if present:
        raise RuntimeError(f"the device-like Python already has {present}: it would not test the bundle")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # one intra-op thread: on a shared 2-core CPU (CI runs this beside other tests) torch's default pool spins
    # against the other processes and runs many times slower, which no GPU run is about
    env.update(PIP_NO_INDEX="1", TMPDIR=str(work), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    def run(out: str, budget: float, stage: tuple[str, ...], pytest_args: tuple[str, ...],
            case_seconds: float = case_seconds) -> int:
        cmd = ["bash", str(ROOT / "bench" / "device" / "run.sh"), "--python", str(python), "--bundle", str(bundle),
               "--out", str(work / out), "--target", str(work / "site"), "--profile", "cpu", *stage,
               # a loaded 2-core host is no GPU machine: its smoke alone can take minutes (no 600 s limit here)
               "--smoke-timeout", "900", "--total", f"{budget + 1200:g}", "--budget", f"{budget:g}",
               "--case-seconds", f"{case_seconds:g}", "--", *pytest_args]
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode

    if train_budget is None:
        return run("out", budget, (), DRY_RUN_PYTEST_ARGS)
    rc = run("out", budget, ("--stage", "probe"), DRY_RUN_PROBE_ARGS)
    train = ("--stage", "train", "--probe", str(work / "out" / "probe.json"))
    # a training call takes seconds on a (busy) CPU: 25 s per case fits the minimum timed rounds
    return rc or run("out-train", train_budget, train, DRY_RUN_TASK_ARGS, case_seconds=25.0)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def rehearsal_verdict(out: Path, no_torch: bool = False) -> tuple[bool, str]:
    """(passed, one line) for the output folder of a finished `bench/device/run.sh`: it passes when the run was
    not stopped, every smoke check passed (or, with `no_torch`, was the torch check left out), no benchmark case
    failed, the pytest sessions ended normally and at least one record was written. The line names the Python and
    jax versions and the records, or the first problems (a deprecation turned error is labelled as such)."""
    summary = _read_json(out / "device_run.json")
    if not isinstance(summary, dict):
        return False, f"FAIL: no device_run.json in {out}: the run did not start (see device_run.log there)"
    problems: list[str] = []
    if summary.get("stopped"):
        problems.append(f"stopped: {summary['stopped']}")
    checks = (_read_json(out / "smoke.json") or {}).get("checks", [])
    smoke = summary.get("smoke") or {}
    if not smoke.get("passed"):
        problems.append(f"smoke did not pass (rc {smoke.get('rc')})")
    problems += [f"smoke {c['check']}: {c.get('error')}" for c in checks if not c.get("passed")]
    torch_left_out = [c["check"] for c in checks if c.get("skipped")]
    if no_torch and "torch_step" not in torch_left_out:
        problems.append("the smoke ran its torch check although the run was to leave torch out (--no-torch)")
    data = [_read_json(f) or {} for f in sorted(p for p in out.glob("*/*.json") if p.is_file())]
    problems += [f"case {c['case'].split('::')[-1]} failed ({c.get('when')}): {c['reason']}"
                 for d in data for c in d.get("failed_cases", [])]
    for attempt in summary.get("bench_attempts") or []:
        if attempt.get("rc") not in (0, 1, 5):  # 1: failed cases (listed above); 5: nothing collected
            problems.append(f"pytest attempt {attempt.get('attempt')} ended with rc {attempt.get('rc')}")
    records = [b["name"] for d in data for b in d.get("benchmarks", [])]
    if not records:
        problems.append("no benchmark record was written")
    left_out = sum("--bench-backends" in c["reason"] for d in data for c in d.get("skipped_cases", []))
    facts = summary.get("facts") or {}
    versions = facts.get("versions") or {}
    where = (f"Python {(facts.get('machine_info') or {}).get('python')}, jax {versions.get('jax')}, "
             f"flax {versions.get('flax')}, optax {versions.get('optax')}, "
             f"orbax-checkpoint {versions.get('orbax-checkpoint')}")
    if problems:  # each deprecation once (the smoke and several cases hit the same), then the other problems
        tag = UpstreamDeprecationWarning.__name__ + ": "
        deprecations = list(dict.fromkeys(" ".join(p.split(tag, 1)[1].split())[:400] for p in problems if tag in p))
        others = [" ".join(p.split())[:300] for p in problems if tag not in p]
        parts = [f"deprecation turned error: {d}" for d in deprecations] + others[:3]
        more = f"; and {len(others) - 3} more" if len(others) > 3 else ""
        return False, f"FAIL: {len(problems)} problem(s) with {where}: {'; '.join(parts)}{more} (see {out})"
    torch_note = f"; torch left out (smoke check and {left_out} cases)" if no_torch else ""
    return True, f"PASS: {where}: smoke passed, {len(records)} records ({', '.join(records)}){torch_note}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.device.dryrun", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=None, help="work folder (default: a new temporary folder, kept)")
    p.add_argument("--budget", type=float, default=30.0, help="benchmark budget in seconds")
    p.add_argument("--bundle", default=None, help="an existing bundle built for this machine's Python")
    p.add_argument("--verdict", metavar="OUT", default=None,
                   help="only print the verdict on the output folder of a finished run.sh (exit 0 PASS, 1 FAIL)")
    p.add_argument("--no-torch", action="store_true", help="with --verdict: the run left torch out on purpose")
    args = p.parse_args(argv)
    if args.verdict is not None:
        passed, line = rehearsal_verdict(Path(args.verdict), no_torch=args.no_torch)
        print(line)
        return 0 if passed else 1
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="device-dryrun-"))
    rc = dry_run(work, args.budget, bundle=Path(args.bundle) if args.bundle else None)
    print(f"device dry run: exit {rc}; outputs in {work / 'out'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
