"""Scalar loggers (tdmpc_parity/core/loggers.py) through RunLog: TensorBoard read back by TensorBoard, the W&B sink's
calls,
a resumed run dropping the rows past its checkpoint, and the errors of a logger that is not installed."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.core.checkpoints import write_latest
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.runlog import RunLog, read_metrics
from tests.train_helpers import TINY_YAML, assert_tensorboard_matches_jsonl, tensorboard_scalars


def _cfg(*extra: str):
    return load_config(yaml_path=TINY_YAML, overrides=["task=cartpole-balance", *extra])


def _log_rows(log: RunLog, agent_steps: range) -> None:
    for a in agent_steps:
        log.log("train", {"agent_step": a, "env_step": 2 * a, "episode_reward": a / 7, "total_loss": 1 / (a + 1),
                          "glass_active": a % 100 == 0, "note": "not a number"})
        if a % 100 == 0:
            log.log("eval", {"agent_step": a, "env_step": 2 * a, "episode_reward": a / 3})
            log.save_glass_matrices(a, {"S": np.full((2, 2), a, np.float32)})


def test_tensorboard_scalars_are_the_rows(tmp_path: Path):
    log = RunLog(tmp_path / "run", _cfg("logger=tensorboard"))
    _log_rows(log, range(50, 301, 50))
    log.close()
    assert_tensorboard_matches_jsonl(tmp_path / "run")
    got = tensorboard_scalars(tmp_path / "run")
    assert got["train/glass_active"][:2] == [(100, 0.0), (200, 1.0)]  # a bool as 0/1, x = env step
    assert "train/note" not in got and "train/agent_step" not in got


def test_resume_drops_rows_and_dumps_after_the_checkpoint(tmp_path: Path):
    run = tmp_path / "run"
    cfg = _cfg("logger=tensorboard")
    log = RunLog(run, cfg)
    _log_rows(log, range(50, 301, 50))  # as if killed after logging step 300 with its checkpoint at 200
    log.close()
    (run / "checkpoints" / "step_000000000200").mkdir(parents=True)
    write_latest(run, 200, "torch", [])
    log = RunLog(run, cfg, resume=True)
    assert len(read_metrics(run, "train")) == 6  # nothing is touched before the resumed run writes
    log.log("eval", {"agent_step": 200, "env_step": 400, "episode_reward": 1.0})  # its first write
    assert [r["agent_step"] for r in read_metrics(run, "train")] == [50, 100, 150, 200]
    assert sorted(p.name for p in (run / "glass").glob("*.npz")) == ["step_0000000100.npz", "step_0000000200.npz"]
    assert (run / "metrics.csv").read_text().count("\n") == 5 and (run / "eval.csv").read_text().count("\n") == 4
    _log_rows(log, range(250, 351, 50))  # the resumed run logs 250, 300 again, then 350
    log.close()
    assert [r["agent_step"] for r in read_metrics(run, "train")] == [50, 100, 150, 200, 250, 300, 350]
    assert [r["agent_step"] for r in read_metrics(run, "eval")] == [100, 200, 200, 300]
    assert_tensorboard_matches_jsonl(run)  # TensorBoard purged its events past the checkpoint: no step twice


class _FakeWandbRun:
    def __init__(self, calls: list, **kwargs):
        self.calls = calls
        calls.append(("init", kwargs))

    def log(self, data: dict, step: int) -> None:
        self.calls.append(("log", step, data))

    def finish(self) -> None:
        self.calls.append(("finish",))


@pytest.fixture
def fake_wandb(monkeypatch) -> list:
    """A module named wandb that records its calls (the real client needs an account or a network)."""
    calls: list = []
    module = types.ModuleType("wandb")
    module.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    module.init = lambda **kw: _FakeWandbRun(calls, **kw)
    monkeypatch.setitem(sys.modules, "wandb", module)
    return calls


def test_wandb_gets_the_tensorboard_scalars(tmp_path: Path, fake_wandb: list):
    run = tmp_path / "run"
    log = RunLog(run, _cfg("logger=wandb", "wandb_project=glass-k"))
    _log_rows(log, range(50, 101, 50))
    log.close()
    init = fake_wandb[0][1]
    assert init["project"] == "glass-k" and init["name"] == "run" and init["config"]["task"] == "cartpole-balance"
    logged = [(c[1], c[2]) for c in fake_wandb if c[0] == "log"]
    assert logged[0] == (100, {"train/episode_reward": 50 / 7, "train/total_loss": 1 / 51, "train/glass_active": 0.0})
    assert logged[-1] == (200, {"eval/episode_reward": 100 / 3})
    assert fake_wandb[-1] == ("finish",)
    assert (run / "tb").exists()  # TensorBoard as well, when installed
    again = RunLog(run, _cfg("logger=wandb"), resume=True)  # a resumed run continues the same W&B run
    again.log("eval", {"agent_step": 100, "env_step": 200, "episode_reward": 2.0})
    init_again = next(c for c in reversed(fake_wandb) if c[0] == "init")[1]
    assert init_again["id"] == init["id"] and init_again["resume"] == "allow"
    again.close()


def test_logger_not_installed_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails: not installed
    with pytest.raises(ValueError, match="logger=wandb needs wandb: pip install wandb"):
        RunLog(tmp_path / "a", _cfg("logger=wandb"))
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ValueError, match=r"logger=tensorboard needs tensorboardX"):
        RunLog(tmp_path / "b", _cfg("logger=tensorboard"))
    log = RunLog(tmp_path / "c", _cfg())  # auto: quietly without
    log.log("eval", {"agent_step": 0, "env_step": 0, "episode_reward": 1.0})
    assert log.sinks == [] and not (tmp_path / "c" / "tb").exists()
    assert json.loads((tmp_path / "c" / "config.json").read_text())["logger"] == "auto"
    with pytest.raises(ValueError, match="config field 'logger'"):
        _cfg("logger=mlflow")
