"""Scalar loggers beside the run folder's files: TensorBoard and Weights & Biases, identical for both backends.

Every row a trainer logs through `RunLog.log(kind, row)` goes to the sinks as scalars `<kind>/<key>` at
x = `env_step` (the official logger's x axis), e.g. `train/consistency_loss`, `eval/episode_reward`,
`glass/structural_entropy`; `env_step` itself, `agent_step` and non-numeric values are not plotted.

`logger` (config): "auto" = TensorBoard when `tensorboardX` is installed, else none; "tensorboard" (an error if
it is missing); "wandb" (TensorBoard too when installed, plus a W&B run with the same scalars; offline with
WANDB_MODE=offline); "none". Event files go to RUN_DIR/tb/ (`tensorboard --logdir runs/`).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, Protocol

TB_DIR = "tb"
LOGGERS = ("auto", "tensorboard", "wandb", "none")
NOT_PLOTTED = ("env_step", "agent_step")


class ScalarSink(Protocol):
    def write(self, kind: str, step: int, scalars: dict[str, float]) -> None: ...

    def close(self) -> None: ...


def scalars_of(row: dict[str, Any]) -> dict[str, float]:
    """The plottable scalars of a logged row: finite or not, numbers only (bools as 0/1), without the x axes."""
    out = {}
    for key, value in row.items():
        if key in NOT_PLOTTED or key == "kind" or isinstance(value, str) or value is None:
            continue
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)):
            out[key] = float(value)
    return out


class TensorBoardSink:
    """tensorboardX event files in RUN_DIR/tb/; flushed after every row so a crash loses nothing plotted."""

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        from tensorboardX import SummaryWriter

        # purge_step: a resumed run drops the events logged after its checkpoint, as TensorBoard expects.
        # A numbered suffix keeps a resumed run's file from replacing one opened in the same second.
        logdir = Path(run_dir) / TB_DIR
        opened = len(list(logdir.glob("events.out.tfevents.*"))) if logdir.exists() else 0
        self.writer = SummaryWriter(logdir=str(logdir), purge_step=purge_step, flush_secs=10,
                                    filename_suffix=f".{opened:04d}")

    def write(self, kind: str, step: int, scalars: dict[str, float]) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(f"{kind}/{key}", value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    """One W&B run per run folder (project `wandb_project`, name = the folder's name); same scalars as TensorBoard."""

    def __init__(self, run_dir: Path, config: dict[str, Any], project: str, resume: bool):
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=project, name=Path(run_dir).name, dir=str(run_dir), config=config,
                              id=_wandb_id(run_dir), resume="allow" if resume else None, reinit=True)

    def write(self, kind: str, step: int, scalars: dict[str, float]) -> None:
        self.run.log({f"{kind}/{k}": v for k, v in scalars.items() if math.isfinite(v)}, step=step)

    def close(self) -> None:
        self.run.finish()


def _wandb_id(run_dir: Path) -> str:
    """A stable W&B id per run folder, kept in RUN_DIR/wandb_id, so `--resume` continues the same W&B run."""
    path = Path(run_dir) / "wandb_id"
    if path.exists():
        return path.read_text().strip()
    import secrets

    run_id = secrets.token_hex(8)
    path.write_text(run_id + "\n")
    return run_id


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require_installed(logger: str) -> None:
    """A ValueError saying what to install when `logger` names a library that is missing (checked up front)."""
    if logger not in LOGGERS:
        raise ValueError(f"config field 'logger': {logger!r} is not one of {LOGGERS}")
    if logger == "tensorboard" and not installed("tensorboardX"):
        raise ValueError("logger=tensorboard needs tensorboardX: pip install 'tdmpc-parity[log]' (or logger=none)")
    if logger == "wandb" and not installed("wandb"):
        raise ValueError("logger=wandb needs wandb: pip install wandb (or logger=tensorboard / none)")


def open_sinks(logger: str, run_dir: Path, config: dict[str, Any], wandb_project: str, resume: bool = False,
               resume_step: int | None = None) -> list[ScalarSink]:
    """The sinks `logger` asks for (`require_installed` first). `resume_step`: the env step a resumed run
    continues from (later TensorBoard events are purged)."""
    require_installed(logger)
    sinks: list[ScalarSink] = []
    if logger in ("auto", "tensorboard", "wandb") and installed("tensorboardX"):
        sinks.append(TensorBoardSink(run_dir, purge_step=resume_step))
    if logger == "wandb":
        sinks.append(WandbSink(run_dir, config, wandb_project, resume=resume))
    return sinks
