"""Training checkpoints of torch_ref (torch.save), for exact resume.

One checkpoint = a folder `checkpoints/step_<agent_step>/` with `state.pt` (config, agent state: model,
target, both Adams, RunningScale, planner warm starts, RNG; loop counters; env RNG states) and `buffer.pt`
(the replay buffer, separate because large), each written atomically, then `latest.json` (harness).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from harness.checkpoints import (
    CheckpointError,
    atomic_file,
    check_same_run,
    checkpoint_dir,
    kill_point,
    read_latest,
    write_latest,
)
from harness.config import Config, config_from_dict

FORMAT = "tdmpc-parity/torch/1"
STATE, BUFFER = "state.pt", "buffer.pt"


def save(run_dir: str | Path, agent_step: int, cfg: Config, state: dict[str, Any], buffer: dict[str, Any]) -> Path:
    """Write state.pt and buffer.pt atomically, then point latest.json at them."""
    folder = checkpoint_dir(run_dir, agent_step)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / BUFFER) as tmp:
        torch.save(buffer, tmp)
    with atomic_file(folder / STATE) as tmp:
        torch.save({"format": FORMAT, "config": cfg.to_dict(), **state}, tmp)
        kill_point("during_save")  # the state file is half-way: written, not yet renamed
    write_latest(run_dir, agent_step, "torch", [STATE, BUFFER])
    return folder


def _load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, OSError) as exc:
        raise CheckpointError(f"checkpoint file {str(path)!r} is truncated or corrupt: {exc}") from None


def load(run_dir: str | Path, cfg: Config) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(state, buffer) of the latest checkpoint, or None if the run has none; checks it belongs to `cfg`."""
    found = read_latest(run_dir)
    if found is None:
        return None
    folder, info = found
    if info.get("backend") != "torch":
        raise CheckpointError(f"checkpoint {str(folder)!r} was written by the {info.get('backend')} backend")
    state = _load(folder / STATE)
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{str(folder / STATE)!r} is not a {FORMAT} checkpoint")
    saved = config_from_dict(state["config"])
    check_same_run(saved, cfg, folder)
    return state, _load(folder / BUFFER)
