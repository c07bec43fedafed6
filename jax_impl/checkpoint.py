"""Training checkpoints of jax_impl (orbax), for exact resume.

One checkpoint = a folder `checkpoints/step_<agent_step>/` holding `state/` (the whole TrainState pytree
of one seed, written by orbax: agent parameters, target, Adam states, RunningScale, planner warm start,
env states, replay buffer, keys, counters) and `meta.json` (config, loop counters), then `latest.json`
(tdmpc_parity). Orbax writes into a temporary folder and renames it when complete.

Reading one runs no code from the files: meta.json is parsed as JSON (tdmpc_parity/core/safe_json.py), and orbax reads
state/ as JSON metadata, msgpack and TensorStore array chunks (numbers only; no pickle anywhere on its restore
path); `tdmpc_parity.core.checkpoints.read_latest` refuses links that lead out of the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from tdmpc_parity.core.checkpoints import (
    CheckpointError,
    atomic_file,
    check_same_run,
    checkpoint_dir,
    kill_point,
    read_latest,
    write_latest,
)
from tdmpc_parity.core.config import Config, config_from_dict
from tdmpc_parity.core.safe_json import read_json

FORMAT = "tdmpc-parity/jax/1"
STATE, META = "state", "meta.json"


def save(run_dir: str | Path, agent_step: int, cfg: Config, state: Any, meta: dict[str, Any]) -> Path:
    """Write state/ (orbax) and meta.json, then point latest.json at them."""
    folder = checkpoint_dir(run_dir, agent_step)
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / STATE).resolve()
    if target.exists():
        import shutil

        shutil.rmtree(target)
    with ocp.PyTreeCheckpointer() as ckptr:  # closing it ends orbax's background threads
        ckptr.save(target, _flat(state))
    kill_point("during_save")  # state written, meta and pointer not yet
    with atomic_file(folder / META) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "config": cfg.to_dict(), **meta}, indent=2))
    write_latest(run_dir, agent_step, "jax", [STATE, META])
    return folder


def load(run_dir: str | Path, cfg: Config, template: Any) -> tuple[Any, dict[str, Any]] | None:
    """(state, meta) of the latest checkpoint shaped like `template`, or None if the run has none."""
    found = read_latest(run_dir)
    if found is None:
        return None
    folder, info = found
    if info.get("backend") != "jax":
        raise CheckpointError(f"checkpoint {str(folder)!r} was written by the {info.get('backend')} backend")
    try:
        meta = read_json(folder / META, "checkpoint metadata")
    except ValueError as exc:
        raise CheckpointError(f"{exc} (truncated or corrupt)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(folder / META)!r} is not a {FORMAT} checkpoint")
    saved = config_from_dict(meta["config"])
    check_same_run(saved, cfg, folder)
    try:
        with ocp.PyTreeCheckpointer() as ckptr:
            flat = ckptr.restore((folder / STATE).resolve(), item=_flat(template, zeros=True))
    except Exception as exc:  # orbax raises several types for truncated/corrupt data
        raise CheckpointError(f"checkpoint {str(folder / STATE)!r} is truncated or corrupt: {exc}") from None
    return _unflat(flat, template), meta


def _flat(state: Any, zeros: bool = False) -> dict[str, np.ndarray]:
    """The pytree's non-empty leaves as {leaf_00000: array} in flatten order (orbax cannot store size-0 arrays)."""
    leaves = jax.tree.leaves(state)
    return {f"leaf_{i:05d}": (np.zeros(x.shape, x.dtype) if zeros else np.asarray(x))
            for i, x in enumerate(leaves) if int(np.prod(x.shape)) > 0}


def _unflat(flat: dict[str, np.ndarray], template: Any) -> Any:
    leaves, treedef = jax.tree.flatten(template)
    out = []
    for i, t in enumerate(leaves):
        key = f"leaf_{i:05d}"
        if int(np.prod(t.shape)) == 0:
            out.append(jax.numpy.zeros(t.shape, t.dtype))
            continue
        arr = np.asarray(flat[key])
        if arr.shape != tuple(t.shape):
            raise CheckpointError(f"checkpoint leaf {i} has shape {arr.shape}, expected {tuple(t.shape)}")
        out.append(jax.numpy.asarray(arr, dtype=t.dtype))
    return jax.tree.unflatten(treedef, out)


def last_checkpoint(run_dir: str | Path) -> str | None:
    try:
        found = read_latest(run_dir)
    except ValueError:
        return None
    return str(found[0]) if found else None
