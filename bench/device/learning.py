"""The GPU learning protocol's shortened mode: as many env steps of the official anchor as fit in one device command.

    python -m bench.device.learning --out OUT [--minutes 6] [--task hopper-hop] [--seeds 1,2,3,4,5]
                                    [--backends jax,torch] [--steps 500000] [--eval-freq 5000] [--config FILE]
                                    [OVERRIDES...]

(`bash bench/device/run.sh --learning MINUTES` installs the bundle first and calls this.)

1. Trains, at the same time, JAX with the seeds vmapped in one program (`train --seeds`) and torch with one
   process per seed, all with the official profile and `train --max-minutes MINUTES`: each stops at the first
   episode end after the budget (compile included), checkpointed. Evals every `--eval-freq` agent steps (10
   episodes; step 0 is the untrained agent) give the points of the curve. The run folders live in a temporary
   folder (their checkpoints hold the replay buffer: too large to bring back).
2. While they train, every `SNAPSHOT_SECONDS` and once at the end, OUT/learning/runs.tar.gz is rewritten
   (atomically) with each run's config.json, eval.csv and metrics.csv and every process's log: a command killed
   at its limit still returns what was trained so far.
3. Runs `tdmpc-parity compare ... --official` on the runs: OUT/learning/learning.md and learning_<task>.png.
4. Writes OUT/learning/projection.md and .json: per backend, the env steps each seed reached in the measured
   training seconds, the env steps per second per seed after the first eval (compile and seeding excluded)
   and the projected wall time of the full protocol (1M env steps, 5 seeds) at that rate.

What comes back from a device command is at most 8 files at most 2 folders below its output folder: OUT holds
device_run.log (bench/device/run.sh) and OUT/learning/ these 6 files (compare also writes learning.json),
nothing deeper. `--total` (default 560 s,
counted from bench/device/run.sh's start) ends training early enough that the archive, compare and the projection
are written before the device's 600 s limit, whatever `--minutes` asks.

Exit code 0 when every backend finished (stopped by its budget or its steps) and compare read the runs.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_ENV_STEPS = 1_000_000  # the official anchor: hopper-hop, 1M env steps, 5 seeds per backend
PROTOCOL_SEEDS = 5
KILL_GRACE_SECONDS = 120.0  # past the budget: one episode, its eval and the final checkpoint, else killed
KEPT_FILES = ("config.json", "eval.csv", "metrics.csv")
# the archive of the runs so far is rewritten this often while they train (the variable: for the kill test)
SNAPSHOT_SECONDS = float(os.environ.get("TDMPC_LEARNING_SNAPSHOT_SECONDS", "60"))
FINAL_RESERVE_SECONDS = 45.0  # kept after training for the archive, compare and the projection
ARCHIVE = "runs.tar.gz"


def log(msg: str) -> None:
    print(f"[device_learning {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train_commands(args: argparse.Namespace, work: Path) -> dict[str, list[list[str]]]:
    """The `tdmpc-parity train` command lines per backend (JAX: one; torch: one per seed)."""
    common = ["--task", args.task, "--steps", str(args.steps), "--no-progress", "--max-minutes", f"{args.minutes:g}"]
    if args.config:
        common += ["--config", args.config]
    overrides = [f"eval_freq={args.eval_freq}", "save_every=0", "logger=none", *args.overrides]
    cli = [sys.executable, "-m", "tdmpc_parity.app.cli", "train"]
    seeds = [int(s) for s in args.seeds.split(",")]
    commands: dict[str, list[list[str]]] = {}
    if "jax" in args.backends:
        seed_flag = ["--seeds", args.seeds] if len(seeds) > 1 else ["--seed", str(seeds[0])]
        commands["jax"] = [[*cli, "--backend", "jax", *seed_flag, "--run-dir", str(work / "jax"), *common,
                            *overrides]]
    if "torch" in args.backends:
        commands["torch"] = [[*cli, "--backend", "torch", "--seed", str(s), "--run-dir", str(work / f"torch_s{s}"),
                              *common, *overrides] for s in seeds]
    return commands


def run_all(commands: dict[str, list[list[str]]], logs: Path, deadline: float,
            snapshot: Callable[[], None] = lambda: None) -> dict[str, list[int | None]]:
    """Start every command at once; wait until `deadline` (time.time()), then kill what still runs (None).
    `snapshot()` runs every SNAPSHOT_SECONDS while they run."""
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "disable"), "PYTHONUNBUFFERED": "1",
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # JAX and 5 torch processes share the GPU
    # the CPU cores shared out among the processes (oversubscribed OpenMP threads spin: 100x slower on 2 cores)
    threads = str(max(1, (os.cpu_count() or 1) // sum(len(c) for c in commands.values())))
    env.setdefault("OMP_NUM_THREADS", threads)
    env.setdefault("MKL_NUM_THREADS", threads)
    procs: dict[str, list[subprocess.Popen]] = {}
    for backend, cmds in commands.items():
        procs[backend] = []
        for i, cmd in enumerate(cmds):
            out = open(logs / f"{backend}_{i}.log", "w")  # noqa: SIM115 (closed with the process)
            procs[backend].append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    next_snapshot = time.time() + SNAPSHOT_SECONDS
    while time.time() < deadline and any(p.poll() is None for ps in procs.values() for p in ps):
        time.sleep(min(1.0, max(0.0, deadline - time.time())))
        if time.time() >= next_snapshot:
            snapshot()
            next_snapshot = time.time() + SNAPSHOT_SECONDS
    codes: dict[str, list[int | None]] = {}
    for backend, ps in procs.items():
        codes[backend] = []
        for p in ps:
            try:
                codes[backend].append(p.wait(timeout=max(1.0, deadline - time.time())))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                codes[backend].append(None)
    return codes


def run_folders(work: Path) -> list[Path]:
    """Every run folder under `work` (a JAX --seeds folder holds one per seed)."""
    return sorted(p.parent for p in work.rglob("config.json"))


def keep_small_files(work: Path, dest: Path) -> list[Path]:
    """Copy each run's config, eval and train CSVs (no checkpoint) to `dest`, same layout; the copies."""
    kept = []
    for run in run_folders(work):
        target = dest / run.relative_to(work)
        target.mkdir(parents=True, exist_ok=True)
        for name in KEPT_FILES:
            if (run / name).exists():
                shutil.copy2(run / name, target / name)
        kept.append(target)
    return kept


def write_archive(work: Path, logs: Path, archive: Path) -> None:
    """`archive` (tar.gz, written atomically): runs/<run>/{config.json,eval.csv,metrics.csv} of every run folder
    under `work` and logs/*.log; a file being written is taken as it is."""
    import tarfile

    from tdmpc_parity.core.fsutil import atomic_file

    with atomic_file(archive) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for run in run_folders(work):
            for name in KEPT_FILES:
                if (run / name).exists():
                    tar.add(run / name, arcname=str(Path("runs") / run.relative_to(work) / name))
        for log_file in sorted(logs.glob("*.log")):
            tar.add(log_file, arcname=str(Path("logs") / log_file.name))


def training_deadline(started: float, minutes: float, total: float, run_start: float) -> float:
    """time.time() at which training processes still running are killed: the budget plus one episode's grace,
    but never later than `total` seconds after the run's start less FINAL_RESERVE_SECONDS."""
    return min(started + minutes * 60 + KILL_GRACE_SECONDS, run_start + total - FINAL_RESERVE_SECONDS)


def _rows(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def projection(runs: list[Path], backend_of: dict[Path, str]) -> dict[str, Any]:
    """Per backend: env steps reached, training rate per seed after the first eval, projected protocol hours.

    rate = (env steps at the last train row - env steps at the first eval) / (elapsed there - elapsed at the
    first eval), per seed (a JAX row's elapsed is the program's, shared by its seeds); projected hours =
    1M env steps / rate / 3600 per seed, x 5 seeds for torch (one process per seed, if run one after another)
    and x 1 for JAX (5 seeds vmapped; the rate is already per seed of that program).
    """
    out: dict[str, Any] = {}
    for backend in sorted(set(backend_of.values())):
        reached, rates = [], []
        for run in (r for r in runs if backend_of[r] == backend):
            train, evals = _rows(run / "metrics.csv"), _rows(run / "eval.csv")
            train = [r for r in train if r.get("kind", "train") == "train"]
            if not train:
                continue
            last = train[-1]
            reached.append(int(float(last["env_step"])))
            if evals:
                first = evals[0]
                steps = float(last["env_step"]) - float(first["env_step"])
                seconds = float(last["elapsed"]) - float(first["elapsed"])
                if steps > 0 and seconds > 0:
                    rates.append(steps / seconds)
        rate = float(sum(rates) / len(rates)) if rates else None
        serial = PROTOCOL_SEEDS if backend == "torch" else 1
        out[backend] = {"runs": len(reached), "env_steps_reached": reached,
                        "env_steps_per_second_per_seed": rate,
                        "projected_hours_1M_5_seeds": None if not rate else PROTOCOL_ENV_STEPS / rate / 3600 * serial}
    return out


def projection_markdown(proj: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"# Shortened learning run: {args.task}, seeds {args.seeds}, --max-minutes {args.minutes:g}", "",
             "| backend | runs | env steps reached (per seed) | env steps/s per seed (after the first eval) | "
             f"projected wall time, {PROTOCOL_ENV_STEPS:,} env steps x {PROTOCOL_SEEDS} seeds |",
             "|---|---|---|---|---|"]
    for backend, p in proj.items():
        rate = p["env_steps_per_second_per_seed"]
        hours = p["projected_hours_1M_5_seeds"]
        how = "one program, seeds vmapped" if backend == "jax" else "one process per seed, one after another"
        lines.append(f"| {backend} | {p['runs']} | {', '.join(map(str, p['env_steps_reached']))} | "
                     f"{'-' if rate is None else f'{rate:.1f}'} | "
                     f"{'-' if hours is None else f'{hours:.1f} h ({how})'} |")
    lines += ["", "The rate is measured while the backends share this machine (JAX and every torch seed at once): "
              "a projection, not a benchmark (`pytest bench/` measures speed)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.device.learning", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (the device's $OUT)")
    p.add_argument("--minutes", type=float, default=6.0, help="training budget per backend, compile included")
    p.add_argument("--task", default="hopper-hop")
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--backends", default="jax,torch", help="comma-separated: jax, torch")
    p.add_argument("--steps", type=int, default=500_000, help="agent steps if the budget allowed (1M env steps)")
    p.add_argument("--eval-freq", type=int, default=5_000, help="agent steps between evals (10k env steps)")
    p.add_argument("--config", default=None,
                   help="a config file or a shipped config's name (e.g. tiny for a CPU dry run)")
    p.add_argument("--total", type=float, default=560.0,
                   help="seconds the whole run may take from bench/device/run.sh's start (TDMPC_RUN_START; a device "
                        "command is killed at 600 s): training stops early enough to write everything")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides for every run")
    args = p.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    unknown = sorted(set(args.backends) - {"jax", "torch"})
    if unknown or not args.backends:
        p.error(f"--backends: unknown backend {unknown[0] if unknown else '(none)'}; use jax, torch or both")
    if not args.minutes > 0:
        p.error(f"--minutes must be > 0, got {args.minutes:g}")

    out = Path(args.out) / "learning"
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    run_start = float(os.environ.get("TDMPC_RUN_START") or started)
    deadline = training_deadline(started, args.minutes, args.total, run_start)
    if deadline < started + args.minutes * 60:
        log(f"training cut to {(deadline - started) / 60:.1f} min to end within --total {args.total:.0f} s")
    with tempfile.TemporaryDirectory(prefix="tdmpc-learning-") as tmp:
        work, logs = Path(tmp) / "runs", Path(tmp) / "logs"
        logs.mkdir()
        commands = train_commands(args, work)
        for backend, cmds in commands.items():
            log(f"{backend}: {len(cmds)} process(es): {' '.join(cmds[0][2:])}")
        snapshot = lambda: write_archive(work, logs, out / ARCHIVE)  # noqa: E731
        codes = run_all(commands, logs, deadline, snapshot)
        log(f"exit codes {codes} after {time.time() - started:.0f} s")
        snapshot()
        kept = keep_small_files(work, Path(tmp) / "kept")
        backend_of = {run: ("jax" if run.relative_to(Path(tmp) / "kept").parts[0] == "jax" else "torch")
                      for run in kept}
        proj = projection(kept, backend_of)
        (out / "projection.json").write_text(json.dumps(proj, indent=2) + "\n")
        (out / "projection.md").write_text(projection_markdown(proj, args))
        print(projection_markdown(proj, args))
        evaluated = [r for r in kept if (r / "eval.csv").exists()]
        for run in sorted(set(kept) - set(evaluated)):
            log(f"{run.name}: no eval row (killed before its first eval?): left out of compare")
        from tdmpc_parity.app.cli import main as cli

        compared = bool(evaluated) and cli(["compare", *map(str, evaluated), "--official", "--out", str(out)]) == 0
    ok = compared and all(c == 0 for cs in codes.values() for c in cs)
    log(f"{'done' if ok else 'FAILED'}: {out} ({time.time() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
