"""What `tdmpc-parity eval` drives in the torch backend (the same interface as jax_impl/rollout.py): the episodes of
torch_ref/episodes.py (`run_episodes`, `Evaluator`, `write_training_video`, re-exported here),
`checkpoint_weights`, the canonical weights of a run's latest training checkpoint, and `official_weights`, those of
an official TD-MPC2 checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tdmpc_parity.core.config import Config
from torch_ref.episodes import (
    Episodes,
    Evaluator,
    control_step_hook,
    make_agent,
    run_episodes,
    write_training_video,
)

__all__ = ["Episodes", "Evaluator", "checkpoint_weights", "control_step_hook", "make_agent", "official_weights",
           "run_episodes", "write_training_video"]


def checkpoint_weights(run_dir: str | Path, cfg: Config) -> tuple[dict[str, np.ndarray], int]:
    """(canonical weights, agent step) of the run's latest training checkpoint (state.pt only, not the buffer)."""
    from tdmpc_parity.core.checkpoints import CheckpointError, check_same_run, read_latest
    from tdmpc_parity.core.config import config_from_dict
    from torch_ref import checkpoint

    found = read_latest(run_dir)
    if found is None:
        raise CheckpointError(f"run folder {str(run_dir)!r} has no checkpoint")
    folder, info = found
    if info.get("backend") != "torch":
        raise CheckpointError(f"checkpoint {str(folder)!r} was written by the {info.get('backend')} backend")
    state = checkpoint._load(folder / checkpoint.STATE)
    if state.get("format") != checkpoint.FORMAT:
        raise CheckpointError(f"{str(folder / checkpoint.STATE)!r} is not a {checkpoint.FORMAT} checkpoint")
    check_same_run(config_from_dict(state["config"]), cfg, folder)
    model = state["agent"]["model"]
    return {k: v.detach().cpu().numpy().copy() for k, v in model.items()}, int(info["agent_step"])


def official_weights(cfg: Config, path: str | Path) -> dict[str, np.ndarray]:
    """Canonical weights of an official TD-MPC2 checkpoint (torch_ref.official_checkpoint.load_official)."""
    from torch_ref.official_checkpoint import load_official
    from torch_ref.weights import to_canonical
    from torch_ref.world_model import WorldModel

    model = WorldModel(cfg)
    load_official(model, path)
    return to_canonical(model)
