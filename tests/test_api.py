"""The Python API (tdmpc_parity/app/api.py) and the shipped configs (tdmpc_parity/core/config_files.py).

One tiny training run per backend (the shipped `tiny` config, 20-step cartpole-balance episodes, 60 agent steps,
evaluations of one episode at agent steps 0 and 40) serves the train, load_agent and evaluate tests.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tdmpc_parity
import tdmpc_parity as tp
from tdmpc_parity.app import api
from tdmpc_parity.app.cli import config_path, main
from tdmpc_parity.app.sweep_spec import SweepSpecError, expand
from tdmpc_parity.core.config import load_config as core_load_config
from tdmpc_parity.core.config_files import config_file, shipped_config, shipped_names
from tdmpc_parity.core.runlog import read_config

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(tdmpc_parity.__file__).resolve().parent
RUN = dict(episode_length=20, seed_steps=40, eval_freq=40, eval_episodes=1, save_every=0, logger="none")
STEPS = 60

# ----------------------------------------------------------------------------------------------------------
# Shipped configs: a name resolves inside the package
# ----------------------------------------------------------------------------------------------------------


def test_a_config_name_is_the_file_inside_the_package() -> None:
    path = shipped_config("tiny")
    assert path.resolve().parent == PACKAGE / "configs" and path.name == "tiny.yaml"
    assert config_file("tiny") == path and config_path("tiny") == str(path) and config_path(None) is None
    assert core_load_config(yaml_path="tiny") == core_load_config(yaml_path=path)
    assert core_load_config(yaml_path="tiny").enc_dim == 32 and core_load_config().enc_dim == 256


def test_pyproject_ships_every_config_file() -> None:
    """pyproject's package-data globs cover every file of tdmpc_parity/configs (a wheel built from it holds them)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "configs").rglob("*") if p.is_file()]
    assert "configs/tiny.yaml" in files and shipped_names() == sorted(Path(f).stem for f in files)
    for name in files:
        assert any(fnmatch.fnmatch(name, pat) for pat in patterns["tdmpc_parity"]), name
    assert not (ROOT / "configs").exists()  # one copy: the package's


def test_an_unknown_name_lists_the_shipped_configs(capsys) -> None:
    with pytest.raises(ValueError, match=r"unknown config 'tiyn': it is neither a file nor the name of a shipped "
                                         r"config \(tiny\)"):
        core_load_config(yaml_path="tiyn")
    with pytest.raises(ValueError, match="config file 'nowhere/tiny.yaml' does not exist"):
        core_load_config(yaml_path="nowhere/tiny.yaml")  # a path stays a path
    assert main(["info", "--config", "tiyn"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown config 'tiyn'" in err and "(tiny)" in err


def test_a_file_of_that_name_beats_the_shipped_config(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tiny").write_text("enc_dim: 48\n")
    monkeypatch.chdir(tmp_path)
    assert core_load_config(yaml_path="tiny").enc_dim == 48


def test_a_sweep_file_names_a_shipped_config() -> None:
    fields = {"tasks": ["cartpole-balance"], "steps": 50}
    by_name = expand({"config": "tiny", **fields}, "test.yaml", ROOT)
    by_path = expand({"config": str(shipped_config("tiny")), **fields}, "test.yaml", ROOT)
    assert by_name.trials == by_path.trials and "enc_dim=32" in by_name.trials[0].overrides
    with pytest.raises(SweepSpecError, match=r"unknown config 'tiyn'.*\(tiny\)"):
        expand({"config": "tiyn", **fields}, "test.yaml", ROOT)


# ----------------------------------------------------------------------------------------------------------
# load_config
# ----------------------------------------------------------------------------------------------------------


def test_import_loads_no_framework() -> None:
    code = ("import sys, tdmpc_parity\n"
            "assert tdmpc_parity.load_config is tdmpc_parity.app.api.load_config and tdmpc_parity.RunResult\n"
            "bad = [m for m in ('torch', 'jax', 'jaxlib', 'flax', 'matplotlib.pyplot') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert {"train", "load_agent", "evaluate"} <= set(dir(tdmpc_parity))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        tdmpc_parity.trian  # noqa: B018


def test_load_config_overrides() -> None:
    cfg = tp.load_config(task="cartpole-balance", backend="jax", config="tiny", model_size=None, horizon=5,
                         glass={"preset": "phase1b", "num_clusters": 4}, **{"glass.t_proto": 0.5})
    assert (cfg.task, cfg.backend, cfg.enc_dim, cfg.horizon) == ("cartpole-balance", "jax", 32, 5)
    assert (cfg.glass.enabled, cfg.glass.num_clusters, cfg.glass.t_proto) == (True, 4, 0.5)
    assert cfg.glass.assign_logits_init_scale == 0.5  # the rest from the phase1b preset
    assert tp.load_config(glass="phase1b").glass.t_proto == 0.7
    assert tp.load_config(profile="fast").n_envs == 256 and tp.load_config().n_envs == 1
    assert cfg == core_load_config("official", "tiny", ["horizon=5", "glass=phase1b", "glass.num_clusters=4",
                                                        "glass.t_proto=0.5", "task=cartpole-balance", "backend=jax"])


def test_task_and_backend_beat_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("task: hopper-hop\nbackend: jax\nlr: 0.001\n")
    assert (tp.load_config(config=path).task, tp.load_config(config=str(path)).backend) == ("hopper-hop", "jax")
    cfg = tp.load_config(task="cartpole-balance", backend="torch", config=path)
    assert (cfg.task, cfg.backend, cfg.lr) == ("cartpole-balance", "torch", 0.001)


@pytest.mark.parametrize("kwargs, message", [
    ({"lrr": 1e-3}, "unknown config key 'lrr'; did you mean 'lr'? (`tdmpc-parity keys` lists every key)"),
    ({"num_clusters": 4}, "unknown config key 'num_clusters'; did you mean 'glass.num_clusters'"),
    ({"glass": {"t_prot": 1.0}}, "unknown config key 'glass.t_prot'; did you mean 'glass.t_proto'"),
    ({"steps": "many"}, "config field 'steps': expected int, got str 'many'"),
    ({"obs_dim": 3}, "config field 'obs_dim' is derived"),
    ({"config": "tiyn"}, "unknown config 'tiyn'"),
    ({"profile": "slow"}, "unknown profile 'slow'"),
    ({"task": "cartpole-balanse"}, "cartpole-balanse"),
])
def test_load_config_errors(kwargs, message) -> None:
    with pytest.raises(ValueError) as err:
        tp.load_config(**kwargs)
    assert message in str(err.value)


def test_load_config_refuses_what_the_cli_refuses(capsys) -> None:
    with pytest.raises(ValueError) as err:
        tp.load_config(lrr=1e-3)
    assert main(["info", "lrr=0.001"]) == 2
    assert str(err.value) in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# train without a backend: what it asks of the backend's module, what it returns
# ----------------------------------------------------------------------------------------------------------


def _eval_csv(run_dir: Path, rows: list[tuple[int, int, float]]) -> None:
    run_dir.mkdir(parents=True)
    lines = ["agent_step,env_step,elapsed,episode_reward", *(f"{a},{e},1.5,{r!r}" for a, e, r in rows)]
    (run_dir / "eval.csv").write_text("\n".join(lines) + "\n")


def test_train_calls_the_backend_once_per_torch_seed(tmp_path: Path) -> None:
    calls = []

    def fake_train(cfg, run_dir, **kw):
        calls.append((cfg.seed, cfg.steps, run_dir, kw))
        _eval_csv(run_dir, [(0, 0, 10.0), (40, 80, 30.0 + cfg.seed)])
        return 0

    cfg = tp.load_config(task="cartpole-balance", config="tiny")
    res = tp.train(cfg, tmp_path / "run", seeds=[3, 5], steps=40, module=SimpleNamespace(train=fake_train),
                   max_minutes=2)
    assert [c[:3] for c in calls] == [(3, 40, tmp_path / "run" / "seed_3"), (5, 40, tmp_path / "run" / "seed_5")]
    assert calls[0][3] == {"resume": False, "overwrite": False, "progress": False, "max_seconds": 120.0}
    assert res.seeds == (3, 5) and res.run_dirs == (tmp_path / "run" / "seed_3", tmp_path / "run" / "seed_5")
    assert res.final_evals == (api.FinalEval(40, 80, 33.0), api.FinalEval(40, 80, 35.0))
    assert res.final_eval == api.FinalEval(40, 80, 34.0)  # several seeds: the mean at their last common step
    assert res.metrics == res.eval_csvs and res.files == res.eval_csvs
    with pytest.raises(ValueError, match="a run of 2 seeds has one eval.csv per seed: use eval_csvs"):
        res.eval_csv  # noqa: B018


def test_train_refuses_bad_arguments(tmp_path: Path) -> None:
    cfg = tp.load_config(task="cartpole-balance", config="tiny")
    never = SimpleNamespace(train=lambda *a, **k: pytest.fail("trained"))
    for kwargs, message in (({"seeds": [1, 1]}, "seeds must be distinct integers"),
                            ({"resume": True, "run_dir": None}, "resume=True continues the run in run_dir"),
                            ({"max_minutes": 0}, "max_minutes must be > 0"),
                            ({"steps": 0}, "steps")):
        with pytest.raises(ValueError, match=message):
            tp.train(cfg, **{"run_dir": tmp_path / "r", **kwargs}, module=never)
    failing = SimpleNamespace(train=lambda *a, **k: 3)
    with pytest.raises(RuntimeError, match="ended with exit code 3"):
        tp.train(cfg, tmp_path / "r", module=failing)


# ----------------------------------------------------------------------------------------------------------
# One tiny run per backend: train, load_agent, evaluate
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["torch", "jax"])
def trained(request, tmp_path_factory) -> tuple[str, api.RunResult]:
    backend = request.param
    pytest.importorskip(backend)
    cfg = tp.load_config(task="cartpole-balance", backend=backend, config="tiny", **RUN)
    return backend, tp.train(cfg, tmp_path_factory.mktemp(f"api_{backend}") / "run", steps=STEPS)


@pytest.fixture(scope="module")
def agent(trained) -> api.Agent:
    return tp.load_agent(trained[1].run_dir)


def test_train_returns_the_run(trained) -> None:
    backend, res = trained
    with res.eval_csv.open(newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    assert res.final_eval == api.FinalEval(int(last["agent_step"]), int(last["env_step"]),
                                           float(last["episode_reward"]))
    assert (res.final_eval.agent_step, res.final_eval.env_step) == (40, 80)  # evals at 0 and 40; the run ends at 60
    assert 0 <= res.final_eval.mean_return <= 40  # 20 agent steps x action_repeat 2, reward in [0, 1]
    assert res.run_dirs == (res.run_dir,) and res.seeds == (1,) and res.eval_csv == res.run_dir / "eval.csv"
    assert {p.name for p in res.metrics} == {"metrics.jsonl", "metrics.csv", "eval.csv"}
    assert {"config.json", "model.npz"} <= {p.name for p in res.files}
    saved = read_config(res.run_dir)
    assert (saved.backend, saved.steps, saved.episode_length) == (backend, STEPS, 20)


def test_loaded_agent_acts_deterministically(trained, agent) -> None:
    backend, res = trained
    assert agent.backend == backend and agent.cfg == read_config(res.run_dir) and "model.npz" in agent.loaded
    observations = 0.1 * np.random.default_rng(0).normal(size=(4, agent.cfg.obs_dim)).astype(np.float32)
    explored = []
    for obs in observations:
        actions = []
        for eval_mode in (True, True, False):
            agent.reset(seed=7)
            actions.append(agent.act(obs, eval_mode=eval_mode))
        assert actions[0].shape == (agent.cfg.action_dim,) == (1,) and np.all(np.abs(np.stack(actions)) <= 1)
        np.testing.assert_array_equal(actions[0], actions[1])  # same seed, same observation: same action
        explored.append(not np.array_equal(actions[0], actions[2]))
    assert any(explored)  # eval_mode=False adds exploration noise (an action clipped at +-1 may hide it)
    with pytest.raises(ValueError, match=r"cartpole-balance: an observation has shape \(5,\), got \(4,\)"):
        agent.act(observations[0, :4])


def test_evaluate_runs_the_episodes(agent) -> None:
    res = tp.evaluate(agent, episodes=2, seed=3)
    assert len(res.returns) == 2 and res.seed == 3 and res.mean == pytest.approx(np.mean(res.returns))
    assert all(0 <= r <= 40 for r in res.returns)
    assert tp.evaluate(agent, episodes=2, seed=3) == res  # the same arguments: the same returns
    assert tp.evaluate(agent, episodes=1, seed=3).returns == res.returns[:1]


def test_evaluate_refuses_another_backends_env(agent) -> None:
    other = SimpleNamespace(obs_dim=5, action_dim=1) if agent.backend == "jax" else SimpleNamespace(step_batch=None)
    with pytest.raises(ValueError, match=f"a {agent.backend} agent needs its backend's env"):
        tp.evaluate(agent, env=other, episodes=1)
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        tp.evaluate(agent, episodes=0)


# ----------------------------------------------------------------------------------------------------------
# load_agent refusals (no backend runs)
# ----------------------------------------------------------------------------------------------------------


def test_load_agent_refuses_what_eval_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        tp.load_agent(tmp_path / "missing")
    run = tmp_path / "run"
    run.mkdir()
    cfg = tp.load_config(task="cartpole-balance", config="tiny")
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    with pytest.raises(ValueError, match="--task hopper-hop differs from the run's task cartpole-balance"):
        tp.load_agent(run, task="hopper-hop")
    with pytest.raises(ValueError, match="a run folder brings its own config"):
        tp.load_agent(run, config="tiny")
    with pytest.raises(ValueError, match="has neither a checkpoint nor model.npz"):
        tp.load_agent(run)
    weights = tmp_path / "w.npz"
    np.savez(weights, x=np.zeros(1))
    with pytest.raises(ValueError, match="which does not say its task: give --task"):
        tp.load_agent(weights)
