"""What `tdmpc-parity eval` drives in the JAX backend (the same interface as torch_ref/rollout.py): the episodes of
jax_impl/episodes.py (`run_episodes`, `Evaluator`, `write_training_video`, re-exported here) and
`checkpoint_weights`, the canonical weights of a run's latest training checkpoint, restored through the trainer's
compiled programs (jax_impl/train.py). This module imports the trainer, so the trainer imports the episodes from
jax_impl/episodes.py, never from here.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jax_impl.episodes import Episodes, Evaluator, make_agent_state, run_episodes, write_training_video
from tdmpc_parity.core.config import Config

__all__ = ["Episodes", "Evaluator", "checkpoint_weights", "make_agent_state", "run_episodes", "write_training_video"]


def checkpoint_weights(run_dir: str | Path, cfg: Config) -> tuple[dict[str, np.ndarray], int]:
    """(canonical weights, agent step) of the run's latest training checkpoint (orbax; `cfg` = the run's config)."""
    from jax_impl import checkpoint
    from jax_impl.train import programs_for
    from jax_impl.weights import to_canonical
    from tdmpc_parity.core.checkpoints import CheckpointError, read_latest

    found = read_latest(run_dir)
    if found is None:
        raise CheckpointError(f"run folder {str(run_dir)!r} has no checkpoint")
    programs = programs_for(cfg)
    template = jax.eval_shape(programs.init_state, jnp.zeros((), jnp.uint32))
    state, _ = checkpoint.load(run_dir, cfg, template)
    return to_canonical(programs.agent.model, state.agent.params), int(found[1]["agent_step"])
