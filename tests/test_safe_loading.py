"""Run folders are data: every file the project loads from a run folder or a user path is read without running code.

Each loadable kind gets a crafted file that would run code if unpickled (a `__reduce__` that creates a marker
file), an .npz with object arrays, a JSON nested 100k deep, or a symbolic link that leads out of the run folder;
each is refused with one sentence, the marker is never created, and the run folder is unchanged byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.core.checkpoints import CheckpointError, read_latest
from tests.train_helpers import tiny_config
from torch_ref import checkpoint

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads / yaml.safe_load raise RecursionError on it


class RunsCode:
    """Unpickling this calls os.system, which creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def tree_hash(root: Path) -> dict[str, str]:
    """Every entry under `root`: file contents' sha256, a link's target, or 'dir'."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A torch run folder with one checkpoint (agent step 0, after an env reset and a draw from the agent's RNG),
    written by the trainer itself; no training (seconds)."""
    from torch_ref.train import Trainer

    run_dir = tmp_path_factory.mktemp("safe") / "run"
    trainer = Trainer(tiny_config("torch", 50, "logger=none", "eval_episodes=1"), run_dir, progress=False)
    trainer.env.reset()
    trainer.eval_env.reset()
    torch.rand(3, generator=trainer.agent.generator)
    trainer.t_start = 0.0
    trainer.save()
    return run_dir


@pytest.fixture
def run(tiny_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy, symlinks=True)
    return copy


def state_file(run_dir: Path, name: str = checkpoint.STATE) -> Path:
    return read_latest(run_dir)[0] / name


def assert_refused_cli(argv: list[str], run_dir: Path, marker: Path, capsys, words: str) -> str:
    before = tree_hash(run_dir)
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert len(err.strip().splitlines()) == 1, err  # one sentence, no traceback
    assert not marker.exists()
    assert tree_hash(run_dir) == before
    return err


# ----------------------------------------------------------------------------------------------------------
# torch checkpoints
# ----------------------------------------------------------------------------------------------------------


def test_checkpoint_round_trip_is_exact_and_safe(tiny_run: Path):
    """The safe format gives back the env RNG states as NumPy (dtype, shape, bits) and holds no unsafe global."""
    from torch_ref.train import _env_rng_states

    path = state_file(tiny_run)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
    state = checkpoint._load(path)
    assert state["format"] == "tdmpc-parity/torch/2"
    algo, keys, pos, has_gauss, cached = state["env_rng"][0]
    assert algo == "MT19937" and keys.dtype == np.uint32 and keys.shape == (624,) and pos > 0
    from torch_ref.env import make_vector_env

    cfg = tiny_config("torch", 50)
    fresh = make_vector_env(cfg, cfg.n_envs, cfg.seed)
    fresh.reset()
    want = _env_rng_states(fresh)[0]
    assert (algo, pos, has_gauss, cached) == (want[0], want[2], want[3], want[4])
    np.testing.assert_array_equal(keys, want[1])
    odd = {"a": np.float32(1.5), "b": np.arange(6, dtype=">i2").reshape(2, 3), "c": (np.zeros(0), [np.int64(7)])}
    back = checkpoint.from_safe(checkpoint.to_safe(odd))
    assert type(back["a"]) is np.float32 and back["a"] == 1.5
    assert back["b"].dtype == np.dtype(">i2") and back["b"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["c"][0].shape == (0,) and type(back["c"][1][0]) is np.int64


@pytest.mark.parametrize("kind", ["torch.save", "bare pickle"])
def test_state_that_runs_code_is_refused_by_eval_and_resume(run: Path, tmp_path: Path, capsys, kind: str):
    marker = tmp_path / "PWNED"
    payload = {"format": "tdmpc-parity/torch/2", "agent": RunsCode(marker)}
    path = state_file(run)
    if kind == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    for argv in (["eval", str(run), "--episodes", "1"], ["train", "--resume", str(run), "--no-progress"]):
        err = assert_refused_cli(argv, run, marker, capsys, "could run code")
        assert "system" in err and "nothing ran" in err


def test_buffer_that_runs_code_is_refused_on_resume(run: Path, tmp_path: Path, capsys):
    marker = tmp_path / "PWNED"
    torch.save({"obs": RunsCode(marker)}, state_file(run, checkpoint.BUFFER))
    assert_refused_cli(["train", "--resume", str(run), "--no-progress"], run, marker, capsys, "could run code")


def test_official_checkpoint_that_runs_code_is_refused(tmp_path: Path):
    from torch_ref.official_checkpoint import read_state_dict

    marker = tmp_path / "PWNED"
    path = tmp_path / "official.pt"
    torch.save({"model": RunsCode(marker)}, path)
    with pytest.raises(ValueError, match="cannot be read"):
        read_state_dict(path)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------------------
# format 1 (earlier versions): refused with the conversion command; the conversion is exact
# ----------------------------------------------------------------------------------------------------------


def _write_old_format(run_dir: Path) -> tuple[dict, dict]:
    """Rewrite the run's checkpoint as earlier versions did: torch.save of the raw state (NumPy RNG arrays)."""
    state, buffer = checkpoint._load(state_file(run_dir)), checkpoint.load_file(state_file(run_dir, checkpoint.BUFFER))
    torch.save({**state, "format": "tdmpc-parity/torch/1"}, state_file(run_dir))
    torch.save(buffer, state_file(run_dir, checkpoint.BUFFER))
    return state, buffer


def _assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
        assert a.numpy().tobytes() == b.numpy().tobytes()  # bit for bit (the empty buffer slots are NaN)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert type(a) is type(b) and a == b


def test_old_format_is_refused_then_converted_exactly(run: Path, capsys):
    from torch_ref.train import Trainer

    state, buffer = _write_old_format(run)
    old_bytes = state_file(run).read_bytes()
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(state_file(run)))  # the NumPy RNG arrays
    marker = run.parent / "none"
    err = assert_refused_cli(["train", "--resume", str(run), "--no-progress"], run, marker, capsys,
                             "tdmpc-parity convert-checkpoint RUN_DIR")
    assert "tdmpc-parity/torch/1" in err
    assert cli(["convert-checkpoint", str(run)]) == 0  # the command the refusal names
    out = capsys.readouterr().out
    assert "trusted" in out and "converted" in out
    assert (state_file(run).parent / "state.v1.pt").read_bytes() == old_bytes  # the old file is kept
    cfg = tiny_config("torch", 50, "logger=none", "eval_episodes=1")
    new_state, new_buffer = checkpoint.load(run, cfg)
    assert new_state.pop("format") == "tdmpc-parity/torch/2" and state.pop("format") == "tdmpc-parity/torch/2"
    _assert_same(state, new_state)
    _assert_same(buffer, new_buffer)
    trainer = Trainer(cfg, run, resume=True, progress=False)  # the resume path restores every part
    assert trainer.resumed
    _assert_same(state["agent"]["model"], trainer.agent.state_dict()["model"])
    assert torch.equal(trainer.agent.generator.get_state(), state["agent"]["generator"])
    rng = trainer.env.envs[0].task.random.get_state()
    np.testing.assert_array_equal(rng[1], state["env_rng"][0][1])
    assert rng[2] == state["env_rng"][0][2]
    assert cli(["convert-checkpoint", str(run)]) == 0 and "nothing to convert" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------
# .npz: canonical weights and Glass dumps
# ----------------------------------------------------------------------------------------------------------


def _object_npz(path: Path, marker: Path) -> Path:
    arr = np.empty(1, dtype=object)
    arr[0] = RunsCode(marker)
    np.savez(path, S=arr, P=np.zeros((2, 2)), A=np.zeros((2, 2)))
    return path


def test_weights_with_object_arrays_are_refused(tmp_path: Path):
    from tdmpc_parity.core.weights import load_weights

    marker = tmp_path / "PWNED"
    path = _object_npz(tmp_path / "weights.npz", marker)
    with pytest.raises(ValueError, match="holds arrays of pickled Python objects, which could run code"):
        load_weights(path)
    bare = tmp_path / "bare.npz"
    bare.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(ValueError, match="is not an .npz archive .it was not unpickled"):
        load_weights(bare)
    assert not marker.exists()


def test_glass_dump_with_object_arrays_is_refused(run: Path, tmp_path: Path):
    from tdmpc_parity.analysis.plots_glass import check_dumps

    marker = tmp_path / "PWNED"
    (run / "glass").mkdir()
    _object_npz(run / "glass" / "step_0000000050.npz", marker)
    before = tree_hash(run)
    with pytest.raises(ValueError, match="is not an .npz of numeric arrays .* it was not unpickled"):
        check_dumps(run)
    assert not marker.exists() and tree_hash(run) == before


# ----------------------------------------------------------------------------------------------------------
# JSON nested 100k deep
# ----------------------------------------------------------------------------------------------------------


def _deep_latest(run: Path):
    (run / "checkpoints" / "latest.json").write_text(DEEP)
    return lambda: read_latest(run), "checkpoint pointer .* is nested too deeply"


def _deep_config(run: Path):
    from tdmpc_parity.core.runlog import read_config

    (run / "config.json").write_text(DEEP)
    return lambda: read_config(run), "run config .* is nested too deeply"


def _deep_metrics(run: Path):
    from tdmpc_parity.core.runlog import read_metrics

    (run / "metrics.jsonl").write_text(DEEP + "\n" + '{"kind": "train"}\n')
    return lambda: read_metrics(run), "line 1 is nested too deeply"


def _deep_jax_meta(run: Path):
    pytest.importorskip("orbax.checkpoint")
    from jax_impl import checkpoint as jax_checkpoint

    (read_latest(run)[0] / "meta.json").write_text(DEEP)
    latest = run / "checkpoints" / "latest.json"
    latest.write_text(latest.read_text().replace('"torch"', '"jax"').replace("state.pt", "meta.json"))
    cfg = tiny_config("jax", 50)
    return lambda: jax_checkpoint.load(run, cfg, template=None), "checkpoint metadata .* is nested too deeply"


def _deep_sweep_state(run: Path):
    from tdmpc_parity.app.sweep import read_state, state_path

    state_path(run, "trial").parent.mkdir()
    state_path(run, "trial").write_text(DEEP)
    return lambda: read_state(run, "trial"), "is not valid JSON .*recursion"


def _deep_sweep_plan(run: Path):
    from tdmpc_parity.app.sweep import SWEEP_FILE, load_plan

    (run / SWEEP_FILE).write_text(DEEP)
    return lambda: load_plan(run), "is not a valid sweep plan: .*recursion"


def _deep_result(run: Path):
    from tdmpc_parity.analysis.report import load_file

    (run / "bench.json").write_text(DEEP)
    return lambda: load_file(run / "bench.json", "m", "v"), "not valid JSON .*recursion"


def _deep_config_json(run: Path):
    from tdmpc_parity.core.config import load_config

    (run / "deep.json").write_text(DEEP)
    return lambda: load_config(yaml_path=run / "deep.json"), "deep.json' is nested too deeply to be a config"


def _deep_config_yaml(run: Path):
    from tdmpc_parity.core.config import load_config

    (run / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000)  # PyYAML recurses several frames per level
    return lambda: load_config(yaml_path=run / "deep.yaml"), "deep.yaml' is nested too deeply to be a config"


@pytest.mark.parametrize("make", [_deep_latest, _deep_config, _deep_metrics, _deep_jax_meta, _deep_sweep_state,
                                  _deep_sweep_plan, _deep_result, _deep_config_json,
                                  _deep_config_yaml])
def test_json_nested_too_deeply_is_one_sentence(run: Path, make):
    load, message = make(run)
    before = tree_hash(run)
    with pytest.raises(ValueError, match=message) as info:
        load()
    assert "\n" not in str(info.value)
    assert tree_hash(run) == before


def test_deep_config_json_gives_no_plot_title(run: Path):
    from tdmpc_parity.analysis.plots_common import read_config_json

    (run / "config.json").write_text(DEEP)
    assert read_config_json(run) == {}


# ----------------------------------------------------------------------------------------------------------
# symbolic links that lead out of the run folder
# ----------------------------------------------------------------------------------------------------------


def test_links_out_of_the_run_folder_are_refused(run: Path, tmp_path: Path, capsys):
    from tdmpc_parity.core.runlog import read_config

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.json"
    secret.write_text('{"agent_step": 0, "dir": "step_000000000000", "backend": "torch", "files": []}')
    latest = run / "checkpoints" / "latest.json"
    latest.unlink()
    latest.symlink_to(secret)
    marker = tmp_path / "none"
    assert_refused_cli(["eval", str(run), "--episodes", "1"], run, marker, capsys, "outside the run folder")
    latest.unlink()
    latest.write_text(secret.read_text())
    # the whole checkpoint folder moved out and linked back
    shutil.move(run / "checkpoints", outside / "checkpoints")
    (run / "checkpoints").symlink_to(outside / "checkpoints")
    with pytest.raises(CheckpointError, match="outside the run folder"):
        read_latest(run)
    assert_refused_cli(["train", "--resume", str(run), "--no-progress"], run, marker, capsys, "outside the run folder")
    (run / "checkpoints").unlink()
    shutil.move(outside / "checkpoints", run / "checkpoints")
    # config.json, a Glass dump
    (run / "config.json").rename(outside / "config.json")
    (run / "config.json").symlink_to(outside / "config.json")
    with pytest.raises(ValueError, match="outside the run folder"):
        read_config(run)
    (run / "config.json").unlink()
    (outside / "config.json").rename(run / "config.json")
    from tdmpc_parity.analysis.plots_glass import list_dumps

    np.savez(outside / "dump.npz", S=np.zeros((2, 2)), P=np.zeros((2, 2)), A=np.zeros((2, 2)))
    (run / "glass").mkdir()
    (run / "glass" / "step_0000000050.npz").symlink_to(outside / "dump.npz")
    with pytest.raises(ValueError, match="outside the run folder"):
        list_dumps(run)


def test_link_inside_the_run_folder_is_allowed(run: Path):
    folder = read_latest(run)[0]
    (folder / checkpoint.BUFFER).rename(run / "buffer_elsewhere.pt")
    (folder / checkpoint.BUFFER).symlink_to(run / "buffer_elsewhere.pt")
    assert checkpoint.load(run, tiny_config("torch", 50, "logger=none", "eval_episodes=1")) is not None


# ----------------------------------------------------------------------------------------------------------
# --run-dir: an existing file, a folder without write permission
# ----------------------------------------------------------------------------------------------------------


def test_run_dir_that_is_a_file_is_refused(tmp_path: Path, capsys):
    from tdmpc_parity.core.runlog import RunLog

    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(ValueError, match="is an existing file, not a folder"):
        RunLog(path, tiny_config("torch", 50))
    argv = ["train", "--backend", "torch", "--task", "cartpole-balance", "--steps", "50", "--run-dir", str(path),
            "--no-progress"]
    assert cli(argv) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert path.read_text() == "mine"
    with pytest.raises(ValueError, match="cannot be created: .* is a file"):
        RunLog(path / "sub", tiny_config("torch", 50))


def test_run_dir_without_write_permission_is_refused(tmp_path: Path, monkeypatch):
    """The tests run as root, for whom every folder is writable: os.access is made to answer as for another user."""
    import tdmpc_parity.core.runlog as runlog

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(runlog.os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    with pytest.raises(ValueError, match="is not writable"):
        runlog.RunLog(locked, tiny_config("torch", 50))
    with pytest.raises(ValueError, match=r"is not writable \(it would be created in"):
        runlog.RunLog(locked / "a" / "b", tiny_config("torch", 50))
    assert list(locked.iterdir()) == []
    runlog.RunLog(tmp_path / "free", tiny_config("torch", 50, "logger=none"))  # a writable place works
    assert (tmp_path / "free" / "config.json").exists()


def test_a_sweep_plan_whose_trial_name_leaves_the_sweep_folder_is_refused(tmp_path: Path):
    from tdmpc_parity.app.sweep import SweepError, create_sweep_dir, load_plan
    from tdmpc_parity.app.sweep_spec import load_sweep

    spec = load_sweep("sweeps/tiny.yaml")
    sweep_dir = create_sweep_dir(spec, tmp_path / "sweep")
    trials, _, _, _ = load_plan(sweep_dir)  # every generated name is a plain name
    assert trials and all("/" not in t.name for t in trials)
    plan = sweep_dir / "sweep.json"
    data = json.loads(plan.read_text())
    data["trials"][0]["name"] = "../escaped"
    plan.write_text(json.dumps(data))
    before = tree_hash(tmp_path)
    with pytest.raises(SweepError, match=r"trial name '\.\./escaped' is not a plain name"):
        load_plan(sweep_dir)
    assert tree_hash(tmp_path) == before


def test_a_sweep_file_nested_too_deeply_is_one_sentence(tmp_path: Path):
    from tdmpc_parity.app.sweep_spec import SweepSpecError, load_sweep

    path = tmp_path / "deep.yaml"
    path.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(SweepSpecError, match="nested too deeply"):
        load_sweep(path)
