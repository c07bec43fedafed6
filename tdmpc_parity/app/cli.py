"""The console command `tdmpc-parity`: train, eval, sweep, info, keys, tasks, plot, compare, report, parity, bench
and the CPU quick check.

Backends are imported only when a command needs one; a missing backend is one clear sentence. A refused input is
one line on stderr (exit code 2); `--debug` (or TDMPC_PARITY_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from tdmpc_parity.app.backends import BACKEND_MODULES, CLIError, backend_module
from tdmpc_parity.app.pytest_env import child_pytest_env
from tdmpc_parity.core.config import GLASS_PRESETS, PROFILES, Config, load_config
from tdmpc_parity.core.runlog import NonFiniteError
from tdmpc_parity.core.task_registry import TASK_MODULE_ENV, import_task_module, record_task_module
from tdmpc_parity.core.tasks import REGISTERED, TASKS, UNSUPPORTED

# ----------------------------------------------------------------------------------------------------------
# Config from flags
# ----------------------------------------------------------------------------------------------------------

DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Config)}  # what a flag left out resolves to
PASSTHROUGH = ("parity", "bench")  # subcommands that hand unknown arguments to pytest
TASK_MODULE_HELP = ("a .py file or an importable module that registers tasks of your own with register_task, imported "
                    "before --task is checked (docs/tasks.md, Your own tasks) (default: none)")
RUN_TASK_MODULE_HELP = ("the module that registers the task of your own of runs trained with --task-module (a run "
                        "folder never imports it by itself; it names the module to pass) (default: none)")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows `(default: X)` once: not where X is None or empty, nor where the help already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        flag = isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction)  # off unless given
        if flag or action.default is None or action.default == [] or "default:" in text or "default path:" in text:
            return text
        return super()._get_help_string(action)


def task_rows() -> list[tuple[str, str, str, str]]:
    """(task, backends, official results, note) of every task, sorted by name."""
    rows = []
    for name, spec in sorted(TASKS.items()):
        backends = "torch, jax" if spec.playground is not None else "torch"
        notes = (["custom task of the official repository"] if spec.custom else []) + ([spec.note] if spec.note else [])
        rows.append((name, backends, "yes" if spec.official else "no", "; ".join(notes)))
    return rows


def task_table() -> str:
    """`tdmpc-parity tasks`: one line per task, then the official custom tasks that are not supported."""
    lines = _columns([("task", "backends", "official results", "note"), *task_rows()])
    lines.append("")
    lines.append("not supported (custom tasks of the official repository without official results): "
                 + ", ".join(sorted(UNSUPPORTED)))
    if REGISTERED:
        mine = [("task", "backends", "episode length x action repeat", "registered by"),
                *((name, ", ".join(spec.backends), f"{spec.episode_length} x {spec.action_repeat}", spec.origin)
                  for name, spec in sorted(REGISTERED.items()))]
        lines += ["", "tasks of your own (--task-module):", *_columns(mine)]
    return "\n".join(lines)


def _columns(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """Four columns, the first three padded to their widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]


def _profile_help() -> str:
    sets = "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in kw.items()) for name, kw in PROFILES.items())
    return f"preset of harness settings ({sets})"


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=sorted(BACKEND_MODULES), default=None,
                   help=f"torch or jax (default: {DEFAULTS['backend']}, or the --config file's backend)")
    p.add_argument("--task", default=None,
                   help=f"official task name; `tdmpc-parity tasks` lists them with the backends that run each "
                        f"(default: {DEFAULTS['task']}, or the --config file's task)")
    p.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULTS["profile"], help=_profile_help())
    p.add_argument("--config", default=None, metavar="YAML",
                   help="YAML file (or a run's config.json) of key: value overrides, or the name of one in the "
                        "shipped configs (tdmpc_parity/configs/), e.g. tiny (default: none)")
    p.add_argument("--glass", default=None, metavar="PRESET",
                   help=f"Glass preset: {', '.join(GLASS_PRESETS)} (default: off, or the --config file's glass)")
    p.add_argument("--task-module", default=None, metavar="FILE.py|MODULE", help=TASK_MODULE_HELP)
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. model_size=1; they may stand anywhere after the subcommand; "
                        "`tdmpc-parity keys` lists every key (default: none)")


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The config of the flags; a flag given beats the YAML file (so a run's config.json keeps its backend)."""
    import_task_module(getattr(args, "task_module", None))  # its tasks registered before the task is checked
    values: dict[str, Any] = {}
    if args.backend is not None:
        values["backend"] = args.backend
    if args.task is not None:
        values["task"] = args.task
    if args.glass is not None:
        values["glass"] = args.glass
    values.update(extra or {})
    return load_config(args.profile, config_path(args.config), args.overrides, values)


def config_path(name: str | None) -> str | None:
    """A --config value as the file it names: a file as given, a bare name such as `tiny` the shipped config
    (tdmpc_parity/core/config_files.py; an unknown name is a ValueError listing the shipped ones)."""
    from tdmpc_parity.core.config_files import config_file

    path = config_file(name)
    return None if path is None else str(path)


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


def cmd_keys(args: argparse.Namespace) -> int:
    """Every config key (type, default, doc) whose name holds PATTERN or matches it as a glob."""
    from tdmpc_parity.core.config_keys import all_keys, match_keys, render_text, suggest

    keys = all_keys()
    found = match_keys(keys, args.pattern)
    if not found:
        close = suggest(args.pattern, [k.name for k in keys])
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise CLIError(f"no config key matches {args.pattern!r}{hint} (`tdmpc-parity keys` lists all "
                       f"{len(keys)}; a pattern is a substring, or a glob such as 'glass.*')")
    print(render_text(found))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    import_task_module(args.task_module)  # its tasks listed after the built-in ones
    print(task_table())
    return 0


# ----------------------------------------------------------------------------------------------------------
# The start banner of `train`
# ----------------------------------------------------------------------------------------------------------

CPU_DAYS_STEPS = 1_000_000  # agent steps from which the official model on a CPU is a matter of days


def model_label(cfg: Config) -> str:
    """`5M (model_size=5)`, `the 5M preset's architecture`, or the widths of a custom model."""
    from tdmpc_parity.core.config import MODEL_SIZE

    if cfg.model_size is not None:
        return f"{cfg.model_size}M preset (model_size={cfg.model_size})"
    for size, arch in MODEL_SIZE.items():
        if all(getattr(cfg, k) == v for k, v in {"num_q": 5, **arch}.items()):
            return f"the {size}M preset's architecture" + (" (the official default)" if size == 5 else "")
    return (f"custom (enc_dim={cfg.enc_dim}, mlp_dim={cfg.mlp_dim}, latent_dim={cfg.latent_dim}, "
            f"num_enc_layers={cfg.num_enc_layers}, num_q={cfg.num_q})")


def is_official_model(cfg: Config) -> bool:
    """The official default model: the 5M preset's widths and 5 Q heads."""
    from tdmpc_parity.core.config import MODEL_SIZE

    return all(getattr(cfg, k) == v for k, v in {"num_q": 5, **MODEL_SIZE[5]}.items())


def parameter_count(cfg: Config) -> int:
    """Learnable parameters of the world model (tdmpc_parity/analysis/flops.py, no target Qs) plus Glass's prototypes
    and
    assignment logits: N*D + N*K."""
    from tdmpc_parity.analysis.flops import param_counts

    g = cfg.glass
    return param_counts(cfg)["total"] + (g.num_prototypes * (cfg.latent_dim + g.num_clusters) if g.enabled else 0)


def first_eval_step(cfg: Config) -> int | None:
    """Agent step of the first evaluation after the untrained one at step 0: the first episode end (every
    episode_length vector steps) whose agent_step // eval_freq > 0 (tdmpc_parity/core/schedule.py); None when the run
    ends
    before it."""
    import math

    per_episode = cfg.episode_length * cfg.n_envs
    step = math.ceil(cfg.eval_freq / per_episode) * per_episode
    last = math.ceil(cfg.steps / cfg.n_envs) * cfg.n_envs
    return step if step <= last else None


def compute_device(cfg: Config) -> str:
    """Where the run computes, as the backend will choose it: cpu, cuda/gpu, ... (the backend is imported already)."""
    if cfg.backend == "torch":
        import torch

        if cfg.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return cfg.device
    import jax

    return jax.default_backend()


def train_banner(cfg: Config, run_dir: Path, device: str, seeds: list[int] | None = None,
                 resume: bool = False) -> list[str]:
    """What a run is about to do, in a few lines: backend and device, task and physics, model and parameters,
    steps, the first evaluation, the run folder; on a CPU with the official model and >= 1M steps, that it takes
    days."""
    repeat = cfg.action_repeat
    lines = [f"tdmpc-parity train: {cfg.backend} on {device}, task {cfg.task}, physics {cfg.physics}"
             + (f", seeds {', '.join(map(str, seeds))}" if seeds and len(seeds) > 1 else f", seed {cfg.seed}")
             + (" (resumed)" if resume else ""),
             f"  model: {model_label(cfg)}, {parameter_count(cfg) / 1e6:.2f}M parameters"
             + (f", Glass {cfg.glass.preset}" if cfg.glass.enabled else ""),
             f"  steps: {cfg.steps:,} agent steps = {cfg.steps * repeat:,} env steps (action_repeat {repeat}, "
             f"{cfg.n_envs} env{'s' if cfg.n_envs > 1 else ''}); seed phase {cfg.seed_steps:,} agent steps"]
    first = first_eval_step(cfg)
    later = (f"first at agent step {first:,} (env step {first * repeat:,}), then every {cfg.eval_freq:,} agent steps"
             if first is not None else f"no later one (the run ends before the first episode end at or after "
                                       f"agent step {cfg.eval_freq:,})")
    episodes = f"{cfg.eval_episodes} episode{'s' if cfg.eval_episodes > 1 else ''}"
    lines.append(f"  evaluation ({episodes}): agent step 0 (untrained), {later}")
    lines.append(f"  run folder: {run_dir}")
    if device == "cpu" and is_official_model(cfg) and cfg.steps >= CPU_DAYS_STEPS:
        lines.append(f"  note: the official 5M model for {cfg.steps:,} agent steps takes days on a CPU; for a quick "
                     "run use --config tiny and/or --steps 20000")
    return lines


def print_banner(cfg: Config, run_dir: Path, seeds: list[int] | None = None, resume: bool = False) -> None:
    print("\n".join(train_banner(cfg, run_dir, compute_device(cfg), seeds, resume)), flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise CLIError(f"--max-minutes must be > 0, got {args.max_minutes:g}")
    from tdmpc_parity.app import api  # the Python API's train runs the backend's (tdmpc_parity/app/api.py)

    if args.resume:
        if args.overwrite:
            raise CLIError("--resume and --overwrite exclude each other")
        from tdmpc_parity.core.runlog import is_run_dir, read_config

        seed_dirs = sorted(Path(args.resume).glob("seed_*"), key=lambda p: int(p.name[5:]))
        multi = not is_run_dir(Path(args.resume)) and seed_dirs and all(is_run_dir(d) for d in seed_dirs)
        import_task_module(args.task_module, args.resume)  # a run of a task of your own: its module, when given
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
        seeds = [int(d.name[5:]) for d in seed_dirs] if multi else [cfg.seed]
        print_banner(cfg, Path(args.resume), seeds, resume=True)
        api.train(cfg, Path(args.resume), seeds, progress=not args.no_progress, resume=True,
                  max_minutes=args.max_minutes, module=mod)  # a --seeds run: RUN_DIR/seed_<s>/ per seed
        return 0
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed] if args.seed is not None else []
    extra: dict[str, Any] = {"seed": seeds[0]} if seeds else {}  # else the config's seed (default 1)
    if args.steps is not None:
        extra["steps"] = args.steps
    if args.devices is not None:
        extra["devices"] = args.devices
    cfg = config_from_args(args, extra)
    seeds = seeds or [cfg.seed]
    run_dir = Path(args.run_dir) if args.run_dir else api.default_run_dir(cfg, seeds)
    record_task_module(run_dir, import_task_module(args.task_module), cfg.task, args.overwrite)  # for --resume, eval
    if len(seeds) > 1 and cfg.backend != "jax":
        raise CLIError("--seeds (several seeds vmapped in one program) needs --backend jax")
    mod = backend_module(cfg.backend, "train")
    print_banner(cfg, run_dir, seeds)
    api.train(cfg, run_dir, seeds, progress=not args.no_progress, overwrite=args.overwrite,
              max_minutes=args.max_minutes, module=mod)
    return 0


def _saved_values(cfg: Config) -> dict[str, Any]:
    from tdmpc_parity.core.config import DERIVED_FIELDS

    data = cfg.to_dict()
    glass = data.pop("glass")
    out = {k: v for k, v in data.items() if k not in DERIVED_FIELDS and k != "profile"}
    out.update({f"glass.{k}": v for k, v in glass.items()})
    return out


def cmd_profile(args: argparse.Namespace) -> int:
    from tdmpc_parity.app.profile import run_profile

    values = {} if any(o.startswith("seed_steps=") for o in args.overrides) else {"seed_steps": 1}
    cfg = config_from_args(args, values)  # default: a one-episode seed phase, then the profiled iterations
    command = "tdmpc-parity " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["profile"] else "tdmpc-parity profile"
    _, path = run_profile(cfg, args.iterations, None if args.no_save else args.out, command,
                          progress=not args.no_progress)
    if path is not None:
        print(f"written: {path} (+ .json)")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Write the PNGs; then say why a run's Glass plots are empty (Glass off, never active, no diagnostics)."""
    from tdmpc_parity.analysis.plots import expand_runs, glass_notes, plot_runs

    import_task_module(args.task_module, *args.run_dirs)  # runs of a task of your own: its module, when given
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
    from tdmpc_parity.analysis.compare import compare, overall_verdict

    import_task_module(args.task_module, *args.run_dirs)  # runs of a task of your own: its module, when given
    paths = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else paths[0].resolve().parent / "compare"
    result = compare(paths, out, official=args.official, margin=args.margin)
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


def _frame_size(text: str) -> tuple[int, int]:
    """`WxH` -> (width, height)."""
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"frame size {text!r} is not WIDTHxHEIGHT, e.g. 320x240")
    return int(m.group(1)), int(m.group(2))


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a run folder, weights file or official checkpoint (tdmpc_parity/app/evaluate.py), with video and
    pictures."""
    from tdmpc_parity.app.evaluate import EvalOptions, run_eval
    from tdmpc_parity.core.video import RenderError

    import_task_module(args.task_module, args.source)  # a run of a task of your own: its module, when given
    opts = EvalOptions(source=args.source, backend=args.backend, task=args.task, config=args.config, glass=args.glass,
                       overrides=list(args.overrides), episodes=args.episodes, seed=args.seed, video=args.video,
                       glass_overlay=args.glass_overlay, gallery=args.gallery, gallery_clips=args.gallery_clips,
                       top_k=args.top_k, size=args.size, camera=args.camera, out=args.out,
                       progress=not args.no_progress)
    try:
        run_eval(opts)
    except RenderError as exc:
        raise CLIError(str(exc)) from None
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Many runs on Ray (tdmpc_parity/app/sweep.py): a sweep file's trials, or --resume a sweep folder; then its
    summary.
    A bad sweep file or folder is a ValueError (SweepSpecError, SweepError): one line, exit code 2."""
    from tdmpc_parity.app.sweep import TRIALS, run_sweep
    from tdmpc_parity.app.sweep_spec import load_sweep

    trial_dirs = sorted((Path(args.resume) / TRIALS).glob("*")) if args.resume else []
    module = import_task_module(args.task_module, *trial_dirs)  # before the sweep file's tasks are checked
    if module is not None:
        os.environ[TASK_MODULE_ENV] = module  # each trial's command passes it on (sweep.py, run_trial)
    if args.resume:
        if args.sweep_file or args.out:
            raise CLIError("--resume continues the sweep saved in its folder: give no sweep file and no --out")
        return run_sweep(resume=args.resume, address=args.address, num_cpus=args.num_cpus)
    if not args.sweep_file:
        raise CLIError("give a sweep file (SWEEP.yaml), or --resume SWEEP_DIR")
    spec = load_sweep(args.sweep_file)
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return run_sweep(spec, out, address=args.address, num_cpus=args.num_cpus)


def cmd_convert_checkpoint(args: argparse.Namespace) -> int:
    """A trusted run folder's old (pickled) torch checkpoints in the safe format
    (tdmpc_parity/app/checkpoint_convert.py)."""
    from tdmpc_parity.app.checkpoint_convert import main as convert_main

    return convert_main([args.run_dir])


def cmd_report(args: argparse.Namespace) -> int:
    from tdmpc_parity.analysis import report

    argv = [args.results_dir]
    if args.out:
        argv += ["--out", args.out]
    if args.no_charts:
        argv.append("--no-charts")
    return report.main(argv)


def repo_root() -> Path:
    """The source checkout the tdmpc_parity package was imported from (tdmpc_parity/ sits at its root)."""
    return Path(__file__).resolve().parents[2]


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
    return subprocess.call(cmd, cwd=repo_root(), env=child_pytest_env())


# The parity suite on every core (pytest-xdist, one test file per worker); `-- -n 0` runs it in one process.
PARITY_WORKERS = ["-n", "auto", "--maxprocesses", "4", "--dist", "loadfile"]


def cmd_parity(args: argparse.Namespace) -> int:
    workers = PARITY_WORKERS if importlib.util.find_spec("xdist") is not None else []
    return _pytest("parity", ["--parity-report", str(Path(args.out).resolve()), "-q", *workers, *args.pytest_args])


def cmd_bench(args: argparse.Namespace) -> int:
    argv = ["--benchmark-enable", "--bench-profile", args.profile, "--bench-results", str(Path(args.results).resolve()),
            "-q", *args.pytest_args]
    return _pytest("bench", argv)


CHECK_ROOT = "check-results"  # `check` writes into CHECK_ROOT/<UTC timestamp>/ of the current folder by default


def check_results_dir(given: str | None) -> Path:
    """The folder of one `check`: --results as given (the tracked results/ only when named), else a new
    `check-results/<YYYYmmdd-HHMMSS>Z/` in the current folder (a second one in the same second gets `-2`, ...)."""
    if given is not None:
        return Path(given)
    stamp = time.strftime("%Y%m%d-%H%M%SZ", time.gmtime())
    path, n = Path(CHECK_ROOT) / stamp, 1
    while path.exists():
        n += 1
        path = Path(CHECK_ROOT) / f"{stamp}-{n}"
    return path


def cmd_check(args: argparse.Namespace) -> int:
    """The CPU quick start: parity suite (+ its report), a short benchmark of both backends, the report; all three
    write into one folder (check_results_dir)."""
    for suite in ("parity", "bench"):  # both folders must be there before anything runs
        suite_dir(suite)
    results = check_results_dir(args.results)
    results.mkdir(parents=True, exist_ok=True)
    print(f"check: writing into {results}", flush=True)
    steps = [
        ("parity", cmd_parity(argparse.Namespace(out=str(results), pytest_args=[]))),
    ]
    steps.append(("bench", cmd_bench(argparse.Namespace(profile="cpu", results=str(results), pytest_args=[]))))
    steps.append(("report", cmd_report(argparse.Namespace(results_dir=str(results), out=None, no_charts=False))))
    failed = [name for name, rc in steps if rc != 0]
    print(f"check: {'FAILED: ' + ', '.join(failed) if failed else 'parity, bench and report all succeeded'}; "
          f"results in {results}")
    return 1 if failed else 0


# ----------------------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------------------


class VersionAction(argparse.Action):
    """`--version`: the package version and the git commit of the checkout (computed only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    """`tdmpc-parity 0.1.0 (commit abc1234)`; `unknown commit` outside a git checkout or without git."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("tdmpc-parity")
    except PackageNotFoundError:
        ver = "(version unknown: not installed)"
    return f"tdmpc-parity {ver} ({git_commit(repo_root())})"


def git_commit(root: Path) -> str:
    """`commit <short hash>` (+ `, modified` when tracked files differ) of the checkout at `root`, else
    `unknown commit`."""
    if not (root / ".git").exists():
        return "unknown commit"
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    if head.returncode != 0 or not head.stdout.strip():
        return "unknown commit"
    return f"commit {head.stdout.strip()}" + (", modified" if dirty.returncode == 0 and dirty.stdout.strip() else "")


DEBUG_ENV = "TDMPC_PARITY_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdmpc-parity", description=__doc__, formatter_class=HelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--version", action=VersionAction, help="print the version and git commit, then exit")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of an error instead of one line (also: {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="`tdmpc-parity COMMAND --help` lists its options")

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        kw.setdefault("allow_abbrev", False)  # `--step 10` is refused, not taken for --steps
        return sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter, **kw)

    p = add("train", "train an agent (progress bar, metrics in a run folder)")
    _config_args(p)
    p.add_argument("--steps", type=int, default=None,
                   help=f"agent steps (env steps = steps x action_repeat) (default: {DEFAULTS['steps']}, or the "
                        "--config file's steps; with --resume: the run's own, a larger value extends it)")
    p.add_argument("--seed", type=int, default=None,
                   help=f"random seed (default: {DEFAULTS['seed']}, or the --config file's seed)")
    p.add_argument("--seeds", default=None, metavar="S1,S2,...",
                   help="comma-separated seeds trained together, vmapped in one program (--backend jax only; "
                        "each seed writes RUN_DIR/seed_<s>/) (default: none, one seed: --seed)")
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="--backend jax: shard the --seeds, then each seed's n_envs envs, over N devices (= config "
                        "devices=N; jax_impl/sharding.py) (default: all visible that split them; e.g. "
                        "XLA_FLAGS=--xla_force_host_platform_device_count=2 on a CPU)")
    p.add_argument("--run-dir", default=None, metavar="RUN_DIR",
                   help="the run folder (default: runs/<task>-<backend>-s<seed>-<YYYYmmdd-HHMMSS>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR with its saved config (default: none, a new run)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs and CI)")
    p.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="wall-clock budget: stop at the first episode end after M minutes (checkpointed; continue "
                        "with --resume) (default: none, run all --steps)")
    p.set_defaults(func=cmd_train)

    p = add("info", "print the resolved config and parameter counts as JSON")
    _config_args(p)
    p.set_defaults(func=cmd_info)

    p = add("profile", "where a training iteration's time goes: act, env physics, buffer, updates, other")
    _config_args(p)
    p.add_argument("--iterations", type=int, default=20,
                   help="timed iterations per stage (JAX: warm calls per stage program) (default: 20)")
    p.add_argument("--out", default="results/profile", metavar="DIR",
                   help="where the table goes: DIR/<machine>/profile_<backend>_<task>_<profile>.md/.json "
                        "(default: results/profile)")
    p.add_argument("--no-save", action="store_true", help="print the table only")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_profile)

    p = add("keys", "list the config keys (key=value overrides, --config files, sweep files): type, default, doc")
    p.add_argument("pattern", nargs="?", default=None, metavar="PATTERN",
                   help="only the keys whose name holds PATTERN, or matches it as a glob, e.g. glass.* "
                        "(default: every key)")
    p.set_defaults(func=cmd_keys)

    p = add("tasks", "list the tasks: the backends that run each, whether official results exist, notes")
    p.add_argument("--task-module", default=None, metavar="FILE.py|MODULE", help=TASK_MODULE_HELP)
    p.set_defaults(func=cmd_tasks)

    p = add("plot", "draw Glass diagnostics, assignment timelines, S/P/A heatmaps, training scalars and eval "
                     "curves of run folders")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders or --seeds folders (RUN/seed_<s>/)")
    p.add_argument("--task-module", default=None, metavar="FILE.py|MODULE", help=RUN_TASK_MODULE_HELP)
    p.add_argument("--out", default=None, metavar="DIR", help="where the PNGs go (default: RUN_DIR/plots of the "
                                                            "first RUN_DIR)")
    p.set_defaults(func=cmd_plot)

    p = add("compare", "learning curves over seeds per backend, task and config; backend tests")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders or --seeds folders (RUN/seed_<s>/)")
    p.add_argument("--task-module", default=None, metavar="FILE.py|MODULE", help=RUN_TASK_MODULE_HELP)
    p.add_argument("--official", action="store_true", help="overlay the official TD-MPC2 curve (shipped data)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where learning_<task>.png and learning.md go (default: compare/ beside the first run)")
    p.add_argument("--margin", default=None, metavar="DELTA",
                   help="equivalence margin of the TOST, declared before looking at the data: 10%% = 10 %% of the "
                        "return range [0, episode_length x action_repeat], or an absolute return such as 25")
    p.set_defaults(func=cmd_compare)

    p = add("eval", "evaluate a run folder, weights file or official checkpoint; video, Glass overlay, gallery")
    p.add_argument("source", metavar="SOURCE",
                   help="a run folder (its newest checkpoint or model.npz), a canonical weights file (.npz, "
                        ".safetensors) or an official TD-MPC2 checkpoint (needs --task)")
    p.add_argument("--backend", choices=sorted(BACKEND_MODULES), default=None,
                   help="torch or jax (default: the run's backend; torch for a file outside a run folder)")
    p.add_argument("--task", default=None, help="the task of a weights file or official checkpoint (`tdmpc-parity "
                                                "tasks` lists them) (default: the run's task; required for a file "
                                                "outside a run folder)")
    p.add_argument("--task-module", default=None, metavar="FILE.py|MODULE", help=RUN_TASK_MODULE_HELP)
    p.add_argument("--config", default=None, metavar="YAML",
                   help="config of a weights file outside a run folder: a YAML file or a shipped config's "
                        "name, e.g. tiny (default: none)")
    p.add_argument("--glass", default=None, metavar="PRESET",
                   help=f"Glass preset of a weights file outside a run folder: {', '.join(GLASS_PRESETS)} "
                        "(default: off)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. episode_length=50 (default: none)")
    p.add_argument("--episodes", type=int, default=None,
                   help="episodes to evaluate (default: the config's eval_episodes)")
    p.add_argument("--seed", type=int, default=None,
                   help="evaluation seed: episode i starts from env seed SEED + 10000 + i (torch) or the key "
                        "fold_in(PRNGKey(SEED), 10000 + i) (jax) (default: the config's)")
    p.add_argument("--video", nargs="?", const="", default=None, metavar="PATH",
                   help="write an MP4 of episode 0 at the env's full frame rate (default path: OUT/rollout.mp4)")
    p.add_argument("--glass-overlay", action="store_true",
                   help="draw argmax_k S of the latent (cluster index and bars) in the video's corner (Glass runs)")
    p.add_argument("--gallery", action="store_true",
                   help="gallery.png: per Glass prototype the rollout frames closest to it")
    p.add_argument("--gallery-clips", action="store_true",
                   help="also an MP4 clip per prototype around its closest frame (implies --gallery)")
    p.add_argument("--top-k", type=int, default=4, help="frames per prototype in the gallery")
    p.add_argument("--size", type=_frame_size, default="320x240", metavar="WxH",
                   help="frame size in pixels, both even")
    p.add_argument("--camera", type=int, default=0, help="camera index of the task's model (-1: the free camera)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: RUN_DIR/eval, or eval/ beside a weights file)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    p = add("sweep", "many runs on Ray: a grid over config keys, tasks, backends and seeds; resumable; a summary",
            epilog="The sweep file's format: tdmpc_parity/app/sweep_spec.py; README.md, section Sweeps.")
    p.add_argument("sweep_file", nargs="?", default=None, metavar="SWEEP.yaml", help="the sweep file")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="the sweep folder (default: runs/sweep-<name>-<YYYYmmdd-HHMMSS>)")
    p.add_argument("--address", default=None, metavar="ray://HOST:PORT|auto",
                   help="run on an existing Ray cluster (default: a local Ray instance started in this process)")
    p.add_argument("--num-cpus", type=int, default=None, metavar="N",
                   help="CPUs of the local Ray instance (default: all of this machine's)")
    p.add_argument("--resume", default=None, metavar="SWEEP_DIR",
                   help="continue a sweep whose driver stopped: runs every trial not done, from its checkpoint")
    p.add_argument("--task-module", default=None, metavar="FILE.py|MODULE",
                   help="a .py file or an importable module that registers tasks of your own, imported before the "
                        "sweep file's tasks are checked and passed to every trial's train command (default: none)")
    p.set_defaults(func=cmd_sweep)

    p = add("convert-checkpoint", "convert a run folder's torch checkpoints written by version 0.1 (pickled) to "
            "the current format, which loads without running code; only for run folders you trust")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (its checkpoints/step_*/state.pt, buffer.pt)")
    p.set_defaults(func=cmd_convert_checkpoint)

    p = add("report", "merge benchmark JSON into REPORT.md and charts")
    p.add_argument("results_dir", nargs="?", default="results", metavar="RESULTS_DIR",
                   help="folder holding <machine>/*.json")
    p.add_argument("--out", default=None, metavar="PATH", help="report path (default: RESULTS_DIR/REPORT.md)")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG bar charts")
    p.set_defaults(func=cmd_report)

    pytest_epilog = ("Other arguments go to pytest as they are, e.g. `-k planner -x`;\n"
                     "put them after `--` where one would be taken for an option of this command.")
    usage_tail = "[PYTEST_ARG ...] [-- PYTEST_ARG ...]"
    # allow_abbrev=False: a pytest option is never taken for an abbreviation of one of these options
    p = add("parity", "run the parity suite (on every core: pytest-xdist -n auto; `-- -n 0` for one process) and "
            "write parity.md / parity.json", epilog=pytest_epilog,
            allow_abbrev=False, usage=f"%(prog)s [-h] [--out DIR] {usage_tail}")
    p.add_argument("--out", default="results", metavar="DIR", help="where parity.md and parity.json go")
    p.set_defaults(func=cmd_parity, pytest_args=[])

    p = add("bench", "run the benchmarks and store the JSON under RESULTS/<machine>/", epilog=pytest_epilog,
            allow_abbrev=False, usage=f"%(prog)s [-h] [--profile {{cpu,gpu}}] [--results DIR] {usage_tail}")
    p.add_argument("--profile", choices=("cpu", "gpu"), default="cpu",
                   help="benchmark size: cpu (a tiny model, minutes on a CPU) or gpu (the official 5M model, "
                        "256 envs; needs a GPU)")
    p.add_argument("--results", default="results", metavar="DIR", help="results folder (JSON in DIR/<machine>/)")
    p.set_defaults(func=cmd_bench, pytest_args=[])

    p = add("check", "CPU quick start: parity + a short benchmark + the report")
    p.add_argument("--results", default=None, metavar="DIR",
                   help=f"folder of all three steps: parity.md/.json, the benchmark JSON in DIR/<machine>/, "
                        f"REPORT.md and its charts (default: a new {CHECK_ROOT}/<UTC YYYYmmdd-HHMMSS>Z/ in the "
                        "current folder; the repository's tracked results/ only when named)")
    p.set_defaults(func=cmd_check)
    return parser


OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """`key=value` tokens may sit anywhere after `train`/`info` (argparse cannot interleave positionals)."""
    if not argv or argv[0] not in ("train", "info", "eval", "profile"):
        return argv, []
    rest, overrides = [], []
    for tok in argv:
        (overrides if OVERRIDE.match(tok) else rest).append(tok)
    return rest, overrides


def split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Take `--debug` out of argv: before the subcommand, and anywhere (before a `--`) after one that hands no
    argument to pytest (`parity`/`bench` pass theirs on: pytest has a --debug of its own)."""
    out, debug, command = [], False, None
    for i, tok in enumerate(argv):
        if tok == "--":
            return [*out, *argv[i:]], debug
        if tok == "--debug" and (command is None or command not in PASSTHROUGH):
            debug = True
            continue
        if command is None and not tok.startswith("-"):
            command = tok
        out.append(tok)
    return out, debug


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def unknown_error(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    """`unrecognized arguments: --step 10; did you mean --steps?` (options are never abbreviated)."""
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    first = next((u.split("=", 1)[0] for u in unknown if u.startswith("--")), None)
    close = difflib.get_close_matches(first, options, n=1, cutoff=0.6) if first else []
    hint = f"; did you mean {close[0]}? (options are never abbreviated)" if close else ""
    return f"unrecognized arguments: {' '.join(unknown)}{hint}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """argparse, except that `parity` and `bench` hand every argument they do not know to pytest, in order
    (those after a `--` unread), and that `--debug` may stand after the subcommand too (split_debug)."""
    argv, debug = split_debug(argv)
    rest, overrides = split_overrides(argv)
    tail: list[str] = []
    if rest and rest[0] in PASSTHROUGH and "--" in rest:
        cut = rest.index("--")
        rest, tail = rest[:cut], rest[cut + 1:]
    parser = build_parser()
    args, unknown = parser.parse_known_args(rest)
    if args.command in PASSTHROUGH:
        args.pytest_args = [*unknown, *tail]
    elif unknown:
        sub = subparser(parser, args.command)
        sub.error(unknown_error(sub, unknown))
    if overrides:
        args.overrides = [*getattr(args, "overrides", []), *overrides]
    args.debug = args.debug or debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "disable")
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `tdmpc-parity keys | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except NonFiniteError as exc:
        if args.debug:
            raise
        print(f"tdmpc-parity {args.command}: stopped: {exc}", file=sys.stderr)
        return 3
    except (CLIError, ValueError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"tdmpc-parity {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
