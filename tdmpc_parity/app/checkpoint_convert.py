"""Convert the torch checkpoints of a run folder from format tdmpc-parity/torch/1 to tdmpc-parity/torch/2.

    python -m tdmpc_parity.app.checkpoint_convert RUN_DIR

Format 1 (written by earlier versions) pickled NumPy objects, so reading it means unpickling, and unpickling a
file runs whatever code the file names. This command does that ONLY because you ask for it: it says that it
trusts the files, reads each format-1 `state.pt` / `buffer.pt` of RUN_DIR/checkpoints/step_*/ with a full
unpickle, keeps the old files as `state.v1.pt` / `buffer.v1.pt` beside them, and writes the new files atomically
in their place (format 2 holds tensors, numbers, strings and plain containers only and is read with
`torch.load(weights_only=True)`). Run it only on run folders you trust (your own runs); the training state is
carried over exactly, so a resumed run continues as the original would have.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tdmpc_parity.core.checkpoints import CKPT_DIR, CheckpointError
from tdmpc_parity.core.fsutil import check_links

OLD_SUFFIX = ".v1.pt"


def _old_name(name: str) -> str:
    return name.removesuffix(".pt") + OLD_SUFFIX


def _trusted_load(path: Path) -> Any:
    """A full unpickle (weights_only=False): only for files the user said to trust."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated zip, bad pickle, a missing module of the pickled objects, ...
        raise CheckpointError(f"checkpoint file {str(path)!r} cannot be read: {type(exc).__name__}: {exc}") from None


def _keep_old(path: Path) -> None:
    """Keep `path` under its .v1.pt name (a hard link, else a copy): it stays readable while the new file lands."""
    old = path.with_name(_old_name(path.name))
    if old.exists():
        return
    try:
        os.link(path, old)
    except OSError:
        import shutil

        shutil.copy2(path, old)


def convert_folder(folder: Path) -> bool:
    """Convert one checkpoint folder in place; False when its state.pt is already of the current format."""
    from torch_ref import checkpoint

    state_path, buffer_path = folder / checkpoint.STATE, folder / checkpoint.BUFFER
    try:
        checkpoint._load(state_path)
        return False  # already the safe format (or converted earlier)
    except CheckpointError as exc:
        if checkpoint.OLD_FORMAT not in str(exc):
            raise
    state = _trusted_load(state_path)
    if not isinstance(state, dict) or state.get("format") != checkpoint.OLD_FORMAT:
        raise CheckpointError(f"{str(state_path)!r} is not a {checkpoint.OLD_FORMAT} checkpoint; nothing converted")
    buffer = _trusted_load(buffer_path)
    _keep_old(buffer_path)
    _keep_old(state_path)
    checkpoint.write_files(folder, {**state, "format": checkpoint.FORMAT}, buffer)
    return True


def convert(run_dir: str | Path) -> list[Path]:
    """Convert every format-1 torch checkpoint of `run_dir`; the converted folders (empty if there were none)."""
    run_dir = Path(run_dir)
    root = run_dir / CKPT_DIR
    if not root.is_dir():
        raise CheckpointError(f"{str(run_dir)!r} has no {CKPT_DIR}/ folder: there is nothing to convert")
    check_links(run_dir)  # never write through a link that leads out of the run folder
    from torch_ref import checkpoint

    folders = sorted(p for p in root.glob("step_*") if (p / checkpoint.STATE).is_file())
    return [folder for folder in folders if convert_folder(folder)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tdmpc_parity.app.checkpoint_convert",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="the run folder whose checkpoints/step_*/state.pt and buffer.pt to convert")
    args = parser.parse_args(argv)
    print(f"converting the torch checkpoints of {args.run_dir!r}: their format-1 files are unpickled, which runs any "
          "code they name; you asked for it, so they are trusted", flush=True)
    try:
        done = convert(args.run_dir)
    except ValueError as exc:  # CheckpointError included
        print(f"checkpoint_convert: error: {exc}", file=sys.stderr)
        return 2
    for folder in done:
        print(f"converted {folder} (old files kept as *{OLD_SUFFIX})")
    if not done:
        print("nothing to convert: every checkpoint already has the current format")
    return 0


if __name__ == "__main__":
    sys.exit(main())
