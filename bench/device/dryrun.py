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
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.device.dryrun", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=None, help="work folder (default: a new temporary folder, kept)")
    p.add_argument("--budget", type=float, default=30.0, help="benchmark budget in seconds")
    p.add_argument("--bundle", default=None, help="an existing bundle built for this machine's Python")
    args = p.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="device-dryrun-"))
    rc = dry_run(work, args.budget, bundle=Path(args.bundle) if args.bundle else None)
    print(f"device dry run: exit {rc}; outputs in {work / 'out'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
