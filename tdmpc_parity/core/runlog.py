"""Run folders, identical for both backends.

RUN_DIR/
  config.json      the resolved config (Config.to_dict()) plus {"backend": ..., "created": ...}
  metrics.jsonl    one JSON object per row; "kind" in {"train", "eval", "glass"}; every row has
                   "env_step" (physics control steps = agent steps x action_repeat) and "agent_step"
  metrics.csv      the train rows;  eval.csv  the eval rows. Every key of metrics.jsonl's rows of that kind is a
                   column: a row bringing a new key (the first update's losses, after seed-phase rows) rewrites
                   the file atomically with the wider header; a row without a key leaves its cell empty
  glass/step_<agent_step>.npz   Glass matrices S (N,K), P (N,N), A (N,N) at each diagnostic step
  checkpoints/     written by the backend's checkpoint module
  tb/              TensorBoard event files (tdmpc_parity/core/loggers.py; config `logger`), the same rows as scalars
Rows are appended and flushed line by line, so a crash leaves every finished row readable. A resumed run
(`resume=True`) first drops the rows and Glass dumps logged after its checkpoint's agent step (the resumed run
logs them again), so no step appears twice.

A train row: agent_step, env_step, elapsed, episode_reward, episode_length, steps_per_second (env steps per
second of this run since the previous row; with several seeds in one program, JAX `--seeds`, the seeds' total
divided by the number of seeds, i.e. per seed, as a torch run logs it) and the update metrics of `update_row`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.core.checkpoints import read_latest
from tdmpc_parity.core.config import Config, config_from_dict
from tdmpc_parity.core.fsutil import atomic_file, atomic_write_text, check_links, require_inside
from tdmpc_parity.core.loggers import open_sinks, require_installed, scalars_of
from tdmpc_parity.core.safe_json import read_json

CONFIG_FILE, METRICS_FILE = "config.json", "metrics.jsonl"
GLASS_ACTIVE = "glass_active"
CSV_FILES = {"train": "metrics.csv", "eval": "eval.csv"}
GLASS_DIR, CHECKPOINT_DIR = "glass", "checkpoints"


def _plain(value: Any) -> Any:
    """Python scalars for JSON (numpy/torch/jax 0-d arrays have .item())."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    return value


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG_FILE).exists()


def read_config(run_dir: str | Path) -> Config:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{str(run_dir)!r} is not a run folder (no {CONFIG_FILE})")
    data = read_json(require_inside(run_dir, path), "run config")
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} is not a run config: it holds no JSON object")
    data.pop("_meta", None)
    return config_from_dict(data)


class RunLog:
    """Append-only writer of a run folder's metrics; creates the folder and config.json."""

    def __init__(self, run_dir: str | Path, cfg: Config, resume: bool = False, overwrite: bool = False):
        self.dir = Path(run_dir)
        require_writable_folder(self.dir)
        check_links(self.dir)  # rows appended through a link would land outside the run folder
        if is_run_dir(self.dir) and not resume:
            if not overwrite:
                raise ValueError(
                    f"run folder {str(self.dir)!r} already holds a run; pass --resume to continue it or "
                    f"--overwrite to replace it"
                )
            for name in (METRICS_FILE, *CSV_FILES.values(), "model.npz"):
                (self.dir / name).unlink(missing_ok=True)
            for sub in (GLASS_DIR, CHECKPOINT_DIR):  # the old run's checkpoints must not be resumed later
                shutil.rmtree(self.dir / sub, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            data = cfg.to_dict()
            data["_meta"] = {"created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            atomic_write_text(self.dir / CONFIG_FILE, json.dumps(data, indent=2, sort_keys=True))
        require_installed(cfg.logger)  # a missing logger library is refused before the run starts
        self.cfg, self.resume = cfg, resume
        self.sinks: list = []
        self._started = False
        self._csv_fields: dict[str, list[str]] = {}

    def _start(self) -> None:
        """On the first write, not before: a run refused after this object exists (a resumed checkpoint of
        another run) leaves the folder untouched. A resumed run drops the rows and dumps past its checkpoint
        (the run logs them again); then the CSV headers are read and the scalar loggers opened."""
        if self._started:
            return
        self._started = True
        resume_step = None
        found = read_latest(self.dir) if self.resume else None
        if found is not None:
            agent_step = int(found[1]["agent_step"])
            self._drop_rows_after(agent_step)
            resume_step = agent_step * self.cfg.action_repeat + 1  # TensorBoard purges its later events
        for kind, name in CSV_FILES.items():
            path = self.dir / name
            if path.exists() and path.stat().st_size > 0:
                with path.open() as fh:
                    self._csv_fields[kind] = next(csv.reader(fh))
        self.sinks = open_sinks(self.cfg.logger, self.dir, self.cfg.to_dict(), self.cfg.wandb_project, self.resume,
                                resume_step)

    def _drop_rows_after(self, agent_step: int) -> None:
        """Rewrite metrics.jsonl and the CSVs without rows past `agent_step`; delete later Glass dumps."""
        path = self.dir / METRICS_FILE
        if path.exists():
            kept = [json.dumps(r, allow_nan=True) for r in read_metrics(self.dir)
                    if r.get("agent_step", 0) <= agent_step]
            atomic_write_text(path, "".join(line + "\n" for line in kept))
        for name in CSV_FILES.values():
            csv_path = self.dir / name
            if not (csv_path.exists() and csv_path.stat().st_size > 0):
                continue
            with csv_path.open(newline="") as fh:
                fields = next(csv.reader(fh))
            rows = [r for r in _read_csv(csv_path) if float(r.get("agent_step") or 0) <= agent_step]
            with atomic_file(csv_path, suffix=".csv") as tmp, tmp.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
        for dump in (self.dir / GLASS_DIR).glob("step_*.npz"):
            if int(dump.stem.split("_")[1]) > agent_step:
                dump.unlink()

    def log(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        """Append one row of `kind`; returns the row as written (plain Python numbers)."""
        self._start()
        clean = {"kind": kind, **{k: _plain(v) for k, v in row.items()}}
        with (self.dir / METRICS_FILE).open("a") as fh:
            fh.write(json.dumps(clean, allow_nan=True) + "\n")
        if kind in CSV_FILES:
            self._write_csv(kind, {k: v for k, v in clean.items() if k != "kind"})
        step = int(clean.get("env_step", 0))
        for sink in self.sinks:
            sink.write(kind, step, scalars_of(clean))
        return clean

    def close(self) -> None:
        """Flush and close the scalar loggers (TensorBoard, W&B); the files are complete without it."""
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    def _write_csv(self, kind: str, row: dict[str, Any]) -> None:
        """Append `row` to the kind's CSV; a row with keys the header lacks rewrites the file with them added."""
        path = self.dir / CSV_FILES[kind]
        fields = self._csv_fields.get(kind, []) if path.exists() and path.stat().st_size > 0 else []
        new_keys = [k for k in row if k not in fields]
        if not new_keys:
            with path.open("a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=fields).writerow(row)
            return
        old_rows = _read_csv(path) if fields else []
        self._csv_fields[kind] = fields = fields + new_keys
        with atomic_file(path, suffix=".csv") as tmp, tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows([*old_rows, row])

    def save_glass_matrices(self, agent_step: int, matrices: dict[str, np.ndarray]) -> Path:
        self._start()
        out = self.dir / GLASS_DIR
        out.mkdir(exist_ok=True)
        path = out / f"step_{agent_step:010d}.npz"
        with atomic_file(path, suffix=".npz") as tmp:
            np.savez(tmp, **{k: np.asarray(v) for k, v in matrices.items()})
        return path


def require_writable_folder(run_dir: Path) -> None:
    """Refuse a run folder path that is an existing file, or a folder (or, when it does not exist yet, the nearest
    existing folder above it) that this process may not write in: a ValueError sentence, nothing created."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} is an existing file, not a folder; give --run-dir a new or "
                         "existing folder")
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} cannot be created: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == run_dir else f" (it would be created in {str(existing)!r})"
        raise ValueError(f"run folder {str(run_dir)!r} is not writable{where}: this user may not write there; give "
                         "--run-dir a folder you can write in")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def update_row(means: Mapping[str, float]) -> dict[str, float]:
    """A train row's update metrics from their means over the row's updates, sorted by name (both backends).

    `glass_active` (Glass runs only) is the fraction of the row's updates on which Glass was active. Inactive
    updates report the Glass metrics as 0 (the agents' `glass_terms`), so each `glass_*` metric is divided by
    `glass_active`: the row holds its mean over the active updates, and 0 when no update of the row was active.
    """
    out = {k: float(v) for k, v in sorted(means.items())}
    active = out.get(GLASS_ACTIVE)
    if active:
        for key in out:
            if key.startswith("glass_") and key != GLASS_ACTIVE:
                out[key] /= active
    return out


def read_metrics(run_dir: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """All rows of metrics.jsonl (of one kind if given); a torn last line (crash mid-write) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows = []
    lines = require_inside(run_dir, path).read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue
            raise ValueError(f"{str(path)!r} line {i + 1} is not valid JSON") from None
        except RecursionError:
            raise ValueError(f"{str(path)!r} line {i + 1} is nested too deeply to be read as JSON") from None
        if not isinstance(row, dict):
            raise ValueError(f"{str(path)!r} line {i + 1} is not a JSON object")
        if kind is None or row.get("kind") == kind:
            rows.append(row)
    return rows


def first_non_finite(metrics: dict[str, Any]) -> str | None:
    """Name of the first metric whose value is NaN or infinite, else None."""
    for name, value in metrics.items():
        v = _plain(value)
        if isinstance(v, float) and not math.isfinite(v):
            return name
    return None


class NonFiniteError(RuntimeError):
    """A logged scalar, gradient norm, Q value or env state became NaN/Inf: the run stops loudly."""

    def __init__(self, agent_step: int, name: str, checkpoint: str | None):
        self.agent_step, self.name, self.checkpoint = agent_step, name, checkpoint
        last = f"last good checkpoint: {checkpoint}" if checkpoint else "no checkpoint was written yet"
        super().__init__(f"non-finite value in {name!r} at agent step {agent_step}; the run stopped ({last})")
