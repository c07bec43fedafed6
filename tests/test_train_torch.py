"""torch_ref training: a short run, determinism, exact resume, crash safety, the NaN guard, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.core.runlog import NonFiniteError
from tests.train_helpers import (
    assert_csv_matches_jsonl,
    assert_tensorboard_matches_jsonl,
    cli_args,
    rows,
    tiny_config,
)
from torch_ref.train import Trainer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted 250-step run (5 episodes: 2 seed episodes, pre-training, 3 with MPPI + updates)."""
    run_dir = tmp_path_factory.mktemp("torch") / "full"
    assert cli(cli_args("torch", 250, run_dir)) == 0
    return run_dir


def test_short_run_writes_metrics(reference_run: Path):
    train, evals = rows(reference_run, "train"), rows(reference_run, "eval")
    assert [r["agent_step"] for r in train] == [50, 100, 150, 200, 250]
    assert [r["env_step"] for r in train] == [100, 200, 300, 400, 500]  # action repeat 2
    assert [r["agent_step"] for r in evals] == [0, 100, 200]  # the untrained agent is evaluated too
    assert "total_loss" not in train[0] and np.isfinite(train[-1]["total_loss"])  # updates start after seeding
    assert (reference_run / "metrics.csv").read_text().count("\n") == 6
    assert (reference_run / "config.json").exists() and (reference_run / "model.npz").exists()


def test_csv_carries_every_metric(reference_run: Path):
    """The first train row (seed phase) has no update metrics; the CSV still gets every loss column."""
    train = rows(reference_run, "train")
    assert "total_loss" not in train[0] and "total_loss" in train[-1]
    header = (reference_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"total_loss", "consistency_loss", "value_loss", "pi_loss", "grad_norm", "pi_grad_norm"} <= set(header)
    assert_csv_matches_jsonl(reference_run)


def test_tensorboard_has_every_scalar(reference_run: Path):
    """logger=auto with tensorboardX installed: RUN_DIR/tb holds the rows of metrics.jsonl, read back by TensorBoard."""
    assert list((reference_run / "tb").glob("events.out.tfevents.*"))
    assert_tensorboard_matches_jsonl(reference_run)


def test_logger_none_writes_no_events(tmp_path: Path):
    run_dir = tmp_path / "quiet"
    assert cli(cli_args("torch", 100, run_dir, "logger=none")) == 0
    assert not (run_dir / "tb").exists() and rows(run_dir, "train")


def test_same_seed_gives_identical_losses(reference_run: Path, tmp_path: Path):
    again = tmp_path / "again"
    assert cli(cli_args("torch", 250, again)) == 0
    assert rows(again) == rows(reference_run)
    other = tmp_path / "other"
    assert cli(cli_args("torch", 250, other, "--seed", "2")) == 0
    assert rows(other, "train")[-1]["total_loss"] != rows(reference_run, "train")[-1]["total_loss"]


def test_resume_equals_uninterrupted(reference_run: Path, tmp_path: Path, capsys):
    run_dir = tmp_path / "resumed"
    # a spent --max-minutes budget stops at the first episode end (50), checkpointed, and says how to go on
    assert cli(cli_args("torch", 150, run_dir, "--max-minutes", "1e-9")) == 0
    assert "stopped by --max-minutes 1e-09 at 100 env steps" in capsys.readouterr().out
    assert rows(run_dir, "train")[-1]["agent_step"] == 50
    assert cli(["train", "--resume", str(run_dir), "--no-progress"]) == 0  # the run's own 150 steps
    assert rows(run_dir, "train")[-1]["agent_step"] == 150
    assert cli(["train", "--resume", str(run_dir), "--steps", "250", "--no-progress"]) == 0
    assert rows(run_dir) == rows(reference_run)


def test_kill_during_checkpoint_write_leaves_a_resumable_run(reference_run: Path, tmp_path: Path):
    run_dir = tmp_path / "killed"
    # the 2nd save (agent step 200) dies; one thread, as in this process (thread count changes reductions)
    env = {**os.environ, "TDMPC_PARITY_KILL_AT": "during_save:2", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "tdmpc_parity.app.cli", *cli_args("torch", 250, run_dir)], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    latest = (run_dir / "checkpoints" / "latest.json").read_text()
    assert '"agent_step": 100' in latest  # the previous checkpoint is still the valid one
    assert cli(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    # the rows the killed process logged after its checkpoint at 100 (150, 200) are dropped on resume and logged
    # again by the resumed run: every step once, as in the uninterrupted run; TensorBoard purges them alike
    assert rows(run_dir) == rows(reference_run)
    assert_csv_matches_jsonl(run_dir)
    assert_tensorboard_matches_jsonl(run_dir)


def test_nan_guard_stops_with_step_and_name(tmp_path: Path, monkeypatch, capsys):
    import torch_ref.agent as agent_mod

    real = agent_mod.TDMPC2.update

    def poisoned(self, batch, env_steps=0):
        metrics = real(self, batch, env_steps)
        if self.num_updates == 130:
            metrics["value_loss"] = metrics["value_loss"] * float("nan")
        return metrics

    monkeypatch.setattr(agent_mod.TDMPC2, "update", poisoned)
    run_dir = tmp_path / "nan"
    assert cli(cli_args("torch", 250, run_dir)) == 3
    err = capsys.readouterr().err
    assert "non-finite value in 'value_loss' at agent step 130" in err
    assert "checkpoints/step_000000000100" in err  # the last good checkpoint is named
    assert [r["agent_step"] for r in rows(run_dir, "train")] == [50, 100]  # the metrics file is intact


def test_refuses_to_overwrite_another_run(reference_run: Path, capsys):
    before = (reference_run / "metrics.jsonl").read_text()
    assert cli(cli_args("torch", 250, reference_run)) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (reference_run / "metrics.jsonl").read_text() == before


def test_resume_refuses_conflicting_flags_and_truncated_checkpoints(reference_run: Path, tmp_path: Path, capsys):
    assert cli(["train", "--resume", str(reference_run), "--no-progress", "lr=0.1"]) == 2
    assert "conflicting option 'lr=0.1'" in capsys.readouterr().err
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference_run, copy)
    state = next((copy / "checkpoints").glob("step_*/state.pt"))
    state.write_bytes(state.read_bytes()[:1000])
    latest = (copy / "checkpoints" / "latest.json").read_text()
    if state.parent.name in latest:
        assert cli(["train", "--resume", str(copy), "--no-progress"]) == 2
        assert "truncated or corrupt" in capsys.readouterr().err


def test_checkpoint_of_another_run_is_refused(reference_run: Path, tmp_path: Path):
    import shutil

    from tdmpc_parity.core.checkpoints import CheckpointError

    copy = tmp_path / "other_task"
    shutil.copytree(reference_run, copy)
    cfg = tiny_config("torch", 250, "task=pendulum-swingup")
    with pytest.raises(CheckpointError, match="task='cartpole-balance'"):
        Trainer(cfg, copy, resume=True, progress=False)


def test_policy_collector_run(tmp_path: Path):
    run_dir = tmp_path / "policy"
    assert cli(cli_args("torch", 150, run_dir, "collector=policy")) == 0
    assert np.isfinite(rows(run_dir, "train")[-1]["total_loss"])


def test_nan_in_env_state_is_caught(tmp_path: Path, monkeypatch):
    """An env whose observation turns NaN in its second episode (the training env; the eval envs at step 0
    run their first) stops the run with the NaN guard's error."""
    import torch_ref.env as env_mod

    real_step, real_reset = env_mod.DMControlEnv.step, env_mod.DMControlEnv.reset
    resets: dict[int, int] = {}

    def counting_reset(self, *args, **kwargs):
        resets[id(self)] = resets.get(id(self), 0) + 1
        return real_reset(self, *args, **kwargs)

    def broken(self, action):
        obs, r, term, trunc, info = real_step(self, action)
        if resets.get(id(self)) == 2 and self.elapsed_steps == 20:
            obs = obs * np.nan
        return obs, r, term, trunc, info

    monkeypatch.setattr(env_mod.DMControlEnv, "reset", counting_reset)
    monkeypatch.setattr(env_mod.DMControlEnv, "step", broken)
    with pytest.raises(NonFiniteError, match="env state.* at agent step 70;"):  # episode 2, its 20th step
        Trainer(tiny_config("torch", 100), tmp_path / "envnan", progress=False).run()
