"""Run folders as `tdmpc-parity compare` and `plot` group them: the seed folders of a JAX `--seeds` run
(RUN/seed_<s>/), a config flattened (`glass.<key>`) and named by a short hash, and the fields that are not part of
that name (backend and task are the group's own, seed is what varies inside a group)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tdmpc_parity.core.runlog import is_run_dir

GROUP_FIELDS = ("backend", "task", "seed")  # not part of the config key (backend and task are the group's own)


def seed_dirs(path: Path) -> list[Path]:
    """The seed folders `seed_<s>` of a `--seeds` run folder, by seed; [] when `path` is not one."""
    path = Path(path)
    if not path.is_dir() or is_run_dir(path):
        return []
    found = [d for d in path.glob("seed_*") if d.is_dir() and d.name[5:].isdigit()]
    return sorted(found, key=lambda d: int(d.name[5:]))


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """Config dict with the nested glass section flattened to `glass.<key>`."""
    out = {k: v for k, v in config.items() if k != "glass"}
    out.update({f"glass.{k}": v for k, v in (config.get("glass") or {}).items()})
    return out


def config_hash(config: dict[str, Any]) -> str:
    """8 hex digits of the SHA-1 of the config as sorted JSON: the name of a config in labels and tables."""
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
