"""`tdmpc-parity eval`: evaluate a trained agent, with a video, the Glass cluster overlay, the prototype gallery
and return vs cluster.

SOURCE is one of
- a run folder: the newer of its last training checkpoint (`checkpoints/latest.json`) and `model.npz` (the
  final weights, written after the final checkpoint; a run that crashed has only checkpoints), evaluated with
  the run's config (plus `key=value` overrides, e.g. `episode_length=50`); its checkpoint is read by the
  backend that wrote it, then converted to `--backend` through the canonical weights;
- a canonical weights file (`.npz` / `.safetensors`, tdmpc_parity/core/weights.py): with the config of the run folder it
  sits in, else from `--task` (required), `--config`, `--glass` and overrides (the model size must match);
- an official TD-MPC2 checkpoint (any other file, read by torch_ref/official_checkpoint.py, so torch must be
  installed for either backend): needs `--task` (and `model_size=...` unless 5M).
A `--seeds` folder holds one run folder per seed: evaluate one of them (RUN/seed_<s>).

Episodes: N episodes one after another (`--episodes`, default the config's eval_episodes), each one env acting
with MPPI in eval mode as the trainers' evaluation does (torch_ref/rollout.py, jax_impl/rollout.py), from the
initial state of an env seeded `seed + 10_000 + i` (torch; the trainer's eval env i) or keys from
fold_in(PRNGKey(seed), 10_000 + i) (JAX); `--seed` defaults to the config's. Printed: the mean return and its
95 % percentile-bootstrap CI (tdmpc_parity/core/stats.py).

Files in `--out` (default RUN_DIR/eval/, or eval/ beside a weights file):
  eval.json        the numbers below and what was loaded
  episodes.csv     episode, return (+ share_k per cluster with Glass)
  rollout.npz      returns (N,); rewards (N, L): the reward r_t of each agent step t (the return is their running
                   sum); latents (N, L+1, Z) of o_0..o_L per episode; with Glass q (N, L+1, K) = c(z) S, the
                   latents' cluster probabilities; with a video frame_step (F,) and, with the overlay,
                   frame_cluster (F,): the cluster drawn on each frame
  rollout.mp4      `--video [PATH]`: episode 0 at the env's full frame rate: F = 1 + L x action_repeat frames,
                   the reset state then the state after every physics control step; frame f belongs to agent
                   step t = f // action_repeat and shows (`--glass-overlay`) argmax_k q_k of z_t = enc(o_t)
                   (frame t x action_repeat is exactly the state o_t)
  gallery.png      `--gallery`: a row per prototype n (label n and its cluster argmax_k S_nk), the top-k frames
                   o_t of episode 0 most similar to mu_n under the Glass similarity (cosine of z_t and mu_n, or
                   -||z_t - mu_n||^2 for assignment "l2"), best first; `--gallery-clips`: gallery/prototype_<n>.mp4,
                   +-5 agent steps around the best frame
  return_vs_cluster.png  with Glass: per episode and cluster k, the share of the L agent steps t = 0..L-1 whose
                   argmax_k q_k(z_t) is k, against the episode's return (one colour per cluster)
  rollout_clusters_<i>.png  with Glass, for the first ROLLOUT_CHARTS episodes i: over env steps, the reward r_t and
                   the return so far on top, argmax_k q_k(z_t) below as a colour band
                   (tdmpc_parity/analysis/plots_glass.py)
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.core.config import Config, load_config
from tdmpc_parity.core.episodes import overlay_frames

GALLERY_CLIP_STEPS = 5  # agent steps either side of a prototype's best frame in its clip
ROLLOUT_CHARTS = 3  # episodes with a reward-and-cluster chart


@dataclass
class EvalOptions:
    """The command's options (see `tdmpc-parity eval --help`)."""

    source: str
    backend: str | None = None
    task: str | None = None
    config: str | None = None
    glass: str | None = None
    overrides: list[str] = field(default_factory=list)
    episodes: int | None = None
    seed: int | None = None
    video: str | None = None  # None: no video; "": the default path OUT/rollout.mp4
    glass_overlay: bool = False
    gallery: bool = False
    gallery_clips: bool = False
    top_k: int = 4
    size: tuple[int, int] = (320, 240)  # width, height
    camera: int = 0
    out: str | None = None
    progress: bool = True


@dataclass
class Source:
    """What SOURCE is: kind "run" | "weights" | "official", the config to evaluate with, where outputs go."""

    kind: str
    path: Path
    cfg: Config
    out_dir: Path
    run_dir: Path | None = None
    run_cfg: Config | None = None  # the run's own config (its checkpoints are checked against it)


def _error(msg: str) -> Exception:
    from tdmpc_parity.app.backends import CLIError

    return CLIError(msg)


# ----------------------------------------------------------------------------------------------------------
# SOURCE -> config and weights
# ----------------------------------------------------------------------------------------------------------


def _same_physics(cfg: Config, run_cfg: Config, path: Path) -> Config:
    """`cfg`, unless it evaluates a run in another physics than it was trained in (config field `physics`)."""
    if cfg.physics != run_cfg.physics:
        where = " on --backend jax" if run_cfg.physics == "playground" else ""
        raise _error(f"{str(path)!r} was trained with physics={run_cfg.physics}; evaluating it with "
                     f"physics={cfg.physics} ({cfg.backend} backend) is refused: evaluate it with "
                     f"physics={run_cfg.physics}{where}")
    return cfg


def resolve_source(opts: EvalOptions) -> Source:
    """Classify SOURCE and build the config to evaluate with (module docstring); clear errors on bad input."""
    from tdmpc_parity.core.runlog import CONFIG_FILE, is_run_dir, read_config

    path = Path(opts.source)
    if not path.exists():
        raise _error(f"SOURCE {str(path)!r} does not exist (a run folder, a weights file or an official checkpoint)")
    values: dict[str, Any] = {} if opts.backend is None else {"backend": opts.backend}
    if path.is_dir():
        if not is_run_dir(path):
            seeds = sorted((d for d in path.glob("seed_*") if d.name[5:].isdigit() and is_run_dir(d)),
                           key=lambda d: int(d.name[5:]))
            if seeds:
                raise _error(f"{str(path)!r} is a --seeds folder ({', '.join(d.name for d in seeds)}): evaluate one "
                             f"seed's run folder, e.g. {str(seeds[0])!r}")
            raise _error(f"{str(path)!r} is not a run folder (no {CONFIG_FILE})")
        run_cfg = read_config(path)
        if opts.task is not None and opts.task != run_cfg.task:
            raise _error(f"--task {opts.task} differs from the run's task {run_cfg.task}: a run folder's weights "
                         "are for its own task")
        if opts.glass is not None or opts.config is not None:
            raise _error("a run folder brings its own config: --glass and --config apply to weights files only "
                         "(key=value overrides are allowed, e.g. episode_length=50)")
        cfg = _same_physics(load_config(run_cfg.profile, path / CONFIG_FILE, opts.overrides, values), run_cfg, path)
        return Source("run", path, cfg, Path(opts.out) if opts.out else path / "eval", path, run_cfg)
    run_dir = path.parent if (path.parent / CONFIG_FILE).exists() and path.suffix in (".npz", ".safetensors") else None
    kind = "weights" if path.suffix in (".npz", ".safetensors") else "official"
    out = Path(opts.out) if opts.out else path.parent / "eval"
    if run_dir is not None:  # a run's model.npz
        if opts.glass is not None or opts.config is not None:
            raise _error(f"{str(path)!r} sits in a run folder whose config is used: --glass and --config do not apply")
        run_cfg = read_config(run_dir)
        cfg = _same_physics(load_config(run_cfg.profile, run_dir / CONFIG_FILE, opts.overrides, values), run_cfg, path)
        return Source(kind, path, cfg, out, run_dir, run_cfg)
    if opts.task is None:
        what = "an official TD-MPC2 checkpoint" if kind == "official" else "a weights file outside a run folder"
        raise _error(f"{str(path)!r} is {what}, which does not say its task: give --task (and model_size=N or "
                     "--config for a model other than the default 5M one)")
    values["task"] = opts.task
    if opts.glass is not None:
        values["glass"] = opts.glass
    return Source(kind, path, load_config("official", opts.config, opts.overrides, values), out)


def _rollout_module(backend: str, why: str = ""):
    from tdmpc_parity.app.backends import CLIError, backend_module

    try:
        return backend_module(backend, "rollout")
    except CLIError as exc:
        raise _error(f"{why}{exc}") from None


def load_source_weights(src: Source) -> tuple[dict[str, np.ndarray], str]:
    """(canonical weights, a sentence saying what was loaded) for `src`."""
    from tdmpc_parity.core.checkpoints import CKPT_DIR, LATEST, read_latest
    from tdmpc_parity.core.weights import load_weights

    if src.kind == "run":
        model = src.path / "model.npz"
        found = read_latest(src.path)
        pointer = src.path / CKPT_DIR / LATEST
        if found is not None and (not model.exists() or pointer.stat().st_mtime > model.stat().st_mtime):
            mod = _rollout_module(src.run_cfg.backend, f"the run's checkpoint was written by {src.run_cfg.backend}: ")
            canon, step = mod.checkpoint_weights(src.path, src.run_cfg)
            return canon, f"checkpoint {found[0]} (agent step {step}, {src.run_cfg.backend})"
        if not model.exists():
            raise _error(f"run folder {str(src.path)!r} has neither a checkpoint nor model.npz: the run stopped "
                         "before its first checkpoint (train with save_every=N to get checkpoints)")
        from tdmpc_parity.core.fsutil import require_inside

        return load_weights(require_inside(src.path, model)), f"{model} (the run's final weights)"
    if src.kind == "weights":
        return load_weights(src.path), f"{src.path} (canonical weights)"
    mod = _rollout_module("torch", "reading an official (torch.save) checkpoint needs torch: ")
    return mod.official_weights(src.cfg, src.path), f"{src.path} (official TD-MPC2 checkpoint)"


def check_glass(cfg: Config, canon: dict[str, np.ndarray]) -> None:
    """The weights hold a Glass head exactly when the config has Glass on."""
    has = "_glass.prototypes" in canon
    if has and not cfg.glass.enabled:
        N, K = canon["_glass.assign_logits"].shape
        raise _error(f"the weights hold a Glass head ({N} prototypes, {K} clusters) but the config has Glass off: "
                     "give --glass PRESET (the preset it was trained with)")
    if cfg.glass.enabled and not has:
        raise _error("the config has Glass on but the weights hold no Glass head (official checkpoints never do): "
                     "drop --glass")


# ----------------------------------------------------------------------------------------------------------
# Pictures
# ----------------------------------------------------------------------------------------------------------


def cluster_shares(q: np.ndarray, num_clusters: int) -> np.ndarray:
    """(K,): the share of agent steps t = 0..L-1 (q has rows 0..L) whose argmax_k q_k is k."""
    labels = np.argmax(np.asarray(q)[:-1], axis=-1)
    return np.bincount(labels, minlength=num_clusters) / max(len(labels), 1)


def plot_return_vs_cluster(shares: np.ndarray, returns: np.ndarray, path: Path, title: str) -> Path:
    """Scatter: x = share of time in cluster k, y = the episode's return; one colour per cluster."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tdmpc_parity.core.video import cluster_colours

    K = shares.shape[1]
    colours = cluster_colours(K) / 255.0
    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for k in range(K):
        ax.scatter(shares[:, k], returns, color=colours[k], label=f"cluster {k}", s=28, alpha=0.85)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel("share of the episode's agent steps in the cluster (argmax of c(z) S)")
    ax.set_ylabel("episode return")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2 if K > 6 else 1, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _gallery(frames: list[np.ndarray], glass: dict[str, np.ndarray], repeat: int, top_k: int, out_dir: Path,
             clips: bool, fps: float) -> dict[str, Any]:
    """gallery.png (+ clips): per prototype, the agent-step frames most similar to its mu_n."""
    from tdmpc_parity.core.video import cluster_colours, gallery_grid, top_frames, write_mp4, write_png

    steps = top_frames(glass["similarity"], top_k)  # (N, k) agent steps t
    proto_cluster = np.argmax(glass["S"], axis=-1)
    colours = cluster_colours(glass["S"].shape[1])
    rows = [[frames[int(t) * repeat] for t in row] for row in steps]
    grid = gallery_grid(rows, labels=[str(n) for n in range(len(rows))], colours=[colours[k] for k in proto_cluster])
    info: dict[str, Any] = {"path": str(write_png(out_dir / "gallery.png", grid)), "top_k": int(steps.shape[1]),
                            "agent_steps": steps.tolist(), "prototype_cluster": proto_cluster.tolist(),
                            "size": [int(grid.shape[1]), int(grid.shape[0])]}
    if clips:
        last = len(frames) - 1
        paths = []
        for n, row in enumerate(steps):
            t = int(row[0])
            lo, hi = max(0, (t - GALLERY_CLIP_STEPS) * repeat), min(last, (t + GALLERY_CLIP_STEPS) * repeat)
            paths.append(str(write_mp4(out_dir / "gallery" / f"prototype_{n}.mp4", frames[lo:hi + 1], fps)))
        info["clips"] = paths
    return info


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------


def _num(x: float) -> float | None:
    """JSON has no NaN: None (null) instead."""
    return None if math.isnan(x) else x


def _prepare(opts: EvalOptions) -> tuple[Source, int, int, Any]:
    """(source, episodes, seed, RenderSpec or None), every option checked before anything heavy runs."""
    from tdmpc_parity.core.video import VIDEO_INSTALL, RenderSpec, select_gl

    if opts.gallery_clips:
        opts.gallery = True
    src = resolve_source(opts)
    cfg = src.cfg
    episodes = cfg.eval_episodes if opts.episodes is None else opts.episodes
    if episodes < 1:
        raise _error(f"--episodes must be >= 1, got {episodes}")
    if opts.glass_overlay and opts.video is None:
        raise _error("--glass-overlay draws on the video: add --video")
    wants = [flag for flag, on in (("--glass-overlay", opts.glass_overlay), ("--gallery", opts.gallery)) if on]
    if wants and not cfg.glass.enabled:
        raise _error(f"{wants[0]} needs a Glass run (its cluster assignment), but {str(src.path)!r} has Glass off "
                     "(train with --glass PRESET)")
    render = None
    if opts.video is not None or opts.gallery:
        render = RenderSpec(height=opts.size[1], width=opts.size[0], camera=opts.camera)
        select_gl()
        mp4 = opts.video is not None or opts.gallery_clips
        if mp4 and (importlib.util.find_spec("imageio") is None or importlib.util.find_spec("imageio_ffmpeg") is None):
            raise _error(f"--video and --gallery-clips write MP4 files with imageio and imageio-ffmpeg: "
                         f"{VIDEO_INSTALL}")
    return src, episodes, cfg.seed if opts.seed is None else opts.seed, render


def _glass_outputs(cfg: Config, glass: list[dict[str, np.ndarray]], returns: np.ndarray, out_dir: Path,
                   arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Cluster probabilities into rollout.npz, shares per episode, return_vs_cluster.png, the rollout charts;
    eval.json's "glass"."""
    from tdmpc_parity.analysis.plots_glass import plot_rollout_clusters

    K = cfg.glass.num_clusters
    arrays["q"] = np.stack([g["q"] for g in glass])
    shares = np.stack([cluster_shares(g["q"], K) for g in glass])
    png = plot_return_vs_cluster(shares, returns, out_dir / "return_vs_cluster.png",
                                 f"{cfg.task} · {cfg.backend}: return vs time per cluster ({len(returns)} episodes)")
    charts = [str(plot_rollout_clusters(arrays["rewards"][i], glass[i]["q"], cfg.action_repeat,
                                        out_dir / f"rollout_clusters_{i}.png",
                                        f"{cfg.task} · {cfg.backend} · eval episode {i}: reward and cluster per "
                                        "agent step").path)
              for i in range(min(ROLLOUT_CHARTS, len(glass)))]
    return {"num_prototypes": cfg.glass.num_prototypes, "num_clusters": K, "cluster_share": shares.tolist(),
            "return_vs_cluster": str(png), "rollout_charts": charts,
            "share_definition": "per episode, the share of agent steps t = 0..L-1 whose argmax_k of q(z_t) = c(z_t) S "
                                "is k"}


def _video(opts: EvalOptions, frames: list[np.ndarray], glass: list[dict[str, np.ndarray]], repeat: int, fps: float,
           out_dir: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """rollout.mp4 of episode 0 (with the overlay when asked); eval.json's "video"."""
    from tdmpc_parity.core.video import write_mp4

    if opts.glass_overlay:
        frames, arrays["frame_cluster"] = overlay_frames(frames, glass[0]["q"], repeat)
    path = write_mp4(Path(opts.video) if opts.video else out_dir / "rollout.mp4", frames, fps)
    height, width = frames[0].shape[:2]
    return {"path": str(path), "episode": 0, "frames": len(frames), "fps": fps, "width": width, "height": height,
            "camera": opts.camera, "glass_overlay": opts.glass_overlay,
            "frame_rule": "1 + episode_length x action_repeat frames: the reset state, then the state after every "
                          "physics control step; frame f is agent step f // action_repeat"}


def _print_summary(result: dict[str, Any], out_dir: Path) -> None:
    mean, low, high, n = result["mean"], result["ci_low"], result["ci_high"], result["episodes"]
    if low is None:
        print(f"return over 1 episode: {mean:.2f} (no confidence interval from one episode)")
    else:
        print(f"return over {n} episode(s): {mean:.2f} ± {(high - low) / 2:.2f} (95% CI [{low:.2f}, {high:.2f}], "
              "percentile bootstrap; ± = half its width)")
    for key in ("video", "gallery"):
        if key in result:
            print(f"{key}: {result[key]['path']}")
    if "glass" in result:
        print(f"return vs cluster: {result['glass']['return_vs_cluster']}")
        print(f"reward and cluster per step: {', '.join(result['glass']['rollout_charts'])}")
    print(f"results: {out_dir / 'eval.json'}")


def run_eval(opts: EvalOptions) -> dict[str, Any]:
    """Evaluate SOURCE, write the files of the module docstring, print the summary; returns eval.json's dict."""
    from tqdm import tqdm

    from tdmpc_parity.core.stats import CONFIDENCE, mean_ci

    src, episodes, seed, render = _prepare(opts)
    cfg = src.cfg
    canon, loaded = load_source_weights(src)
    check_glass(cfg, canon)
    print(f"loaded: {loaded}")
    evaluator = _rollout_module(cfg.backend).Evaluator(cfg, canon, seed, render=render is not None)
    if cfg.backend == "jax":
        print("compiling the JAX evaluation episode (first episode)…", flush=True)
    records = [evaluator.episode(i, render if i == 0 else None)
               for i in tqdm(range(episodes), desc=f"eval {cfg.backend} {cfg.task}", unit="episode",
                             disable=not opts.progress, dynamic_ncols=True)]
    returns = np.array([r.ret for r in records])
    mean, low, high = mean_ci(returns)
    out_dir = src.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    R = cfg.action_repeat
    result: dict[str, Any] = {
        "source": str(src.path), "source_kind": src.kind, "loaded": loaded, "backend": cfg.backend, "task": cfg.task,
        "episodes": episodes, "seed": seed, "episode_length": cfg.episode_length, "action_repeat": R,
        "returns": returns.tolist(), "mean": mean, "ci_low": _num(low), "ci_high": _num(high), "confidence": CONFIDENCE,
        "ci_method": "percentile bootstrap of the mean over episodes (tdmpc_parity/core/stats.py); "
                     "null with one episode",
    }
    arrays: dict[str, np.ndarray] = {"latents": np.stack([r.latents for r in records]), "returns": returns,
                                     "rewards": np.stack([r.rewards for r in records])}
    glass = [evaluator.glass(r.latents) for r in records] if cfg.glass.enabled else []
    if glass:
        result["glass"] = _glass_outputs(cfg, glass, returns, out_dir, arrays)
    frames = records[0].frames
    if frames is not None:
        arrays["frame_step"] = np.arange(len(frames)) // R
        if opts.video is not None:
            result["video"] = _video(opts, frames, glass, R, evaluator.fps, out_dir, arrays)
        if opts.gallery:
            result["gallery"] = _gallery(frames, glass[0], R, opts.top_k, out_dir, opts.gallery_clips, evaluator.fps)
    shares = np.asarray(result["glass"]["cluster_share"]) if glass else None
    _write_outputs(out_dir, result, arrays, returns, shares)
    _print_summary(result, out_dir)
    return result


def _write_outputs(out_dir: Path, result: dict[str, Any], arrays: dict[str, np.ndarray], returns: np.ndarray,
                   shares: np.ndarray | None) -> None:
    """eval.json, episodes.csv and rollout.npz, each written atomically."""
    from tdmpc_parity.core.fsutil import atomic_file, atomic_write_text

    atomic_write_text(out_dir / "eval.json", json.dumps(result, indent=2, allow_nan=False) + "\n")
    with atomic_file(out_dir / "episodes.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        K = 0 if shares is None else shares.shape[1]
        writer.writerow(["episode", "return", *(f"share_{k}" for k in range(K))])
        for i, ret in enumerate(returns):
            writer.writerow([i, repr(float(ret)), *([] if shares is None else [repr(float(s)) for s in shares[i]])])
    with atomic_file(out_dir / "rollout.npz", suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
