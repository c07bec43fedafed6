"""jax_impl training: a short run in the torch run-folder format, determinism, no retrace, exact resume,
several seeds vmapped in one program, the NaN guard, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jax_impl.train import Trainer, programs_for
from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.core.runlog import NonFiniteError
from tests.train_helpers import (
    assert_csv_matches_jsonl,
    assert_tensorboard_matches_jsonl,
    cli_args,
    rows,
    tiny_config,
)

# Every run here trains seeds 1 and 2 vmapped in one program, so the suite compiles one set of programs
# (a different number of seeds is a different shape). The single-seed path runs in test_glass_training.py.
SEEDS = ("--seeds", "1,2")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("jax") / "full"
    assert cli(cli_args("jax", 250, run_dir, *SEEDS)) == 0
    return run_dir


def test_short_run_writes_the_torch_format(reference_run: Path, tmp_path: Path):
    seed1 = reference_run / "seed_1"
    train, evals = rows(seed1, "train"), rows(seed1, "eval")
    assert [r["agent_step"] for r in train] == [50, 100, 150, 200, 250]
    assert [r["env_step"] for r in train] == [100, 200, 300, 400, 500]
    assert [r["agent_step"] for r in evals] == [0, 100, 200]
    assert np.isfinite(train[-1]["total_loss"]) and "total_loss" not in train[0]
    torch_dir = tmp_path / "torch"
    assert cli(cli_args("torch", 250, torch_dir)) == 0
    for kind in ("train", "eval"):  # same metric names, same rows
        assert [sorted(r) for r in rows(torch_dir, kind)] == [sorted(r) for r in rows(seed1, kind)]
    assert (torch_dir / "metrics.csv").read_text().splitlines()[0].split(",") == \
        (seed1 / "metrics.csv").read_text().splitlines()[0].split(",")
    assert (seed1 / "model.npz").exists()


def test_csv_carries_every_metric(reference_run: Path):
    """The first train row (seed phase) has no update metrics; the CSV still gets every loss column."""
    for s in ("seed_1", "seed_2"):
        train = rows(reference_run / s, "train")
        assert "total_loss" not in train[0] and "total_loss" in train[-1]
        assert "total_loss" in (reference_run / s / "metrics.csv").read_text().splitlines()[0].split(",")
        assert_csv_matches_jsonl(reference_run / s)


def test_resume_without_a_checkpoint_is_refused(reference_run: Path, tmp_path: Path, capsys):
    """One seed's folder without a checkpoint (the run died before it was written): refused, nothing changed."""
    import shutil

    copy = tmp_path / "crashed"
    shutil.copytree(reference_run, copy)
    shutil.rmtree(copy / "seed_2" / "checkpoints")
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert cli(["train", "--resume", str(copy), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"run folder {str(copy / 'seed_2')!r} has no checkpoint to resume from" in err
    assert "--overwrite" in err and "save_every=N" in err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_steps_per_second_is_per_seed(reference_run: Path, tmp_path: Path, monkeypatch):
    """Two seeds in one program: each seed's row logs its own env steps/s (the total / 2), as a torch run."""
    from types import SimpleNamespace

    import jax_impl.train as jtrain

    clock = [0.0]
    monkeypatch.setattr(jtrain, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    real = jtrain.Trainer._timed

    def timed(self, name, fn, *args):  # every compiled call takes exactly 10 s on this clock
        out = real(self, name, fn, *args)
        clock[0] += 10.0
        return out

    monkeypatch.setattr(jtrain.Trainer, "_timed", timed)
    dirs = [tmp_path / "s1", tmp_path / "s2"]
    Trainer(tiny_config("jax", 100), dirs, [1, 2], progress=False).run()
    for d in dirs:  # an episode = 50 iterations x 1 env x action repeat 2 = 100 env steps per seed in 10 s
        assert [r["steps_per_second"] for r in _raw_rows(d, "train")] == [10.0, 10.0]


def _raw_rows(run_dir: Path, kind: str) -> list[dict]:
    from tdmpc_parity.core.runlog import read_metrics

    return read_metrics(run_dir, kind)


def test_same_seed_identical_losses_and_no_retrace(reference_run: Path, tmp_path: Path):
    again = tmp_path / "again"
    assert cli(cli_args("jax", 250, again, *SEEDS)) == 0
    for s in ("seed_1", "seed_2"):
        assert rows(again / s) == rows(reference_run / s)
    counts = programs_for(tiny_config("jax", 250)).trace_counts
    # two runs x 3 train episodes and 2 seed episodes each: every chunk traced exactly once
    assert counts == {"chunk(n=50, random=True, ends=True)": 1, "chunk(n=50, random=False, ends=True)": 1}, counts


def test_resume_equals_uninterrupted(reference_run: Path, tmp_path: Path, capsys):
    run_dir = tmp_path / "resumed"
    # a spent --max-minutes budget stops at the first episode end (50), checkpointed, and says how to go on
    assert cli(cli_args("jax", 150, run_dir, *SEEDS, "--max-minutes", "1e-9")) == 0
    assert "stopped by --max-minutes 1e-09 at 100 env steps" in capsys.readouterr().out
    assert [rows(run_dir / s, "train")[-1]["agent_step"] for s in ("seed_1", "seed_2")] == [50, 50]
    assert cli(["train", "--resume", str(run_dir), "--no-progress"]) == 0  # the run's own 150 steps
    assert cli(["train", "--resume", str(run_dir), "--steps", "250", "--no-progress"]) == 0
    for s in ("seed_1", "seed_2"):
        assert rows(run_dir / s) == rows(reference_run / s)
        assert_tensorboard_matches_jsonl(run_dir / s)  # one TensorBoard run per seed, resumed in place


def test_tensorboard_has_every_scalar_per_seed(reference_run: Path):
    for s in ("seed_1", "seed_2"):
        assert list((reference_run / s / "tb").glob("events.out.tfevents.*"))
        assert_tensorboard_matches_jsonl(reference_run / s)


SHARDED_RUN = """
import sys
from tdmpc_parity.app.cli import main
from tests.train_helpers import cli_args
from bench.protocol import jit_cache_size
from jax_impl.train import _PROGRAMS
out, devices, steps = sys.argv[1:]
code = main(cli_args("jax", int(steps), out, "--seeds", "1,2", "n_envs=2", "collector=policy", "--devices", devices))
print("seed chunk compiles:", *[jit_cache_size(p.seed_chunk) for p in _PROGRAMS.values()])
sys.exit(code)
"""


@pytest.mark.parametrize("steps", [100, pytest.param(200, marks=pytest.mark.slow)])
def test_seeds_and_envs_sharded_over_four_devices_give_the_same_numbers(tmp_path: Path, steps: int):
    """`--devices 4` on a CPU split into 4 devices: 2 seeds x 2 envs each, a (2, 2) mesh (jax_impl/sharding.py):
    each seed's envs, warm starts and buffer halves on their own device, the update's batch gathered. Against
    `--devices 1` in the same 4-device process; the partitioned programs round differently (float32 ULPs).
    100 steps (CI): the untrained evaluation, the seed phase (sharded env steps and inserts) and the 100
    pre-training updates on gathered batches within rtol 1e-5. 200 steps (slow, +4 min: the train chunk's two
    more programs) add a training episode acting with the sharded policy collector and its 100 updates within
    1e-3 (measured: <= 3e-6 relative, pi_entropy 2e-4). Evaluations after updates are left out: 50 MPPI steps
    (top-k elites, argmax) amplify the ULPs into other actions (the MPPI collector's training episode too:
    measured returns 55.5 vs 48.2)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    root = Path(__file__).resolve().parents[1]
    outs = {}
    for devices in ("1", "4"):
        outs[devices] = subprocess.run([sys.executable, "-c", SHARDED_RUN, str(tmp_path / devices), devices,
                                        str(steps)], env=env, cwd=root, capture_output=True, text=True, timeout=3000)
        assert outs[devices].returncode == 0, outs[devices].stderr[-3000:]
    assert "seeds sharded over 2 cpu devices, envs sharded over 2 cpu devices per seed" in outs["4"].stdout
    assert "sharded over" not in outs["1"].stdout
    for devices in ("1", "4"):  # two seed episodes, one compile: the chunk returns the state sharded as it takes it
        assert "seed chunk compiles: 1\n" in outs[devices].stdout, outs[devices].stdout[-500:]
    for s in ("seed_1", "seed_2"):
        keep = lambda r: not (r["kind"] == "eval" and r["agent_step"] > 0)  # noqa: E731
        got, want = [r for r in rows(tmp_path / "4" / s) if keep(r)], [r for r in rows(tmp_path / "1" / s) if keep(r)]
        # eval at 0 (untrained); train rows at 100 (seed phase + pre-training) and 200 (50 x 2 updates)
        assert [(r["kind"], r["agent_step"]) for r in got] == [("eval", 0), *[("train", t) for t in (100, 200)
                                                                               if t <= steps]]
        assert [(r["kind"], r["agent_step"]) for r in want] == [(r["kind"], r["agent_step"]) for r in got]
        assert "total_loss" in got[-1]  # updates ran
        for g, w in zip(got, want, strict=True):
            assert g.keys() == w.keys()
            keys = [k for k in sorted(g) if k != "kind"]
            np.testing.assert_allclose([g[k] for k in keys], [w[k] for k in keys],
                                       rtol=1e-5 if g["agent_step"] <= 100 else 1e-3, atol=1e-6,
                                       err_msg=f"{s} {g['kind']} at {g['agent_step']}: {keys}")


def test_devices_bad_input(tmp_path: Path, capsys):
    assert cli(cli_args("jax", 100, tmp_path / "a", *SEEDS, "--devices", "3")) == 2
    assert "devices=3 asked for, but JAX sees 1" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()  # refused before the run folder is made
    assert cli(cli_args("jax", 100, tmp_path / "b", *SEEDS, "devices=-1")) == 2
    assert "config field 'devices'" in capsys.readouterr().err


def test_device_split_rule():
    """jax_impl/sharding.split_devices: seeds first (no communication), then each seed's envs; all devices that
    split both when none is asked; an explicit count splits exactly or is refused with the reason."""
    from jax_impl.sharding import split_devices

    assert split_devices(2, 1, 2, 2) == (2, 1)  # two seeds on two devices
    assert split_devices(1, 8, 2, 2) == (1, 2)  # one agent: its 8 envs over 2 devices
    assert split_devices(2, 2, 4, 4) == (2, 2)
    assert split_devices(5, 1, 0, 8) == (5, 1)  # all visible that split: 5 of 8 GPUs for the official 5 seeds
    assert split_devices(5, 16, 0, 8) == (1, 8)  # 8 > 5: the envs split over all 8
    assert split_devices(3, 1, 0, 2) == (1, 1)  # nothing splits: one device
    with pytest.raises(ValueError, match=r"devices=2 cannot be split .* 3 seeds\) x .* n_envs=1 envs"):
        split_devices(3, 1, 2, 2)
    with pytest.raises(ValueError, match="devices=4 asked for, but JAX sees 2"):
        split_devices(2, 2, 4, 2)


def test_two_seeds_are_independent_agents(reference_run: Path):
    r1, r2 = rows(reference_run / "seed_1", "train"), rows(reference_run / "seed_2", "train")
    assert [r["agent_step"] for r in r1] == [r["agent_step"] for r in r2] == [50, 100, 150, 200, 250]
    assert r1[-1]["total_loss"] != r2[-1]["total_loss"]
    assert (reference_run / "seed_2" / "config.json").read_text().count('"seed": 2') == 1


def test_nan_guard_names_step_and_metric(tmp_path: Path):
    cfg = tiny_config("jax", 250)
    trainer = Trainer(cfg, [tmp_path / "g1", tmp_path / "g2"], [1, 2], progress=False)
    loss = np.ones((2, 50))
    loss[1, 7] = np.nan
    out = {"env_finite": np.ones((2, 50), bool), "metrics": {"value_loss": loss, "pi_loss": np.ones((2, 50))}}
    with pytest.raises(NonFiniteError, match=r"'value_loss \(seed 2\)' at agent step 108"):
        trainer._check(out, iteration0=100)
    env_bad = np.ones((2, 50), bool)
    env_bad[0, 3] = False
    with pytest.raises(NonFiniteError, match="env state"):
        trainer._check({"env_finite": env_bad}, iteration0=0)


def test_bad_input(tmp_path: Path, capsys):
    assert cli(cli_args("torch", 100, tmp_path / "x", "--seeds", "1,2")) == 2
    assert "--seeds" in capsys.readouterr().err
    assert cli(cli_args("jax", 100, tmp_path / "y", "task=dog-run")) == 2
    assert "has no JAX environment (dm_control only" in capsys.readouterr().err


# orbax/tensorstore report the corrupt read once more from a background thread after the loop closed
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_truncated_checkpoint_is_refused(reference_run: Path, tmp_path: Path):
    import shutil

    from tdmpc_parity.core.checkpoints import CheckpointError

    copy = tmp_path / "copy"
    shutil.copytree(reference_run, copy)
    for f in (copy / "seed_1" / "checkpoints").rglob("*"):
        if f.is_file() and f.parent.name == "d":  # orbax's data files
            f.write_bytes(f.read_bytes()[:10])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        Trainer(tiny_config("jax", 250), [copy / "seed_1", copy / "seed_2"], [1, 2], resume=True, progress=False)
    import gc
    import time

    time.sleep(2)  # let orbax's reader thread finish here, so its late report is filtered for this test only
    gc.collect()


@pytest.mark.slow
def test_kill_during_checkpoint_write_leaves_a_resumable_run(reference_run: Path, tmp_path: Path):
    """Slow: a fresh process compiles the programs again (minutes on CPU)."""
    import os
    import subprocess
    import sys

    run_dir = tmp_path / "killed"
    env = {**os.environ, "TDMPC_PARITY_KILL_AT": "during_save:3"}  # saves: seed 1 then seed 2 at step 100, ...
    proc = subprocess.run([sys.executable, "-m", "tdmpc_parity.app.cli", *cli_args("jax", 250, run_dir, *SEEDS)],
                          env=env,
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=3000)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert '"agent_step": 100' in (run_dir / "seed_1" / "checkpoints" / "latest.json").read_text()
    assert cli(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    for s in ("seed_1", "seed_2"):
        assert rows(run_dir / s) == rows(reference_run / s)  # rows past the checkpoint dropped, logged again
