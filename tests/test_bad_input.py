"""Bad input the harness must refuse with one clear sentence, leaving everything on disk intact."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from tdmpc_parity.app.cli import main as cli
from tests.train_helpers import cli_args, tiny_config


def test_backend_not_installed(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    assert cli(["info", "--backend", "jax", "--task", "hopper-hop"]) == 2
    err = capsys.readouterr().err
    assert "backend 'jax' is not installed (no module 'jax'): pip install -e '.[jax]'" in err


def test_unknown_task_and_key_via_cli(capsys):
    assert cli(["info", "--task", "hopper-jump"]) == 2
    assert "unknown task 'hopper-jump'" in capsys.readouterr().err
    assert cli(["info", "--task", "hopper-hop", "horizon=0"]) == 2
    assert "config field 'horizon': must be >= 1, got 0" in capsys.readouterr().err
    assert cli(["info", "--task", "hopper-hop", "num_elites=1000"]) == 2
    assert "num_elites=1000 > num_samples=512" in capsys.readouterr().err


def test_max_minutes_must_be_positive(tmp_path: Path, capsys):
    for value in ("0", "-1", "nan"):
        assert cli(cli_args("torch", 100, tmp_path / "run", "--max-minutes", value)) == 2
        assert f"--max-minutes must be > 0, got {float(value):g}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_checkpoint_of_another_model_size_is_refused(tmp_path: Path):
    from tdmpc_parity.core.checkpoints import CheckpointError
    from torch_ref.train import Trainer

    run_dir = tmp_path / "run"
    assert cli(cli_args("torch", 100, run_dir)) == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    bigger = tiny_config("torch", 100, "latent_dim=64")
    with pytest.raises(CheckpointError, match="latent_dim=32 but the run has latent_dim=64"):
        Trainer(bigger, run_dir, resume=True, progress=False)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before  # nothing touched


def test_resume_of_a_folder_without_a_run(tmp_path: Path, capsys):
    assert cli(["train", "--resume", str(tmp_path), "--no-progress"]) == 2
    assert "is not a run folder (no config.json)" in capsys.readouterr().err


def _files(run_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_resume_without_a_checkpoint_is_refused(tmp_path: Path, capsys):
    """A run that stopped before its first checkpoint (save_every=0: only at the end) cannot be resumed: the
    CLI says what to do and changes nothing on disk (it used to restart at step 0 in the old folder)."""
    run_dir = tmp_path / "crashed"
    assert cli(cli_args("torch", 50, run_dir, "save_every=0")) == 0
    shutil.rmtree(run_dir / "checkpoints")  # the run died before the end, where its only checkpoint is written
    before = _files(run_dir)
    capsys.readouterr()
    assert cli(["train", "--resume", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"run folder {str(run_dir)!r} has no checkpoint to resume from" in err
    assert "--overwrite" in err and "save_every=N" in err
    assert _files(run_dir) == before


def test_overwrite_replaces_metrics_but_needs_the_flag(tmp_path: Path, capsys):
    run_dir = tmp_path / "run"
    assert cli(cli_args("torch", 50, run_dir)) == 0
    shutil.copy(run_dir / "metrics.jsonl", tmp_path / "old.jsonl")
    assert cli(cli_args("torch", 50, run_dir, "--seed", "3")) == 2
    assert (run_dir / "metrics.jsonl").read_bytes() == (tmp_path / "old.jsonl").read_bytes()
    assert (run_dir / "checkpoints").exists()
    assert cli(cli_args("torch", 50, run_dir, "--seed", "3", "--overwrite", "save_every=0")) == 0
    assert '"seed": 3' in (run_dir / "config.json").read_text()
    # the old run's checkpoints are gone with it; the new run's final checkpoint is at step 50
    assert [p.name for p in (run_dir / "checkpoints").glob("step_*")] == ["step_000000000050"]
