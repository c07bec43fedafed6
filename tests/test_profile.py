"""`tdmpc-parity profile`: the breakdown's arithmetic, bad input, and a real torch profile written to disk
(the JAX profile compiles every stage program: slow-marked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.app.profile import breakdown

TINY = "tiny"  # the shipped config (tdmpc_parity/configs/tiny.yaml)


def test_breakdown_shares_add_up_and_other_is_the_rest():
    result = {"stage_seconds": {"act": 0.004, "env": 0.002, "buffer": 0.001, "update": 0.010},
              "iteration_seconds": 0.020}
    rows = {name: (ms, share) for name, ms, share in breakdown(result)}
    assert rows["act"] == pytest.approx((4.0, 20.0)) and rows["update"] == pytest.approx((10.0, 50.0))
    assert rows["other"] == pytest.approx((3.0, 15.0))  # 20 - (4 + 2 + 1 + 10) ms
    assert sum(rows[s][1] for s in ("act", "env", "buffer", "update", "other")) == pytest.approx(100.0)
    fused = breakdown({**result, "iteration_seconds": 0.010})  # the compiled iteration beats its stages
    assert fused[4][:2] == ("other", pytest.approx(-7.0))
    with pytest.raises(ValueError, match="lacks the stage"):
        breakdown({"stage_seconds": {"act": 1.0}, "iteration_seconds": 1.0})
    with pytest.raises(ValueError, match="must be > 0"):
        breakdown({**result, "iteration_seconds": 0.0})


def _args(backend: str, out: Path) -> list[str]:
    return ["profile", "--backend", backend, "--task", "cartpole-balance", "--config", str(TINY), "--iterations", "3",
            "--out", str(out), "--no-progress", "episode_length=20", "n_envs=2", "updates_per_step=1"]


def _check_written(out: Path, backend: str) -> dict:
    (folder,) = list(out.iterdir())
    result = json.loads((folder / f"profile_{backend}_cartpole-balance_official.json").read_text())
    md = (folder / f"profile_{backend}_cartpole-balance_official.md").read_text()
    assert result["config"]["updates_per_iteration"] == 2 and result["iterations"] == 3
    for stage in ("act", "env", "buffer", "update"):
        assert result["stage_seconds"][stage] > 0
        assert f"| {stage} |" in md
    assert result["iteration_seconds"] > 0 and "| other |" in md and "Command: `tdmpc-parity profile" in md
    return result


def test_torch_profile_writes_the_table(tmp_path: Path, capsys):
    assert cli(_args("torch", tmp_path)) == 0
    assert "| update | gradient updates |" in capsys.readouterr().out
    _check_written(tmp_path, "torch")


@pytest.mark.slow
def test_jax_profile_writes_the_table(tmp_path: Path):
    """Slow: compiles the seed chunk, the train chunk and each stage program (minutes on 2 CPU cores)."""
    assert cli(_args("jax", tmp_path)) == 0
    result = _check_written(tmp_path, "jax")
    assert set(result["compile_seconds"]) == {"act", "env", "buffer", "update", "train_chunk"}


def test_profile_bad_input(tmp_path: Path, capsys):
    assert cli([*_args("torch", tmp_path), "--iterations", "0"]) == 2
    assert "--iterations must be >= 1" in capsys.readouterr().err
    assert cli([*_args("torch", tmp_path), "no_such_key=1"]) == 2
    assert "unknown config key 'no_such_key'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written
