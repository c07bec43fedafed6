"""The console command `tdmpc-parity`: train, info, plot, compare, report, parity, bench and the CPU quick check.

Backends are imported only when a command needs one; a missing backend is one clear sentence.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.config import PROFILES, Config, load_config
from harness.runlog import NonFiniteError

BACKEND_MODULES = {"torch": "torch_ref", "jax": "jax_impl"}
INSTALL_HINT = {"torch": "pip install torch==2.13.0 -e '.[torch]'", "jax": "pip install -e '.[jax]'"}


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def backend_module(backend: str, name: str):
    """Import `<backend package>.<name>`; a backend that is not installed is a CLIError saying how to install."""
    if backend not in BACKEND_MODULES:
        raise CLIError(f"unknown backend {backend!r}; choose torch or jax")
    framework = "torch" if backend == "torch" else "jax"
    if importlib.util.find_spec(framework) is None:
        raise CLIError(f"backend {backend!r} is not installed (no module {framework!r}): {INSTALL_HINT[backend]}")
    return importlib.import_module(f"{BACKEND_MODULES[backend]}.{name}")


# ----------------------------------------------------------------------------------------------------------
# Config from flags
# ----------------------------------------------------------------------------------------------------------


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=sorted(BACKEND_MODULES), default=None, help="torch (default) or jax")
    p.add_argument("--task", default=None, help="official task name, e.g. hopper-hop")
    p.add_argument("--profile", choices=sorted(PROFILES), default="official")
    p.add_argument("--config", default=None, metavar="YAML", help="YAML file of key: value overrides")
    p.add_argument("--glass", default=None, metavar="PRESET", help="Glass preset: off, phase0, phase1, phase1b, phase2")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. model_size=1")


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The config of the flags; a flag given beats the YAML file (so a run's config.json keeps its backend)."""
    values: dict[str, Any] = {}
    if args.backend is not None:
        values["backend"] = args.backend
    if args.task is not None:
        values["task"] = args.task
    if args.glass is not None:
        values["glass"] = args.glass
    values.update(extra or {})
    return load_config(args.profile, args.config, args.overrides, values)


# ----------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    counts = backend_module(cfg.backend, "train").param_counts(cfg)
    out = {"backend": cfg.backend, "task": cfg.task, "param_counts": counts, "config": cfg.to_dict()}
    if cfg.glass.enabled:
        out["glass"] = cfg.to_dict()["glass"]
    print(json.dumps(out, indent=2))
    return 0


def _default_run_dir(cfg: Config, seeds: list[int]) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tag = f"s{seeds[0]}" if len(seeds) == 1 else "s" + "_".join(map(str, seeds))
    return Path("runs") / f"{cfg.task}-{cfg.backend}-{tag}-{stamp}"


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        if args.overwrite:
            raise CLIError("--resume and --overwrite exclude each other")
        from harness.runlog import is_run_dir, read_config

        seed_dirs = sorted(Path(args.resume).glob("seed_*"), key=lambda p: int(p.name[5:]))
        multi = not is_run_dir(Path(args.resume)) and seed_dirs and all(is_run_dir(d) for d in seed_dirs)
        cfg = read_config(seed_dirs[0] if multi else args.resume)
        given = {k: v for k, v in (("steps", args.steps),) if v is not None}
        conflicting = [a for a in ("task", "glass", "config") if getattr(args, a) is not None] + list(args.overrides)
        if args.seed is not None and args.seed != cfg.seed:
            conflicting.append(f"--seed {args.seed}")
        if args.backend is not None and args.backend != cfg.backend:
            conflicting.append(f"--backend {args.backend}")
        if conflicting:
            raise CLIError(f"--resume takes the config from {args.resume}; remove the conflicting option "
                           f"{conflicting[0]!r} (only --steps may extend a resumed run)")
        if given:
            cfg = load_config(cfg.profile, None, None, {**_saved_values(cfg), **given})
        mod = backend_module(cfg.backend, "train")
        if multi:  # a --seeds run: RUN_DIR/seed_<s>/ per seed
            seeds = [int(d.name[5:]) for d in seed_dirs]
            return mod.train_seeds(cfg, seeds, Path(args.resume), resume=True, progress=not args.no_progress)
        return mod.train(cfg, Path(args.resume), resume=True, progress=not args.no_progress)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed] if args.seed is not None else []
    extra: dict[str, Any] = {"seed": seeds[0]} if seeds else {}  # else the config's seed (default 1)
    if args.steps is not None:
        extra["steps"] = args.steps
    cfg = config_from_args(args, extra)
    seeds = seeds or [cfg.seed]
    run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(cfg, seeds)
    mod = backend_module(cfg.backend, "train")
    if len(seeds) > 1:
        if cfg.backend != "jax":
            raise CLIError("--seeds (several seeds vmapped in one program) needs --backend jax")
        return mod.train_seeds(cfg, seeds, run_dir, overwrite=args.overwrite, progress=not args.no_progress)
    return mod.train(cfg, run_dir, overwrite=args.overwrite, progress=not args.no_progress)


def _saved_values(cfg: Config) -> dict[str, Any]:
    from harness.config import DERIVED_FIELDS

    data = cfg.to_dict()
    glass = data.pop("glass")
    out = {k: v for k, v in data.items() if k not in DERIVED_FIELDS and k != "profile"}
    out.update({f"glass.{k}": v for k, v in glass.items()})
    return out


def cmd_plot(args: argparse.Namespace) -> int:
    """Write the PNGs; then say why a run's Glass plots are empty (Glass off, never active, no diagnostics)."""
    from harness.plots import expand_runs, glass_notes, plot_runs

    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "plots"
    paths = [Path(d) for d in args.run_dirs]
    for path in plot_runs(paths, out):
        print(path)
    for run_dir, _ in expand_runs(paths):
        for note in glass_notes(run_dir):
            print(f"note: {note}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Learning curves over seeds per backend/task/config: learning_<task>.png, learning.md, backend tests."""
    from harness.compare import compare, overall_verdict

    paths = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else paths[0].resolve().parent / "compare"
    result = compare(paths, out, official=args.official)
    for path in result.files:
        print(path)
    for group in result.groups:
        print(f"{group.task}: {group.label}: {len(group.runs)} seed(s)")
    for test in result.tests:
        print(f"{test.task} [{test.key}] torch vs jax at env step {test.step}: {overall_verdict(test)} "
              f"(Welch p = {test.welch_p:.3g}, Mann-Whitney p = {test.mwu_p:.3g})")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness import report

    argv = [args.results_dir]
    if args.out:
        argv += ["--out", args.out]
    if args.no_charts:
        argv.append("--no-charts")
    return report.main(argv)


def repo_root() -> Path:
    """The source checkout the harness package was imported from (harness/ sits at its root)."""
    return Path(__file__).resolve().parents[1]


def suite_dir(name: str) -> Path:
    """The repository's `parity/` or `bench/` folder; CLIError when the package is not run from a checkout."""
    path = repo_root() / name
    if not path.is_dir():
        raise CLIError(f"the test folder {str(path)!r} is not there: `tdmpc-parity {name}` runs the repository's "
                       f"{name}/ suite, so install from a source checkout with `pip install -e .` (a non-editable "
                       "install has the packages only)")
    return path


def _pytest(suite: str, argv: list[str]) -> int:
    """pytest on the repository's `suite` folder, run in the repository root (its pytest settings apply)."""
    cmd = [sys.executable, "-m", "pytest", str(suite_dir(suite)), *argv]
    print("+ " + " ".join(cmd[1:]), flush=True)
    return subprocess.call(cmd, cwd=repo_root())


def cmd_parity(args: argparse.Namespace) -> int:
    return _pytest("parity", ["--parity-report", str(Path(args.out).resolve()), "-q", *args.pytest_args])


def cmd_bench(args: argparse.Namespace) -> int:
    argv = ["--benchmark-enable", "--bench-profile", args.profile, "--bench-results", str(Path(args.results).resolve()),
            "-q", *args.pytest_args]
    return _pytest("bench", argv)


def cmd_check(args: argparse.Namespace) -> int:
    """The CPU quick start: parity suite (+ its report), a short benchmark of both backends, the report."""
    for suite in ("parity", "bench"):  # both folders must be there before anything runs
        suite_dir(suite)
    steps = [
        ("parity", cmd_parity(argparse.Namespace(out=args.results, pytest_args=[]))),
    ]
    steps.append(("bench", cmd_bench(argparse.Namespace(profile="cpu", results=args.results, pytest_args=[]))))
    steps.append(("report", cmd_report(argparse.Namespace(results_dir=args.results, out=None, no_charts=False))))
    failed = [name for name, rc in steps if rc != 0]
    print(f"check: {'FAILED: ' + ', '.join(failed) if failed else 'parity, bench and report all succeeded'}")
    return 1 if failed else 0


# ----------------------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdmpc-parity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an agent (progress bar, metrics in a run folder)")
    _config_args(p)
    p.add_argument("--steps", type=int, default=None, help="agent steps (env steps = steps x action_repeat)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seeds", default=None, help="comma-separated seeds trained together (jax: vmapped)")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("info", help="print the resolved config and parameter counts as JSON")
    _config_args(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plot", help="draw Glass diagnostics, eval curves and matrices of run folders")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("compare", help="learning curves over seeds per backend, task and config; backend tests")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders or --seeds folders (RUN/seed_<s>/)")
    p.add_argument("--official", action="store_true", help="overlay the official TD-MPC2 curve (shipped data)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where learning_<task>.png and learning.md go (default: compare/ beside the first run)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="merge benchmark JSON into REPORT.md and charts")
    p.add_argument("results_dir", nargs="?", default="results")
    p.add_argument("--out", default=None)
    p.add_argument("--no-charts", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("parity", help="run the parity suite and write parity.md / parity.json")
    p.add_argument("--out", default="results")
    p.add_argument("pytest_args", nargs="*")
    p.set_defaults(func=cmd_parity)

    p = sub.add_parser("bench", help="run the benchmarks and store the JSON under RESULTS/<machine>/")
    p.add_argument("--profile", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--results", default="results")
    p.add_argument("pytest_args", nargs="*")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("check", help="CPU quick start: parity + a short benchmark + the report")
    p.add_argument("--results", default="results")
    p.set_defaults(func=cmd_check)
    return parser


OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """`key=value` tokens may sit anywhere after `train`/`info` (argparse cannot interleave positionals)."""
    if not argv or argv[0] not in ("train", "info"):
        return argv, []
    rest, overrides = [], []
    for tok in argv:
        (overrides if OVERRIDE.match(tok) else rest).append(tok)
    return rest, overrides


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "disable")
    rest, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(rest)
    if overrides:
        args.overrides = [*getattr(args, "overrides", []), *overrides]
    try:
        return int(args.func(args) or 0)
    except NonFiniteError as exc:
        print(f"tdmpc-parity {args.command}: stopped: {exc}", file=sys.stderr)
        return 3
    except (CLIError, ValueError, FileNotFoundError) as exc:
        print(f"tdmpc-parity {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
