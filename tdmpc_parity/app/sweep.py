"""`tdmpc-parity sweep`: a sweep file's trials (tdmpc_parity/app/sweep_spec.py) as Ray tasks, each trial a
`python -m tdmpc_parity train ...` subprocess writing an ordinary run folder; crash/kill -> resume; a summary.

Why Ray core tasks (`ray.remote` + `ray.wait`) and not Ray Tune: a sweep here is a fixed grid of complete
training runs (no search algorithm, no early-stopping scheduler), and everything a trial produces, its metrics,
checkpoints and exact resume, already lives in the run folder and `train --resume`. A core task per trial gets
what Ray is needed for: placement on a machine or a cluster with the trial's CPUs and GPUs (a GPU fraction lets
several trials share one GPU), concurrency limited by those resources, and re-execution when a worker or node
dies, without Tune's own trial folders, result reporting and checkpoint format (or its extra dependencies).

Faults. A trial's Ray task runs its subprocess; when that exits with a signal or an error other than a refused
config (exit 2) or a non-finite value (exit 3: resuming would repeat it), the task starts it again, resumed from
the run's last checkpoint (`train --resume RUN_DIR`, exact on CPU) or from scratch when it has none yet, up to
`retries` times. The subprocess dies with its Ray worker (Linux: PR_SET_PDEATHSIG), so a dead driver leaves no
trial running; nor any process of the local Ray instance: Ray ties its GCS and raylet to the driver, but the
raylet's two agents (ray::DashboardAgent, ray::RuntimeEnvAgent; Ray 2.x starts both even without a dashboard)
notice their raylet's death and then hang trying to report it to the dead GCS, ignoring SIGTERM. A watchdog
process (`RayWatchdog`, its own session, so a kill of the driver's process group spares it) records the driver's
descendants while it runs and SIGKILLs those still alive once the driver is gone, whatever killed it.
`sweep --resume SWEEP_DIR` then runs every trial not marked done, resuming each from its checkpoint. A trial is
marked done (atomically, tdmpc_parity/core/fsutil.py) only after its process exited 0, and a done trial is never started
again.

SWEEP_DIR/
  sweep.json              the sweep (name, resources, retries, every trial); written once, read by --resume
  sweep.yaml              the sweep file as given
  trials/<trial>/         the trial's run folder (a JAX trial: <trial>/seed_<s>/ per seed)
  state/<trial>.json      status (running | done | failed) and attempts (command, exit code, host, pid, times)
  logs/<trial>.log        the output of every attempt
  summary.md              per setting: final and best eval return, mean and 95 % bootstrap CI over seeds
  learning.md, learning_<task>.png   tdmpc_parity/analysis/compare.py's learning curves of the trial run folders
summary.md and the learning curves are computed from the run folders alone (`summarize`).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.app.sweep_spec import Resources, SweepSpec, Trial
from tdmpc_parity.core.checkpoints import CheckpointError, read_latest
from tdmpc_parity.core.fsutil import atomic_write_text
from tdmpc_parity.core.task_registry import TASK_MODULE_ENV, task_module_args

SWEEP_FILE, SPEC_COPY, SUMMARY = "sweep.json", "sweep.yaml", "summary.md"
TRIALS, STATE, LOGS = "trials", "state", "logs"
NO_RETRY = {2: "the command or config was refused (exit 2)", 3: "a non-finite value stopped the run (exit 3)"}
RAY_HINT = "pip install -e '.[sweep]' (or: pip install 'ray[client]>=2.40')"


class SweepError(ValueError):
    """A sweep that cannot start or continue: the message says why and what to do."""


# ----------------------------------------------------------------------------------------------------------
# Trial state and commands (run inside the Ray task)
# ----------------------------------------------------------------------------------------------------------


def trial_dir(sweep_dir: str | Path, name: str) -> Path:
    return Path(sweep_dir) / TRIALS / name


def state_path(sweep_dir: str | Path, name: str) -> Path:
    return Path(sweep_dir) / STATE / f"{name}.json"


def read_state(sweep_dir: str | Path, name: str) -> dict[str, Any]:
    """The trial's state; {"status": "pending", "attempts": []} before its first attempt."""
    path = state_path(sweep_dir, name)
    if not path.exists():
        return {"name": name, "status": "pending", "attempts": []}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise SweepError(f"{str(path)!r} is not valid JSON ({exc}); delete it to run the trial again") from None


def write_state(sweep_dir: str | Path, state: dict[str, Any]) -> None:
    state["updated"] = time.time()
    atomic_write_text(state_path(sweep_dir, state["name"]), json.dumps(state, indent=2))


def checkpoint_step(run_dir: str | Path, seeds: tuple[int, ...]) -> int | None:
    """Agent step of the last complete checkpoint of the trial's run folder (of every seed folder of a JAX
    `--seeds` trial); None when it has none."""
    run_dir = Path(run_dir)
    folders = [run_dir] if len(seeds) == 1 else [run_dir / f"seed_{s}" for s in seeds]
    steps = []
    for folder in folders:
        try:
            found = read_latest(folder)
        except CheckpointError:
            return None
        if found is None:
            return None
        steps.append(int(found[1]["agent_step"]))
    return min(steps)


def attempt_args(trial: Trial, run_dir: Path) -> tuple[list[str], int | None]:
    """(`tdmpc-parity` arguments, the checkpoint's agent step or None): resume from the last checkpoint, else
    start afresh (replacing what a run without a checkpoint left)."""
    step = checkpoint_step(run_dir, trial.seeds)
    if step is not None:
        return ["train", "--resume", str(run_dir), "--no-progress"], step
    return trial.train_args(run_dir), None


def child_env(resources: Resources) -> dict[str, str]:
    """The trial's environment: as the worker's, with OpenMP threads = its CPUs (so a resumed attempt reduces
    in the same order as the first), and JAX allocating GPU memory on demand when it has a fraction of a GPU."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(max(1, int(resources.cpus)))
    env.setdefault("MUJOCO_GL", "disable")
    if 0 < resources.gpus < 1:
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


def _pdeathsig() -> Callable[[], None] | None:
    """A preexec function that makes the child get SIGKILL when its parent dies (Linux prctl); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # loaded before the fork: the child only calls it
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def run_trial(trial_data: dict[str, Any], sweep_dir: str, retries: int, resources: dict[str, float]) -> dict[str, Any]:
    """The Ray task of one trial: attempts until its process exits 0, fails for good, or `retries` resumed
    attempts are used up; returns the final state. A trial already done returns at once."""
    trial, sweep_dir_p, res = Trial.from_dict(trial_data), Path(sweep_dir), Resources(**resources)
    state = read_state(sweep_dir_p, trial.name)
    if state["status"] == "done":
        return state
    run_dir = trial_dir(sweep_dir_p, trial.name)
    log_path = sweep_dir_p / LOGS / f"{trial.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env, preexec = child_env(res), _pdeathsig()
    for attempt in range(retries + 1):
        args, resumed_from = attempt_args(trial, run_dir)
        cmd = [sys.executable, "-m", "tdmpc_parity", *args, *task_module_args()]  # the driver's --task-module
        record: dict[str, Any] = {"command": cmd, "resumed_from_agent_step": resumed_from,
                                  "host": socket.gethostname(), "start": time.time()}
        state.update(status="running")
        state["attempts"].append(record)
        with log_path.open("a") as log:
            log.write(f"=== attempt {attempt + 1} on {record['host']}: {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec,
                                    cwd=sweep_dir_p)
            record["pid"] = proc.pid
            write_state(sweep_dir_p, state)
            try:
                rc = proc.wait()
            finally:
                if proc.poll() is None:  # the task was cancelled: take the trial down with it
                    proc.kill()
                    proc.wait()
            log.write(f"=== attempt {attempt + 1} exited with {rc}\n")
        record.update(returncode=rc, end=time.time())
        if rc == 0:
            state.update(status="done")
            write_state(sweep_dir_p, state)
            return state
        if rc in NO_RETRY:
            state.update(status="failed", reason=NO_RETRY[rc])
            write_state(sweep_dir_p, state)
            return state
        write_state(sweep_dir_p, state)
    state.update(status="failed", reason=f"exit code {rc} after {retries + 1} attempts (retries={retries})")
    write_state(sweep_dir_p, state)
    return state


# ----------------------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------------------


def _plan(spec: SweepSpec) -> dict[str, Any]:
    return {"name": spec.name, "source": spec.source, "retries": spec.retries,
            "resources": {"cpus": spec.resources.cpus, "gpus": spec.resources.gpus},
            "trials": [t.to_dict() for t in spec.trials]}


def create_sweep_dir(spec: SweepSpec, sweep_dir: str | Path) -> Path:
    """A new sweep folder holding sweep.json and the sweep file; a folder already holding a sweep is refused."""
    sweep_dir = Path(sweep_dir)
    if (sweep_dir / SWEEP_FILE).exists():
        raise SweepError(f"{str(sweep_dir)!r} already holds a sweep: continue it with --resume {sweep_dir}, or "
                         "choose another --out")
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise SweepError(f"{str(sweep_dir)!r} exists and is not empty: choose another --out")
    (sweep_dir / TRIALS).mkdir(parents=True, exist_ok=True)
    if spec.source and Path(spec.source).is_file():
        shutil.copyfile(spec.source, sweep_dir / SPEC_COPY)
    atomic_write_text(sweep_dir / SWEEP_FILE, json.dumps(_plan(spec), indent=2))
    return sweep_dir


def load_plan(sweep_dir: str | Path) -> tuple[list[Trial], Resources, int, str]:
    """(trials, resources, retries, name) of a sweep folder's sweep.json."""
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.exists():
        raise SweepError(f"{str(sweep_dir)!r} is not a sweep folder (no {SWEEP_FILE}); start a sweep with "
                         "`tdmpc-parity sweep SWEEP.yaml --out DIR`")
    try:
        data = json.loads(path.read_text())
        trials = [Trial.from_dict(t) for t in data["trials"]]
        plan = (trials, Resources(**data["resources"]), int(data["retries"]), str(data["name"]))
    except (json.JSONDecodeError, RecursionError, KeyError, TypeError) as exc:
        raise SweepError(f"{str(path)!r} is not a valid sweep plan: {exc}") from None
    bad = [t.name for t in trials if not SAFE_TRIAL_NAME.fullmatch(str(t.name))]
    if bad:  # a name becomes a folder and a file name: "../x" would write outside the sweep folder
        raise SweepError(f"{str(path)!r} is not a valid sweep plan: trial name {bad[0]!r} is not a plain name "
                         "(letters, digits and ._=,+@~-; no '/', not '.' or '..')")
    return plan


# what a trial's name may hold (tdmpc_parity/app/sweep_spec.py builds names from task, backend, seed and grid values)
SAFE_TRIAL_NAME = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._=,+@~-]+")


def _alive_elsewhere(state: dict[str, Any]) -> int | None:
    """The pid of the trial's last attempt when it is still running on this host (its driver died but it did
    not), else None."""
    if state.get("status") != "running" or not state.get("attempts"):
        return None
    last = state["attempts"][-1]
    if last.get("host") != socket.gethostname() or "returncode" in last or not last.get("pid"):
        return None
    try:
        os.kill(int(last["pid"]), 0)
    except (ProcessLookupError, PermissionError):
        return None
    try:  # a recycled pid is not our trial: it must be a `tdmpc_parity train` of this trial's folder
        cmdline = Path(f"/proc/{last['pid']}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return int(last["pid"])
    return int(last["pid"]) if "tdmpc_parity" in cmdline and state["name"] in cmdline else None


def import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError(f"`sweep` runs its trials on Ray, which is not installed: {RAY_HINT}") from None
    return ray


def start_ray(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Connect to `address` (ray://host:port or auto), or start a local Ray instance in this process (no
    dashboard, `num_cpus` CPUs, default all of this machine's). Returns whether this call started or
    connected it (so the caller shuts it down); an instance already running in this process is used as is.
    On a cluster, the driver's task module (TASK_MODULE_ENV) is set on its workers through Ray's runtime_env (a
    local instance's workers inherit it); a file must exist at the same path there."""
    if ray.is_initialized():
        return False
    if address:
        module = os.environ.get(TASK_MODULE_ENV, "")
        runtime_env = {"env_vars": {TASK_MODULE_ENV: module}} if module else None
        try:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise SweepError(f"cannot connect to the Ray cluster at {address!r}: {exc} (start one with `ray start "
                             "--head`, or leave out --address for a local Ray instance)") from None
    else:
        # address="local": a new instance even where a `ray start` cluster runs (or its address file was left)
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 log_to_driver=False)
    return True


WATCHDOG_TAG = "tdmpc-parity-ray-watchdog"  # in the watchdog's command line, with the driver's pid


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in clock ticks after boot) of every process (Linux /proc)."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        rest = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid ... starttime (22nd field)
        out[int(entry.name)] = (int(rest[1]), int(rest[19]))
    return out


def descendants(root: int, table: dict[int, tuple[int, int]] | None = None,
                exclude: frozenset[int] = frozenset()) -> dict[int, int]:
    """pid -> start time of every live descendant of `root`, except the processes in `exclude` and theirs."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, int] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out and child not in exclude:
                out[child] = table[child][1]
                stack.append(child)
    return out


def watchdog(driver_pid: int, exclude: frozenset[int] = frozenset(), interval: float = 0.5) -> int:
    """The watchdog process: record the driver's descendants (pid and start time; not the children in `exclude`,
    which the driver had before Ray), say `ready` on stdout, and record them again every `interval` s until its
    stdin, a pipe only the driver holds, reaches end of file (the driver exited or was killed); then SIGKILL every
    recorded process still alive with the same start time (a reused pid is left alone). Returns how many."""
    me = os.getpid()
    seen = descendants(driver_pid, exclude=exclude)
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([0], [], [], interval)
        if readable and not os.read(0, 4096):
            break
        seen.update(descendants(driver_pid, exclude=exclude))
    table = process_table()
    killed = 0
    for pid, start in seen.items():
        if pid != me and pid in table and table[pid][1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


class RayWatchdog:
    """The driver's end of the watchdog (`watchdog`): start it after the local Ray instance, close it after
    `ray.shutdown()`. Linux only (/proc); elsewhere `start` returns None."""

    def __init__(self, proc: subprocess.Popen, write_fd: int) -> None:
        self.proc, self.write_fd = proc, write_fd

    @classmethod
    def start(cls, exclude: frozenset[int] = frozenset()) -> RayWatchdog | None:
        """Start the watchdog of this process; `exclude`: its children from before Ray (left alone)."""
        if not sys.platform.startswith("linux") or not Path("/proc/self/stat").exists():
            return None
        read_fd, write_fd = os.pipe()  # not inheritable: Ray's processes never hold the write end
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        code = ("import sys; from tdmpc_parity.app.sweep import watchdog; "
                "watchdog(int(sys.argv[1]), frozenset(int(p) for p in sys.argv[2].split(',') if p))")
        proc = subprocess.Popen([sys.executable, "-c", code, str(os.getpid()), ",".join(map(str, sorted(exclude))),
                                 WATCHDOG_TAG], stdin=read_fd,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        os.close(read_fd)
        dog = cls(proc, write_fd)
        ready, _, _ = select.select([proc.stdout], [], [], 60.0)  # its first record holds the Ray processes
        if not ready or proc.stdout.readline().strip() != b"ready":
            dog.close()
            raise SweepError("the watchdog of the local Ray instance did not start "
                             "(tdmpc_parity/app/sweep.py RayWatchdog); "
                             "run with --address to use a Ray cluster started with `ray start --head` instead")
        proc.stdout.close()
        return dog

    def close(self, timeout: float = 30.0) -> None:
        """End of file for the watchdog: it kills what the driver's Ray instance left, and exits."""
        os.close(self.write_fd)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _check_feasible(ray: Any, res: Resources, local: bool, echo: Callable[[str], None]) -> None:
    total = ray.cluster_resources()
    have = {"cpus": float(total.get("CPU", 0)), "gpus": float(total.get("GPU", 0))}
    short = [k for k in ("cpus", "gpus") if getattr(res, k) > have[k]]
    if short:
        k = short[0]
        msg = (f"one trial asks for {getattr(res, k):g} {k} (`resources.{k}` of the sweep file) but the Ray "
               f"instance has {have[k]:g}")
        if local:
            raise SweepError(msg + ": lower it, or run on a cluster that has them (--address)")
        echo(f"sweep: warning: {msg}; the trials wait until the cluster has them (autoscaling)")


def run_sweep(spec: SweepSpec | None = None, out: str | Path | None = None, resume: str | Path | None = None,
              address: str | None = None, num_cpus: int | None = None,
              echo: Callable[[str], None] = print) -> int:
    """Run (or with `resume`, continue) a sweep; ends with `summarize`. 0 when every trial is done, else 1."""
    if resume is not None:
        sweep_dir = Path(resume)
        trials, res, retries, name = load_plan(sweep_dir)
    else:
        if spec is None or out is None:
            raise SweepError("a new sweep needs its sweep file and a folder (--out)")
        sweep_dir = create_sweep_dir(spec, out)
        trials, res, retries, name = spec.trials, spec.resources, spec.retries, spec.name
    states = {t.name: read_state(sweep_dir, t.name) for t in trials}
    for t in trials:
        pid = _alive_elsewhere(states[t.name])
        if pid is not None:
            raise SweepError(f"trial {t.name} is still running as pid {pid} on this host (its sweep driver died but "
                             "it did not): stop it or let it finish, then --resume again")
    todo = [t for t in trials if states[t.name]["status"] != "done"]
    echo(f"sweep {name}: {len(trials)} trials, {len(trials) - len(todo)} done before, {len(todo)} to run; "
         f"folder {sweep_dir}")
    if todo:
        _run_on_ray(todo, sweep_dir, res, retries, address, num_cpus, echo)
    files = summarize(sweep_dir)
    for line in files[0].read_text().splitlines():
        if line.startswith("|"):  # the summary table
            echo(line)
    for path in files:
        echo(str(path))
    final = {t.name: read_state(sweep_dir, t.name) for t in trials}
    failed = [n for n, s in final.items() if s["status"] != "done"]
    for n in failed:
        echo(f"sweep: trial {n} {final[n]['status']}: {final[n].get('reason', '')} (log: "
             f"{sweep_dir / LOGS / (n + '.log')}); `tdmpc-parity sweep --resume {sweep_dir}` tries it again")
    return 1 if failed else 0


def _run_on_ray(todo: list[Trial], sweep_dir: Path, res: Resources, retries: int, address: str | None,
                num_cpus: int | None, echo: Callable[[str], None]) -> None:
    ray = import_ray()
    local = not address and not ray.is_initialized()
    before = frozenset(descendants(os.getpid())) if local and sys.platform.startswith("linux") else frozenset()
    started = start_ray(ray, address, num_cpus)
    dog = RayWatchdog.start(exclude=before) if local and started else None  # nothing of it may outlive us
    try:
        _check_feasible(ray, res, local=not address, echo=echo)
        task = ray.remote(run_trial)
        opts = {"num_cpus": res.cpus, "num_gpus": res.gpus, "max_retries": retries, "retry_exceptions": False}
        args = (str(sweep_dir.resolve()), retries, {"cpus": res.cpus, "gpus": res.gpus})
        refs = {task.options(**opts, name=f"trial:{t.name}").remote(t.to_dict(), *args): t for t in todo}
        start, finished = time.time(), 0
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                trial = refs.pop(ref)
                finished += 1
                try:
                    state = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the worker or node died more than `retries` times
                    state = read_state(sweep_dir, trial.name)
                    state.update(status="failed", reason=f"its Ray task failed: {type(exc).__name__}: {exc}"[:2000])
                    write_state(sweep_dir, state)
                attempts = len(state.get("attempts", []))
                echo(f"[{finished}/{len(todo)}] {trial.name}: {state['status']} after {attempts} attempt(s) "
                     f"({time.time() - start:.0f} s into the sweep)")
    finally:
        if started:
            ray.shutdown()
        if dog is not None:
            dog.close()


# ----------------------------------------------------------------------------------------------------------
# Summary, from the run folders alone
# ----------------------------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:,.1f}"


def _mean_ci(values: np.ndarray) -> str:
    from tdmpc_parity.core.stats import mean_ci

    mean, lo, hi = mean_ci(values)
    return _num(mean) + ("" if not np.isfinite(lo) else f" [{_num(lo)}, {_num(hi)}]")


def summary_rows(groups: list[Any]) -> list[dict[str, Any]]:
    """Per group (backend, task, config): seeds, the last env step all its seeds evaluated, and over seeds the
    final return (at that step) and the best return (each seed's highest eval return up to it)."""
    from tdmpc_parity.analysis.compare import differing_keys, final_step
    from tdmpc_parity.core.config import DERIVED_FIELDS

    rows = []
    for g in groups:
        same_task = [h.config for h in groups if h.task == g.task]
        keys = [k for k in differing_keys(same_task) if k not in DERIVED_FIELDS]
        step = final_step([g])
        final = np.array([r.returns[np.searchsorted(r.steps, step)] for r in g.runs]) if step is not None else []
        best = np.array([r.returns[r.steps <= step].max() for r in g.runs]) if step is not None else []
        rows.append({"task": g.task, "backend": g.backend, "key": g.key,
                     "setting": ", ".join(f"{k}={g.config.get(k)}" for k in keys) or "–", "seeds": g.seeds,
                     "step": step, "final": np.asarray(final, float), "best": np.asarray(best, float)})
    order = {"torch": 0, "jax": 1}
    return sorted(rows, key=lambda r: (r["task"], r["setting"], order.get(r["backend"], 2)))


def render_summary(rows: list[dict[str, Any]], skipped: list[str]) -> str:
    out = ["# Sweep summary", "",
           "Per setting (a backend, task and config; seeds pooled): the seeds, the last env step every seed "
           "evaluated, and over the seeds the final eval return (at that step) and the best eval return (each "
           "seed's highest up to it): mean [95 % percentile-bootstrap CI of the mean] "
           "(tdmpc_parity/core/stats.py; no CI "
           "with one seed). Read from the trials' run folders (config.json, eval.csv); the setting shows the "
           "config keys in which the task's settings differ, `[hash]` names the whole config as in learning.md.",
           "", "| task | backend | setting | seeds | env step | final return | best return |",
           "|---|---|---|---|---:|---|---|"]
    for r in rows:
        step = "–" if r["step"] is None else f"{r['step']:,}"
        out.append(f"| {r['task']} | {r['backend']} | {r['setting']} `[{r['key']}]` | "
                   f"{len(r['seeds'])} ({', '.join(map(str, r['seeds']))}) | {step} | {_mean_ci(r['final'])} | "
                   f"{_mean_ci(r['best'])} |")
    if skipped:
        out += ["", "Not in the table (no eval rows yet):", ""] + [f"- {s}" for s in skipped]
    return "\n".join(out) + "\n"


def summarize(sweep_dir: str | Path) -> list[Path]:
    """summary.md, plus learning.md and learning_<task>.png (tdmpc_parity/analysis/compare.py) of every trial run
    folder with
    eval rows; returns the files written."""
    from tdmpc_parity.analysis.compare import compare, group_runs, load_seed_run
    from tdmpc_parity.analysis.runs import seed_dirs

    sweep_dir = Path(sweep_dir)
    root = sweep_dir / TRIALS
    folders = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    runs, skipped = [], []
    for folder in folders:
        for run in seed_dirs(folder) or [folder]:
            try:
                runs.append(load_seed_run(run))
            except ValueError as exc:
                skipped.append(f"`{run.relative_to(sweep_dir)}`: {exc}")
    groups = group_runs(runs)
    path = atomic_write_text(sweep_dir / SUMMARY, render_summary(summary_rows(groups), skipped))
    files = [path]
    if runs:
        files += compare([r.path for r in runs], sweep_dir).files
    return files
