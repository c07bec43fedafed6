"""The one-shot device run, after bench/device_run.sh installed the bundle: facts, smoke, budgeted benchmark.

    python -m bench.device_run --out OUT [--profile gpu] [--budget 420] [--case-seconds 20] [--total 560]
                               [-- PYTEST_ARGS]

1. Facts: `harness.machine.machine_info()`, package versions, `nvidia-smi`, the XLA/JAX/CUDA environment,
   printed and written to OUT/device_run.json.
2. Smoke (`python -m bench.device_smoke`, OUT/smoke.json): imports, every task env, one jitted JAX step and
   update, one torch step and update. A failure is reported and the benchmark still runs (its cases fail
   one by one, with their errors in the JSON, instead of nothing being measured).
3. Benchmark: `pytest bench/ --bench-profile PROFILE --bench-budget SECONDS --bench-results OUT` (priority
   order, rounds cut to fit, skips with reasons: bench/budget.py). The JSON is rewritten after each case. If
   the pytest process dies (a segfault, a CUDA abort, the hard timeout), the case it was running is recorded
   as crashed and the remaining cases run in a new process with the time left (at most `MAX_ATTEMPTS`).
   The budget is cut so that the whole run, from device_run.sh's start, ends within `--total` seconds (a
   device command is killed at 600 s); a session still running then is killed (its JSON so far is kept).
4. Check: the JSON files are read by `harness.report` exactly as `tdmpc-parity report` will read them, and
   OUT/REPORT.md is rendered from them alone; a per-record summary is printed.
Exit code 0 when the smoke passed and at least one record was written and accepted by the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_ATTEMPTS = 3
HARD_TIMEOUT_GRACE = 90.0  # seconds a pytest process may run past its budget (one case's compile) before a kill
FINAL_RESERVE_SECONDS = 30.0  # kept after the benchmark for reading the JSON and rendering REPORT.md
FACT_PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin", "torch", "flax", "optax",
                 "orbax-checkpoint", "numpy", "scipy", "mujoco", "mujoco-mjx", "playground", "dm_control",
                 "gymnasium", "brax", "pytest", "pytest-benchmark", "matplotlib")
ENV_KEYS = ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
            "XLA_PYTHON_CLIENT_ALLOCATOR", "JAX_COMPILATION_CACHE_DIR", "CUDA_VISIBLE_DEVICES", "MUJOCO_GL",
            "TDMPC_COMMIT", "PYTHONPATH")


def log(msg: str) -> None:
    print(f"[device_run {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def facts() -> dict[str, Any]:
    from harness.machine import machine_info, package_versions

    info = machine_info()
    smi = shutil.which("nvidia-smi")
    out = {
        "machine_info": info,
        "versions": package_versions(FACT_PACKAGES),
        "environment": {k: os.environ.get(k) for k in ENV_KEYS},
        "python_executable": sys.executable,
        "nvidia_smi": subprocess.run([smi], capture_output=True, text=True).stdout if smi else None,
    }
    return out


def run_smoke(out: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.device_smoke", "--out", str(out / "smoke.json")]
    t0 = time.monotonic()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    return {"rc": rc, "seconds": round(time.monotonic() - t0, 1), "passed": rc == 0}


def _progress(path: Path) -> tuple[list[str], list[str]]:
    """(started, finished) node ids from the --bench-progress file."""
    started, finished = [], []
    if path.exists():
        for line in path.read_text().splitlines():
            kind, _, nodeid = line.partition("\t")
            (started if kind == "start" else finished).append(nodeid)
    return started, finished


def run_bench(out: Path, profile: str, budget: float, case_seconds: float, pytest_args: list[str],
              hard_deadline: float | None = None) -> list[dict[str, Any]]:
    """Budgeted pytest sessions until every case ran, was skipped or crashed, or the budget is spent.
    `hard_deadline` (time.monotonic()) kills a session that is still running then."""
    from harness.pytest_env import child_pytest_env

    attempts: list[dict[str, Any]] = []
    deselect: list[str] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as tmp:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            left = budget - (time.monotonic() - t_start)
            if left < 15:
                log(f"bench: {left:.0f} s of the budget left, no new attempt")
                break
            progress = Path(tmp) / f"progress-{attempt}.tsv"
            cmd = [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "-q", "-rsfE",
                   "--benchmark-enable", "--bench-profile", profile, "--bench-budget", f"{left:.0f}",
                   "--bench-case-seconds", f"{case_seconds:g}", "--bench-results", str(out),
                   "--bench-progress", str(progress), *[a for n in deselect for a in ("--deselect", n)],
                   *pytest_args]
            log(f"bench attempt {attempt}: budget {left:.0f} s: {' '.join(cmd[1:])}")
            t0 = time.monotonic()
            timeout = left + HARD_TIMEOUT_GRACE
            if hard_deadline is not None:
                timeout = min(timeout, hard_deadline - time.monotonic())
            try:
                rc: int | str = subprocess.run(cmd, cwd=ROOT, env=child_pytest_env(),
                                                timeout=max(timeout, 1.0)).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            started, finished = _progress(progress)
            crashed = [n for n in started if n not in finished]
            attempts.append({"attempt": attempt, "rc": rc, "seconds": round(time.monotonic() - t0, 1),
                             "cases_finished": len(finished), "crashed": crashed})
            if rc in (0, 1, 5) and not crashed:  # pytest's own ends: all passed / some failed / none collected
                break
            log(f"bench attempt {attempt} ended abnormally (rc {rc}); crashed case(s): {crashed or 'none'}")
            deselect += finished + crashed
    return attempts


def check_results(out: Path) -> tuple[int, list[str]]:
    """Read OUT's benchmark JSON as the report does, render OUT/REPORT.md; (records, summary lines)."""
    from harness.report import build_report, load_results

    files = sorted(p for p in out.glob("*/*.json") if p.is_file())
    if not files:
        return 0, ["no benchmark JSON was written"]
    lines = []
    with tempfile.TemporaryDirectory(prefix="device-results-") as tmp:
        for f in files:
            data = json.loads(f.read_text())
            for case in data.get("skipped_cases", []):
                lines.append(f"skipped  {case['case']}: {case['reason']}")
            for case in data.get("failed_cases", []):
                lines.append(f"FAILED   {case['case']} ({case.get('when')}): {case['reason']}")
            if data.get("benchmarks"):
                (Path(tmp) / f.parent.name).mkdir(exist_ok=True)
                shutil.copy(f, Path(tmp) / f.parent.name / f.name)
        if not any(Path(tmp).glob("*/*.json")):
            return 0, [*lines, "the benchmark JSON holds no record"]
        _, records = load_results(Path(tmp))
        for r in records:
            lines.append(f"record   {r.name}: {r.stats['rounds']} rounds, median {r.stats['median'] * 1e3:.2f} "
                         f"ms/call, {r.rate:,.1f} {r.unit}, compile {r.info['compile_seconds']:.1f} s")
        build_report(Path(tmp), out_md=out / "REPORT.md", charts=False)
    return len(records), lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, pytest_args = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python -m bench.device_run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (the device's $OUT)")
    p.add_argument("--profile", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--budget", type=float, default=420.0, help="benchmark seconds, compiles included")
    p.add_argument("--case-seconds", type=float, default=20.0, help="timed seconds per case at most")
    p.add_argument("--smoke-timeout", type=float, default=240.0)
    p.add_argument("--total", type=float, default=560.0,
                   help="seconds the whole run may take from device_run.sh's start (a device command is killed at "
                        "600 s): the benchmark budget is cut to fit, and a session still running is killed")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    started = float(os.environ.get("TDMPC_RUN_START") or time.time())  # set by device_run.sh
    end = t0 + args.total - (time.time() - started)  # time.monotonic() at which the whole run must be over

    log("facts")
    summary: dict[str, Any] = {"facts": facts(), "profile": args.profile, "budget_seconds": args.budget,
                               "case_seconds": args.case_seconds, "pytest_args": pytest_args}
    f = summary["facts"]
    print(f["nvidia_smi"] or "nvidia-smi: not found", flush=True)
    print(json.dumps({"versions": f["versions"], "environment": f["environment"],
                      "machine_slug": f["machine_info"]["machine_slug"],
                      "jax_backend": f["machine_info"].get("jax_backend"),
                      "torch_cuda_available": f["machine_info"].get("torch_cuda_available")}, indent=1), flush=True)

    def write_summary() -> None:
        summary["seconds"] = round(time.monotonic() - t0, 1)
        (out / "device_run.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    write_summary()
    log("smoke")
    summary["smoke"] = run_smoke(out, args.smoke_timeout)
    log(f"smoke: {'passed' if summary['smoke']['passed'] else 'FAILED'} in {summary['smoke']['seconds']} s")
    write_summary()
    budget = min(args.budget, end - FINAL_RESERVE_SECONDS - time.monotonic())
    if budget < args.budget:
        log(f"bench budget cut from {args.budget:.0f} s to {budget:.0f} s to end within --total {args.total:.0f} s")
    summary["bench_budget_used"] = round(budget, 1)
    summary["bench_attempts"] = run_bench(out, args.profile, budget, args.case_seconds, pytest_args,
                                          hard_deadline=end - FINAL_RESERVE_SECONDS / 2)
    write_summary()
    try:
        n, lines = check_results(out)
    except ValueError as exc:
        n, lines = 0, [f"the report refused the JSON: {exc}"]
    summary["records"], summary["result_lines"] = n, lines
    write_summary()
    log("results:\n" + "\n".join(lines))
    ok = summary["smoke"]["passed"] and n > 0
    log(f"done in {time.monotonic() - t0:.0f} s: {n} records; {'OK' if ok else 'NOT OK'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
