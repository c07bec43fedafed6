"""The one-shot device run, after bench/device/run.sh installed the bundle: facts, smoke, budgeted benchmark.

    python -m bench.device.run --out OUT [--profile gpu] [--stage all|probe|train] [--probe probe.json]
                               [--budget 420] [--case-seconds 20] [--total 560] [--no-torch] [-- PYTEST_ARGS]

Two stages for a GPU lease, two device commands: `--stage probe` (facts, the GPU check, the smoke and the cheap
cases env_step, update and plan of both backends, each with its compile seconds; OUT/probe.json), then
`--stage train --probe probe.json` (the training cases — the seed's configuration and the official one first —
each started only if the compile and timed rounds that the probe's numbers predict fit in the time left,
bench/device/plan.py; OUT/plan.json). `--stage all` runs everything in one command, as a CPU dry run does.

1. Facts, collected once: `tdmpc_parity.core.machine.machine_info(probe_frameworks=False)`, package versions,
   `nvidia-smi` (with a timeout), the XLA/JAX/CUDA environment, the CUDA libraries (`cuda`: the installed
   `nvidia-*` distributions and, on a GPU, what JAX reports of CUDA/cuDNN; null on a CPU), printed and written to
   OUT/device_run.json. This parent process never imports JAX or torch (it would hold a GPU client for the
   whole run). With `--profile gpu`, a child process then checks that JAX's default backend is the GPU and that
   torch sees CUDA; if not, the run stops there (exit 2, within a minute) with a sentence saying which, instead
   of measuring a CPU fallback as a GPU. `--no-torch` (the JAX-only CPU rehearsal) leaves torch out of the
   smoke and the benchmark, each case with that reason.
2. Smoke (`python -m bench.device.smoke`, OUT/smoke.json): imports, every task env, one jitted JAX step and
   update, one torch step and update. A failure is reported and the benchmark still runs (its cases fail
   one by one, with their errors in the JSON, instead of nothing being measured).
3. Benchmark: `pytest bench/ --bench-profile PROFILE --bench-budget SECONDS --bench-results OUT` (priority
   order, rounds cut to fit, skips with reasons: bench/budget.py), under the pytest and pytest-benchmark the
   bundle carries, with plugin autoloading off (the machine's own plugins and versions play no part). The
   JSON is rewritten after each case. If the pytest process dies inside a case (a segfault, a CUDA abort), that
   case is recorded as crashed and the remaining cases run in a new process with the time left (at most
   `MAX_ATTEMPTS`); a session that ended on its own (passed, failed, a usage or internal error) is not retried.
   The budget is cut so that the whole run, from bench/device/run.sh's start, ends within `--total` seconds (a
   device command is killed at 600 s); a session still running then is killed (its JSON so far is kept).
4. Check: the JSON files are read by `tdmpc_parity.analysis.report` exactly as `tdmpc-parity report` will read them, and
   OUT/REPORT.md is rendered from them alone; a per-record summary is printed.
Exit code 0 when the smoke passed and at least one record was written and accepted by the report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.device.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
MAX_ATTEMPTS = 3
HARD_TIMEOUT_GRACE = 90.0  # seconds a pytest process may run past its budget (one case's compile) before a kill
FINAL_RESERVE_SECONDS = 30.0  # kept after the benchmark for reading the JSON and rendering REPORT.md
FACT_PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin", "jax-cuda12-pjrt",
                 "torch", "flax", "optax", "orbax-checkpoint", "chex", "numpy", "scipy", "mujoco", "mujoco-mjx",
                 "playground", "dm_control", "gymnasium", "brax", "pytest", "pytest-benchmark", "matplotlib")
ENV_KEYS = ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
            "XLA_PYTHON_CLIENT_ALLOCATOR", "JAX_COMPILATION_CACHE_DIR", "CUDA_VISIBLE_DEVICES", "MUJOCO_GL",
            "TDMPC_COMMIT", "PYTHONPATH", "PYTHONWARNINGS", "TDMPC_DEPRECATIONS_AS_ERRORS")


def log(msg: str) -> None:
    print(f"[device_run {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def nvidia_distributions() -> dict[str, str]:
    """name -> version of every installed `nvidia-*` distribution (the CUDA libraries pip installs: cuBLAS,
    cuDNN, NCCL, ... as torch and JAX's CUDA plugin require them), read without importing anything."""
    import importlib.metadata as md

    found = {}
    for dist in md.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name.startswith("nvidia-"):
            found[name] = dist.version
    return dict(sorted(found.items()))


def cuda_facts(nvidia: dict[str, str], jax_cuda: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The CUDA libraries of the run: the installed `nvidia-*` distributions and, when JAX has a GPU backend,
    what it reports (`BACKEND_PROBE`: CUDA runtime, cuDNN, cuBLAS, ... versions, compute capability); None when
    there is neither (a CPU machine)."""
    if not nvidia and not jax_cuda:
        return None
    return {"nvidia_distributions": nvidia, "jax": jax_cuda or None}


def facts() -> dict[str, Any]:
    """Machine facts, collected once. The frameworks are NOT imported here: this parent process would otherwise
    hold a JAX (and CUDA) client for the whole run; `backend_check` and the smoke probe them in children (with
    `--profile gpu`, `cuda.jax` is filled in from the backend check)."""
    from tdmpc_parity.core.machine import machine_info, package_versions

    info = machine_info(probe_frameworks=False)
    smi = shutil.which("nvidia-smi")
    nvidia = None
    if smi:
        try:
            nvidia = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            nvidia = f"nvidia-smi failed: {exc}"
    return {
        "machine_info": info,
        "versions": package_versions(FACT_PACKAGES),
        "environment": {k: os.environ.get(k) for k in ENV_KEYS},
        "python_executable": sys.executable,
        "nvidia_smi": nvidia,
        "cuda": cuda_facts(nvidia_distributions()),
    }


BACKEND_PROBE = """
import json, os, sys
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
out = {}
try:
    import jax
    out["jax_backend"] = jax.default_backend()
    out["jax_devices"] = [str(d) for d in jax.devices()]
except Exception as exc:
    out["jax_error"] = f"{type(exc).__name__}: {exc}"
if out.get("jax_backend") == "gpu":  # what JAX's CUDA plugin reports (a private module: any failure is recorded)
    cuda = out["jax_cuda"] = {}
    try:
        from jax._src.lib import cuda_versions as cv
        for name in ("cuda_runtime_get_version", "cuda_runtime_build_version", "cuda_driver_get_version",
                     "cudnn_get_version", "cudnn_build_version", "cublas_get_version", "cusolver_get_version",
                     "cusparse_get_version", "cufft_get_version", "cupti_get_version", "nccl_get_version"):
            if hasattr(cv, name):
                cuda[name.replace("_get_version", "").replace("_version", "")] = getattr(cv, name)()
    except Exception as exc:
        cuda["error"] = f"{type(exc).__name__}: {exc}"
    cuda["compute_capability"] = getattr(jax.devices()[0], "compute_capability", None)
if "--no-torch" not in sys.argv:
    try:
        import torch
        out["torch_cuda"] = torch.cuda.is_available()
        out["torch_cuda_version"] = torch.version.cuda
        out["torch_cudnn_version"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    except Exception as exc:
        out["torch_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def gpu_problems(probe: dict[str, Any], no_torch: bool = False) -> list[str]:
    """Why a `--profile gpu` run cannot measure what it is for, one sentence each: JAX's default backend is not
    the GPU (it fell back to the CPU, or the CUDA plugin did not load) or torch sees no CUDA device (not asked
    with `no_torch`)."""
    problems = []
    if "jax_error" in probe:
        problems.append(f"JAX does not import ({probe['jax_error']})")
    elif probe.get("jax_backend") != "gpu":
        problems.append(f"JAX's default backend is {probe.get('jax_backend')!r}, not 'gpu' (the CUDA plugin did not "
                        "load or does not match jaxlib): the JAX cases would be measured on the CPU")
    if no_torch:
        return problems
    if "torch_error" in probe:
        problems.append(f"torch does not import ({probe['torch_error']})")
    elif not probe.get("torch_cuda"):
        problems.append("torch sees no CUDA device (torch.cuda.is_available() is False): the torch cases would be "
                        "measured on the CPU")
    return problems


def backend_check(timeout: float = 120.0, no_torch: bool = False) -> dict[str, Any]:
    """JAX's default backend (and on a GPU its CUDA libraries) and torch's CUDA (not with `no_torch`), probed in
    a child process (seconds; `timeout` bounds a hang)."""
    try:
        res = subprocess.run([sys.executable, "-c", BACKEND_PROBE, *(["--no-torch"] if no_torch else [])], cwd=ROOT,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"jax_error": f"the probe did not finish in {timeout:.0f} s",
                "torch_error": f"the probe did not finish in {timeout:.0f} s"}
    lines = res.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return {"jax_error": f"the probe failed: {tail}", "torch_error": f"the probe failed: {tail}"}


def run_smoke(out: Path, timeout: float, no_torch: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.device.smoke", "--out", str(out / "smoke.json"),
           *(["--no-torch"] if no_torch else [])]
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
    from tdmpc_parity.app.pytest_env import child_pytest_env

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
            # plugin autoloading off: only pytest-benchmark (the bundle's), whatever else the machine has installed
            cmd = [sys.executable, "-m", "pytest", "bench/", "-p", "pytest_benchmark.plugin", "-p", "no:cacheprovider",
                   "-q", "-rsfE",
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
                env = {**child_pytest_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
                rc: int | str = subprocess.run(cmd, cwd=ROOT, env=env,
                                                timeout=max(timeout, 1.0)).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            started, finished = _progress(progress)
            crashed = [n for n in started if n not in finished]
            attempts.append({"attempt": attempt, "rc": rc, "seconds": round(time.monotonic() - t0, 1),
                             "cases_finished": len(finished), "crashed": crashed})
            if not crashed:  # pytest ended on its own (passed, failed, usage or internal error): a retry repeats it
                if rc not in (0, 1, 5):
                    log(f"bench attempt {attempt} ended with rc {rc} and no case cut short: no retry")
                break
            log(f"bench attempt {attempt} died in a case (rc {rc}); crashed case(s): {crashed}; retrying the rest")
            deselect += finished + crashed
    return attempts


STAGES = ("all", "probe", "train")
PROBE_SELECTION = "not train_iteration"  # the cheap cases: env_step, update, plan
TRAIN_SELECTION = "train_iteration"


def bench_records(out: Path) -> list[dict[str, Any]]:
    """Every benchmark record of the JSON files under OUT/<machine-slug>/."""
    records = []
    for f in sorted(p for p in out.glob("*/*.json") if p.is_file()):
        records.extend(json.loads(f.read_text()).get("benchmarks", []))
    return records


def write_probe(out: Path) -> Path:
    """OUT/probe.json: the probe's records (name, extra_info, median seconds per call) and its cases the budget
    skipped after their first calls (their compile seconds and one call's seconds), which the train stage plans
    from (bench/device/plan.py)."""
    records = [{"name": r["name"], "extra_info": r["extra_info"], "stats": {"median": r["stats"]["median"]}}
               for r in bench_records(out)]
    for f in sorted(p for p in out.glob("*/*.json") if p.is_file()):
        for case in json.loads(f.read_text()).get("skipped_cases", []):
            if "measured" in case:
                m = case["measured"]
                records.append({"name": case["case"].split("::")[-1], "extra_info": m["extra_info"],
                                "stats": {"median": m["call_seconds"]}, "skipped": case["reason"]})
    path = out / "probe.json"
    path.write_text(json.dumps({"records": records}, indent=1) + "\n")
    return path


def train_cases(profile: str) -> dict[str, tuple[Any, ...]]:
    """The train_iteration cases of a bench profile: name -> (backend, iterations per call, updates per call), the
    physics cases (bench/test_bench_physics.py) last and with (task, physics), in the order they run."""
    from bench.protocol import SIZES, physics_cases

    sizes = SIZES[profile]
    cases = {}
    for backend in ("torch", "jax"):
        k = sizes.train_iterations["official"]
        cases[f"test_bench_train_iteration[{backend}-official-E1-mppi]"] = (backend, k, k)
        k, n = sizes.train_iterations["fast"], sizes.fast_n_envs
        for collector in ("policy", "mppi"):
            cases[f"test_bench_train_iteration[{backend}-fast-E{n}-{collector}]"] = (backend, k, k * max(1, n // 4))
    k, n = sizes.train_iterations["fast"], sizes.fast_n_envs  # the paired cases (bench/test_bench_paired.py)
    cases[f"test_bench_paired[train_iteration-fast-E{n}-policy]"] = ("torch+jax", k, k * max(1, n // 4))
    k = sizes.train_iterations["official"]
    cases["test_bench_paired[train_iteration-official-E1-mppi]"] = ("torch+jax", k, k)
    for c in physics_cases(sizes, "train_iteration"):  # after the seed's and the official cases
        k = sizes.train_iterations[c.profile]
        updates = k * (c.n_envs if c.profile == "official" else max(1, c.n_envs // 4))
        # task None: the session's main task, which the plan reads off the probe (a --bench-task session's own)
        cases[f"test_bench_physics_train_iteration[{c.case_id}]"] = ("jax", k, updates, c.task, c.physics)
    return cases


def read_probe(path: Path) -> list[dict[str, Any]]:
    """The records of a probe.json (ValueError with one sentence for a missing or malformed file)."""
    try:
        records = json.loads(Path(path).read_text())["records"]
        if not isinstance(records, list):
            raise TypeError("'records' is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--probe {path}: not the probe.json of a `--stage probe` run ({exc}); run the probe "
                         "first and pass the probe.json it returned") from None
    return records


def check_results(out: Path) -> tuple[int, list[str]]:
    """Read OUT's benchmark JSON as the report does, render OUT/REPORT.md; (records, summary lines)."""
    from tdmpc_parity.analysis.report import build_report, load_results

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
    p = argparse.ArgumentParser(prog="python -m bench.device.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (the device's $OUT)")
    p.add_argument("--profile", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--stage", choices=STAGES, default="all",
                   help="probe: facts, smoke and the cheap cases (env_step, update, plan), writing probe.json; "
                        "train: the training cases, planned from --probe; all: everything in one run")
    p.add_argument("--probe", default=None, help="with --stage train: the probe.json the probe stage returned")
    p.add_argument("--budget", type=float, default=None,
                   help="benchmark seconds, compiles included (default: 420; 170 for --stage probe)")
    p.add_argument("--case-seconds", type=float, default=20.0, help="timed seconds per case at most")
    p.add_argument("--smoke-timeout", type=float, default=240.0)
    p.add_argument("--no-torch", action="store_true",
                   help="a JAX-only run (the CPU rehearsal, whose Python has no torch): the smoke leaves torch out "
                        "and the benchmark skips the torch cases (--bench-backends jax), each with that reason; "
                        "without it a missing torch fails the smoke")
    p.add_argument("--total", type=float, default=None,
                   help="seconds the whole run may take from run.sh's start (a device command is killed at "
                        "600 s): the benchmark budget is cut to fit, and a session still running is killed "
                        "(default: 560; 290 for --stage probe)")
    args = p.parse_args(argv)
    probe_stage = args.stage == "probe"
    args.budget = args.budget if args.budget is not None else (170.0 if probe_stage else 420.0)
    args.total = args.total if args.total is not None else (290.0 if probe_stage else 560.0)
    if args.stage == "train" and not args.probe:
        p.error("--stage train plans from the probe's measurements: give --probe PATH/probe.json")
    probe_records = None
    if args.stage == "train":
        try:
            probe_records = read_probe(Path(args.probe))
        except ValueError as exc:
            p.error(str(exc))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    started = float(os.environ.get("TDMPC_RUN_START") or time.time())  # set by bench/device/run.sh
    end = t0 + args.total - (time.time() - started)  # time.monotonic() at which the whole run must be over

    log("facts")
    summary: dict[str, Any] = {"facts": facts(), "profile": args.profile, "stage": args.stage,
                               "no_torch": args.no_torch, "budget_seconds": args.budget,
                               "case_seconds": args.case_seconds, "pytest_args": pytest_args}
    f = summary["facts"]
    print(f["nvidia_smi"] or "nvidia-smi: not found", flush=True)
    print(json.dumps({"versions": f["versions"], "environment": f["environment"], "cuda": f["cuda"],
                      "machine_slug": f["machine_info"]["machine_slug"],
                      "jax_backend": f["machine_info"].get("jax_backend"),
                      "torch_cuda_available": f["machine_info"].get("torch_cuda_available")}, indent=1), flush=True)

    def write_summary() -> None:
        summary["seconds"] = round(time.monotonic() - t0, 1)
        (out / "device_run.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    write_summary()
    if args.profile == "gpu":
        log("backends")
        probe = summary["backends"] = backend_check(no_torch=args.no_torch)
        log(json.dumps(probe))
        f["cuda"] = cuda_facts((f["cuda"] or {}).get("nvidia_distributions") or {}, probe.get("jax_cuda"))
        problems = gpu_problems(probe, no_torch=args.no_torch)
        if problems:
            summary["stopped"] = "; ".join(problems)
            write_summary()
            log("STOPPED, nothing measured: " + summary["stopped"] + ". Fix the install (see the README's GPU "
                "section) and run again; `--profile cpu` measures on the CPU on purpose.")
            return 2
    if args.stage == "train":  # the probe ran the smoke minutes ago on this machine
        summary["smoke"] = {"passed": True, "skipped": "the train stage relies on the probe's smoke"}
        plan = make_plan(probe_records, train_cases(args.profile))
        (out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
        log(f"plan from the probe: {json.dumps(plan['cases'])}")
        pytest_args = ["-k", TRAIN_SELECTION, "--bench-plan", str(out / "plan.json"), *pytest_args]
    else:
        log("smoke")
        summary["smoke"] = run_smoke(out, args.smoke_timeout, no_torch=args.no_torch)
        log(f"smoke: {'passed' if summary['smoke']['passed'] else 'FAILED'} in {summary['smoke']['seconds']} s")
        if args.stage == "probe":
            pytest_args = ["-k", PROBE_SELECTION, *pytest_args]
    if args.no_torch:
        pytest_args = ["--bench-backends", "jax", *pytest_args]
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
    if args.stage == "probe":
        summary["probe_file"] = str(write_probe(out))
    write_summary()
    log("results:\n" + "\n".join(lines))
    ok = summary["smoke"]["passed"] and n > 0
    log(f"done in {time.monotonic() - t0:.0f} s: {n} records; {'OK' if ok else 'NOT OK'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
