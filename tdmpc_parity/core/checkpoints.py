"""Checkpoint files of a run folder, backend-free: atomic writes, the `latest.json` pointer, pruning.

RUN_DIR/checkpoints/step_<agent_step>/...  one folder per checkpoint (the backend writes its files in it)
RUN_DIR/checkpoints/latest.json            {"agent_step", "dir", "backend", "files"}: written LAST, atomically
A kill at any point leaves `latest.json` naming the previous complete checkpoint. The environment variable
TDMPC_PARITY_KILL_AT=<point>[:N] makes the process SIGKILL itself at a named point (for the kill test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.fsutil import atomic_file, check_links, require_inside
from tdmpc_parity.core.safe_json import read_json

CKPT_DIR, LATEST = "checkpoints", "latest.json"
KEEP = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, or of another run."""


# Config fields that fix the shapes of a checkpoint's contents: a mismatch means another run.
SHAPING_FIELDS = ("task", "model_size", "latent_dim", "mlp_dim", "enc_dim", "num_enc_layers", "num_q", "obs_dim",
                  "action_dim", "n_envs", "episode_length", "buffer_size", "dtype", "glass")


def check_same_run(saved: Config, cfg: Config, folder: Path) -> None:
    """Refuse a checkpoint whose config differs from the run's in a field that shapes its contents, or that was
    trained in another physics (config field `physics`)."""
    if saved.physics != cfg.physics:
        raise CheckpointError(f"checkpoint {str(folder)!r} was trained with physics={saved.physics} but the run has "
                              f"physics={cfg.physics}: continue it with physics={saved.physics}")
    for name in SHAPING_FIELDS:
        if getattr(saved, name) != getattr(cfg, name):
            raise CheckpointError(f"checkpoint {str(folder)!r} has {name}={getattr(saved, name)!r} but the run has "
                                  f"{name}={getattr(cfg, name)!r}: it belongs to another run")


_KILL_COUNTS: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process when TDMPC_PARITY_KILL_AT is `name` or `name:N` (the N-th time the point is
    reached); used by the tests of crash safety."""
    want = os.environ.get("TDMPC_PARITY_KILL_AT", "")
    point, _, nth = want.partition(":")
    if point != name:
        return
    _KILL_COUNTS[name] = _KILL_COUNTS.get(name, 0) + 1
    if _KILL_COUNTS[name] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)


def checkpoint_dir(run_dir: str | Path, agent_step: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"step_{agent_step:012d}"


def write_latest(run_dir: str | Path, agent_step: int, backend: str, files: list[str]) -> None:
    """Point `latest.json` at a complete checkpoint (call after all its files are renamed into place)."""
    info = {"agent_step": agent_step, "dir": checkpoint_dir(run_dir, agent_step).name, "backend": backend,
            "files": files}
    kill_point("before_latest")
    with atomic_file(Path(run_dir) / CKPT_DIR / LATEST) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    prune(run_dir, keep=KEEP)


def read_latest(run_dir: str | Path) -> tuple[Path, dict] | None:
    """(checkpoint folder, info) of the newest complete checkpoint, or None when the run has none."""
    root = Path(run_dir) / CKPT_DIR
    path = root / LATEST
    if not path.exists():
        return None
    try:  # no link may lead out of the run folder: reading (or pruning) through it would touch other files
        require_inside(run_dir, root)
        check_links(root, boundary=run_dir)
        info = read_json(path, "checkpoint pointer")
        folder = root / _plain_name(info["dir"])
    except CheckpointError:
        raise
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    except (KeyError, TypeError):
        raise CheckpointError(f"{str(path)!r} is not a valid checkpoint pointer: it holds no folder name under "
                              "'dir'") from None
    files = info.get("files", [])
    if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
        raise CheckpointError(f"{str(path)!r} is not a valid checkpoint pointer: 'files' is not a list of names")
    missing = [f for f in files if not (folder / f).exists()]
    if missing:
        raise CheckpointError(f"checkpoint {str(folder)!r} lacks {missing[0]!r}")
    return folder, info


def _plain_name(name: object) -> str:
    """A checkpoint folder's name from latest.json: one plain path component (no `..`, no `/`)."""
    if not isinstance(name, str) or not name.startswith("step_") or Path(name).name != name or name in (".", ".."):
        raise CheckpointError(f"checkpoint pointer names the folder {name!r}; expected step_<agent step> inside "
                              f"the {CKPT_DIR}/ folder")
    return name


def require_checkpoint(run_dir: str | Path) -> tuple[Path, dict]:
    """`read_latest` for a resume: a run folder without a checkpoint is a CheckpointError saying what to do."""
    found = read_latest(run_dir)
    if found is None:
        raise CheckpointError(
            f"run folder {str(run_dir)!r} has no checkpoint to resume from: the run stopped before its first "
            "checkpoint (they are written every save_every agent steps and at the end; save_every=0 means only at "
            "the end). Nothing was changed. Start it again with the same flags plus --overwrite, and give "
            "save_every=N (agent steps) so that a crashed run can resume"
        )
    return found


def prune(run_dir: str | Path, keep: int = KEEP) -> None:
    """Delete all but the newest `keep` checkpoint folders (never the one latest.json names)."""
    root = Path(run_dir) / CKPT_DIR
    latest = read_latest(run_dir)
    keep_name = latest[0].name if latest else None
    folders = sorted(p for p in root.glob("step_*") if p.is_dir())
    for folder in folders[:-keep]:
        if folder.name != keep_name:
            shutil.rmtree(folder, ignore_errors=True)
