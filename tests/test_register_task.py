"""Tasks of your own: `register_task` and its errors, `--task-module` on the command line (info, train, eval, resume,
sweep), and a tiny training run of `examples/my_tasks.py`'s cartpole-long-pole in both backends.

The env parity of the example task (both backends' observations and rewards): parity/test_registered_task_parity.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tdmpc_parity.app import cli as cli_mod
from tdmpc_parity.core import task_registry
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.task_registry import (
    TASK_MODULE_ENV,
    RegisteredTask,
    load_task_module,
    register_task,
    task_module_args,
    unregister_task,
)
from tdmpc_parity.core.tasks import REGISTERED, TASKS, get_task

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "my_tasks.py"
TASK = "cartpole-long-pole"


def forget() -> None:
    """As a new process: no task registered, no task module imported."""
    REGISTERED.clear()
    task_registry._IMPORTED.clear()


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Every test starts and ends with nothing registered (what it registers is not seen by other tests)."""
    forget()
    yield
    forget()


def _dm_env(seed: int):  # a factory never called by the registry tests
    raise AssertionError("not called")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli_mod.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------------------------------------
# register_task
# ----------------------------------------------------------------------------------------------------------


def test_a_registered_task_is_found_by_name_with_its_sizes_and_episode() -> None:
    spec = register_task("my-task", torch_env=_dm_env, obs_dim=7, action_dim=3, episode_length=250, action_repeat=4)
    assert isinstance(spec, RegisteredTask) and get_task("my-task") is spec and "my-task" not in TASKS
    assert (spec.obs_dim, spec.action_dim, spec.control_steps, spec.episode_length) == (7, 3, 1000, 250)
    assert spec.backends == ("torch",) and not spec.official and spec.origin == __name__
    cfg = load_config(overrides=["task=my-task", "action_repeat=4"])
    assert (cfg.obs_dim, cfg.action_dim, cfg.episode_length) == (7, 3, 250)
    assert load_config(overrides=["task=my-task"]).episode_length == 500  # the config's action_repeat 2: 1000 / 2
    both = register_task("my_task_2", torch_env=_dm_env, jax_env=lambda: None, obs_dim=1, action_dim=1)
    assert both.backends == ("torch", "jax") and both.episode_length == 500
    unregister_task("my-task")
    with pytest.raises(ValueError, match=r"unknown task 'my-task'; did you mean my_task_2\?"):
        get_task("my-task")


@pytest.mark.parametrize("name, message", [
    ("My-Task", r"task name 'My-Task' is not valid: use lowercase letters and digits, words joined by single '-' or "
                r"'_', e\.g\. 'cartpole-long-pole'"),
    ("my--task", "task name 'my--task' is not valid"),
    ("my task", "task name 'my task' is not valid"),
    ("-task", "task name '-task' is not valid"),
    ("", "task name '' is not valid"),
    (3, "task name 3 is not valid"),
    ("hopper-hop", r"task name 'hopper-hop' is a built-in task \(`tdmpc-parity tasks` lists them\); give your task "
                   "another name"),
    ("walker-backflip", r"task name 'walker-backflip' is reserved \(a custom task of the official repository\)"),
])
def test_bad_names_are_one_sentence(name, message) -> None:
    with pytest.raises(ValueError, match=message):
        register_task(name, torch_env=_dm_env, obs_dim=1, action_dim=1)
    assert not REGISTERED


def test_a_duplicate_is_refused_until_unregistered() -> None:
    register_task("my-task", torch_env=_dm_env, obs_dim=1, action_dim=1)
    with pytest.raises(ValueError, match=r"task 'my-task' is already registered \(by tests\.test_register_task\); "
                                         r"unregister_task\('my-task'\) first to replace it"):
        register_task("my-task", torch_env=_dm_env, obs_dim=2, action_dim=1)
    assert get_task("my-task").obs_dim == 1
    unregister_task("my-task")
    assert register_task("my-task", torch_env=_dm_env, obs_dim=2, action_dim=1).obs_dim == 2
    with pytest.raises(ValueError, match="no registered task 'other'; registered: my-task"):
        unregister_task("other")
    with pytest.raises(ValueError, match="no registered task 'hopper-hop'"):  # built-in tasks stay
        unregister_task("hopper-hop")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"torch_env": None}, TypeError, r"register_task\('t'\): torch_env must be a function returning a dm_control "
                                     r"control\.Environment, got NoneType"),
    ({"torch_env": "cartpole"}, TypeError, "torch_env must be a function returning a dm_control control.Environment, "
                                           "got str"),
    ({"jax_env": 1}, TypeError, "jax_env must be a function returning a Playground-style MJX env, got int"),
    ({"episode_length": 0}, ValueError, r"register_task\('t'\): episode_length must be a whole number >= 1 \(agent "
                                        r"steps\), got 0"),
    ({"episode_length": 2.5}, ValueError, "episode_length must be a whole number >= 1 .*, got 2.5"),
    ({"episode_length": True}, ValueError, "episode_length must be a whole number >= 1 .*, got True"),
    ({"action_repeat": -1}, ValueError, r"action_repeat must be a whole number >= 1 \(control steps per agent step\)"),
    ({"obs_dim": 0}, ValueError, r"obs_dim must be a whole number >= 1 \(the flattened observation's size\), got 0"),
    ({"action_dim": "1"}, ValueError, "action_dim must be a whole number >= 1 .*, got '1'"),
])
def test_bad_factories_and_sizes_are_one_sentence(kwargs, error, message) -> None:
    args = {"torch_env": _dm_env, "obs_dim": 1, "action_dim": 1, **kwargs}
    with pytest.raises(error, match=message):
        register_task("t", **args)
    assert not REGISTERED


def test_a_task_without_a_jax_factory_is_refused_by_the_jax_backend_as_dog_is() -> None:
    register_task("my-task", torch_env=_dm_env, obs_dim=1, action_dim=1)
    with pytest.raises(ValueError, match=r"config field 'task': task 'my-task' has no JAX environment \(registered "
                                         r"without a jax_env factory; register_task\(\.\.\., jax_env=\.\.\.\) adds "
                                         r"one\): only the torch backend runs it; tasks the jax backend runs: "
                                         r"acrobot-swingup, "):
        load_config(overrides=["task=my-task", "backend=jax"])
    with pytest.raises(ValueError, match="tasks the jax backend runs: acrobot-swingup, .*walker-walk-backwards$"):
        get_task("dog-walk").check_backend("jax")
    register_task("my-jax-task", torch_env=_dm_env, jax_env=_dm_env, obs_dim=1, action_dim=1)
    with pytest.raises(ValueError, match="tasks the jax backend runs: acrobot-swingup, .*, my-jax-task, "):
        get_task("dog-walk").check_backend("jax")  # the list names the registered tasks too
    assert load_config(overrides=["task=my-jax-task", "backend=jax"]).task == "my-jax-task"



def test_a_registered_task_runs_in_dm_control_physics_only() -> None:
    """The fast profile's Playground physics falls back to dm_control for a registered task (as for the JAX
    backend's own envs); an explicit physics=playground is one sentence."""
    register_task("my-jax-task", torch_env=_dm_env, jax_env=_dm_env, obs_dim=1, action_dim=1)
    assert load_config("fast", overrides=["task=my-jax-task", "backend=jax"]).physics == "dm_control"
    assert load_config("fast", overrides=["task=cartpole-balance", "backend=jax"]).physics == "playground"
    with pytest.raises(ValueError, match=r"MuJoCo Playground has no my-jax-task environment, so physics=playground "
                                         r"does not exist for it; physics=dm_control runs it"):
        load_config(overrides=["task=my-jax-task", "backend=jax", "physics=playground"])

def test_an_unknown_task_points_at_the_task_module() -> None:
    with pytest.raises(ValueError, match=r"unknown task 'cartpole-long-pole'; did you mean .*cartpole-balance.*known "
                                         r"tasks: .* \(a task of your own is known once its module has run "
                                         r"register_task: --task-module FILE on the command line\)"):
        get_task(TASK)


# ----------------------------------------------------------------------------------------------------------
# The backends build the factories' envs, and check them
# ----------------------------------------------------------------------------------------------------------


def test_the_torch_backend_checks_what_the_factory_built() -> None:
    from torch_ref.env import DMControlEnv

    load_task_module(str(EXAMPLE))
    register_task("wrong-sizes", torch_env=REGISTERED[TASK].torch_env, obs_dim=6, action_dim=1)
    with pytest.raises(ValueError, match=r"task 'wrong-sizes': the env of its torch_env factory has obs_dim=5, "
                                         r"action_dim=1, but register_task declared obs_dim=6, action_dim=1; declare "
                                         r"the env's sizes"):
        DMControlEnv("wrong-sizes", seed=0)
    register_task("not-an-env", torch_env=lambda seed: "cartpole", obs_dim=5, action_dim=1)
    with pytest.raises(TypeError, match=r"task 'not-an-env': its torch_env factory returned a str; it must return a "
                                        r"dm_control control\.Environment"):
        DMControlEnv("not-an-env", seed=0)
    register_task("failing", torch_env=lambda seed: 1 / 0, obs_dim=5, action_dim=1)
    with pytest.raises(ValueError, match="task 'failing': its torch_env factory failed: ZeroDivisionError: division by "
                                         "zero"):
        DMControlEnv("failing", seed=0)


def test_the_torch_env_of_the_example_follows_the_suites_conventions() -> None:
    """Action repeat with rewards summed, float32 obs in dm_control's dict order, truncation at episode_length, and
    the task RNG `seed` (the same seed: the same initial state)."""
    import numpy as np

    load_task_module(str(EXAMPLE))
    cfg = load_config(overrides=[f"task={TASK}", "episode_length=4"])
    from torch_ref.env import make_env

    env, twin = make_env(cfg, seed=5), make_env(cfg, seed=5)
    obs, _ = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (5,)
    np.testing.assert_array_equal(obs, twin.reset()[0])
    physics = env.physics
    assert physics.model.geom("pole_1").size[1] == pytest.approx(0.75)  # the 1.5 m pole
    steps = []
    for a in (0.5, -1.0, 0.25, 1.0):
        before = physics.data.time
        obs, reward, terminated, truncated, _ = env.step(np.array([a], np.float32))
        assert physics.data.time - before == pytest.approx(2 * 0.01)  # action_repeat 2 control steps of 0.01 s
        assert physics.data.ctrl[0] == a and 0 < reward <= 2  # the sum of two balance rewards in [0, 1]
        steps.append((terminated, truncated))
    assert steps == [(False, False)] * 3 + [(False, True)]
    assert np.float32(env.task.get_observation(physics)["position"][0]) == obs[0]  # dm_control's layout


# ----------------------------------------------------------------------------------------------------------
# Importing task modules
# ----------------------------------------------------------------------------------------------------------


def test_registering_imports_no_backend() -> None:
    code = ("import sys; from tdmpc_parity.core.task_registry import load_task_module; "
            f"load_task_module({str(EXAMPLE)!r}); "
            "from tdmpc_parity.core.tasks import get_task; print(get_task('cartpole-long-pole').backends); "
            "print(sorted(m for m in ('torch', 'jax', 'mujoco', 'dm_control', 'mujoco_playground') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.split("\n")[:2] == ["('torch', 'jax')", "[]"]


def test_a_task_module_is_imported_once_by_path_or_by_name(tmp_path: Path, monkeypatch) -> None:
    assert load_task_module(os.path.relpath(EXAMPLE)) == str(EXAMPLE)
    assert load_task_module(str(EXAMPLE)) == str(EXAMPLE)  # again: no duplicate registration
    assert REGISTERED[TASK].origin == str(EXAMPLE) and REGISTERED[TASK].backends == ("torch", "jax")
    (tmp_path / "pkg_with_tasks").mkdir()
    (tmp_path / "pkg_with_tasks" / "__init__.py").write_text("")
    (tmp_path / "pkg_with_tasks" / "tasks.py").write_text(
        "from tdmpc_parity.core.task_registry import register_task\n"
        "register_task('pkg-task', torch_env=lambda seed: None, obs_dim=2, action_dim=1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_task_module("pkg_with_tasks.tasks") == "pkg_with_tasks.tasks"
    assert load_task_module("pkg_with_tasks.tasks") == "pkg_with_tasks.tasks"
    assert REGISTERED["pkg-task"].origin == "pkg_with_tasks.tasks"
    monkeypatch.delitem(sys.modules, "pkg_with_tasks.tasks")
    monkeypatch.delitem(sys.modules, "pkg_with_tasks")


def test_a_missing_or_failing_task_module_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"task module 'nowhere/tasks\.py': no such file; give a \.py file \(e\.g\. "
                                         r"examples/my_tasks\.py\) or the name of an importable module"):
        load_task_module("nowhere/tasks.py")
    with pytest.raises(ValueError, match=r"task module 'no_such_tasks_module': no such file or importable module; "
                                         r"give a \.py file path"):
        load_task_module("no_such_tasks_module")
    bad = tmp_path / "bad_tasks.py"
    bad.write_text("from tdmpc_parity.core.task_registry import register_task\n"
                   "register_task('half-done', torch_env=lambda seed: None, obs_dim=1, action_dim=1)\n"
                   "register_task('Bad Name', torch_env=lambda seed: None, obs_dim=1, action_dim=1)\n")
    with pytest.raises(ValueError, match=r"task module '.*bad_tasks\.py' failed to import: ValueError: task name "
                                         r"'Bad Name' is not valid"):
        load_task_module(str(bad))
    assert "half-done" not in REGISTERED  # a module that failed leaves nothing registered
    broken = tmp_path / "broken_tasks.py"
    broken.write_text("import no_such_dependency_here\n")
    with pytest.raises(ValueError, match=r"task module '.*broken_tasks\.py' failed to import: ModuleNotFoundError: "
                                         r"No module named 'no_such_dependency_here'"):
        load_task_module(str(broken))


# ----------------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------------


def test_info_with_the_example_module(capsys) -> None:
    rc, out, err = _run(capsys, "info", "--task-module", str(EXAMPLE), "--task", TASK, "--config", "tiny")
    assert rc == 0, err
    info = json.loads(out)
    assert info["task"] == TASK and info["config"]["obs_dim"] == 5 and info["config"]["action_dim"] == 1
    assert info["config"]["episode_length"] == 100  # tiny's
    forget()
    rc, _, err = _run(capsys, "info", "--task", TASK)
    assert rc == 2 and "unknown task 'cartpole-long-pole'" in err and "--task-module FILE" in err
    rc, _, err = _run(capsys, "info", "--task-module", "examples/nope.py", "--task", TASK)
    assert rc == 2 and err.strip() == ("tdmpc-parity info: error: task module 'examples/nope.py': no such file; give a "
                                       ".py file (e.g. examples/my_tasks.py) or the name of an importable module")


def test_the_tasks_command_lists_the_tasks_of_a_module_after_the_built_in_ones(capsys) -> None:
    rc, out, err = _run(capsys, "tasks")
    assert rc == 0, err
    assert "tasks of your own" not in out and TASK not in out
    rc, out, err = _run(capsys, "tasks", "--task-module", str(EXAMPLE))
    assert rc == 0, err
    mine = out.split("tasks of your own (--task-module):\n")[1].splitlines()
    assert mine[0].split() == ["task", "backends", "episode", "length", "x", "action", "repeat", "registered", "by"]
    assert mine[1].split() == [TASK, "torch,", "jax", "500", "x", "2", str(EXAMPLE)]
    assert out.index("hopper-hop") < out.index(TASK)  # the built-in table first, unchanged
    rc, _, err = _run(capsys, "tasks", "--task-module", "examples/nope.py")
    assert rc == 2 and "task module 'examples/nope.py': no such file" in err


def test_the_tasks_command_lists_a_torch_only_task_with_torch_alone(capsys) -> None:
    register_task("my-task", torch_env=_dm_env, obs_dim=3, action_dim=1, episode_length=250, action_repeat=4)
    rc, out, err = _run(capsys, "tasks")
    assert rc == 0, err
    mine = out.split("tasks of your own (--task-module):\n")[1].splitlines()
    assert mine[1].split() == ["my-task", "torch", "250", "x", "4", __name__]  # registered by this module


def test_sweep_passes_the_task_module_to_its_trials(tmp_path: Path, monkeypatch, capsys) -> None:
    from tdmpc_parity.app import sweep as sweep_mod

    monkeypatch.setenv(TASK_MODULE_ENV, "")  # (and unset after the test)
    assert task_module_args() == []
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(f"name: mine\ntasks: [{TASK}]\nsteps: 200\n")
    seen = []
    monkeypatch.setattr(sweep_mod, "run_sweep", lambda spec=None, out=None, **kw: seen.append(spec) or 0)
    rc, _, err = _run(capsys, "sweep", str(spec_file), "--out", str(tmp_path / "out"))
    assert rc == 2 and "unknown task 'cartpole-long-pole'" in err  # the sweep file's tasks are checked
    rc, _, err = _run(capsys, "sweep", str(spec_file), "--out", str(tmp_path / "out"), "--task-module",
                      os.path.relpath(EXAMPLE))
    assert rc == 0, err
    assert [t.task for t in seen[0].trials] == [TASK]
    assert task_module_args() == ["--task-module", str(EXAMPLE)]  # absolute: trials run in the sweep folder
    # the trial's command (what run_trial starts in its subprocess)
    commands = []

    class Done:
        pid = 0

        def wait(self) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(sweep_mod.subprocess, "Popen", lambda cmd, **kw: commands.append(cmd) or Done())
    state = sweep_mod.run_trial(seen[0].trials[0].to_dict(), str(tmp_path / "out"), 0, {"cpus": 1, "gpus": 0})
    assert state["status"] == "done"
    cmd = commands[0]
    assert cmd[3:5] == ["train", "--backend"] and cmd[-2:] == ["--task-module", str(EXAMPLE)]
    assert cmd[cmd.index("--task") + 1] == TASK
    # --resume: a trial trained with the module names it when the driver is not given it
    task_registry.record_task_module(tmp_path / "out" / "trials" / "t", str(EXAMPLE), TASK, overwrite=False)
    forget()
    rc, _, err = _run(capsys, "sweep", "--resume", str(tmp_path / "out"))
    assert rc == 2 and f"is a run of task '{TASK}'" in err and f"pass --task-module {EXAMPLE}" in err
    rc, _, err = _run(capsys, "sweep", "--resume", str(tmp_path / "out"), "--task-module", str(EXAMPLE))
    assert rc == 0 and seen[-1] is None, err


def test_a_ray_cluster_gets_the_task_module_on_its_workers(monkeypatch) -> None:
    from tdmpc_parity.app import sweep as sweep_mod

    class FakeRay:
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def is_initialized(self) -> bool:
            return False

        def init(self, **kwargs) -> None:
            self.calls.append(kwargs)

    monkeypatch.setenv(TASK_MODULE_ENV, "")
    ray = FakeRay()
    assert sweep_mod.start_ray(ray, "ray://head:10001", None)
    assert ray.calls[-1]["runtime_env"] is None  # no module: Ray's own default
    monkeypatch.setenv(TASK_MODULE_ENV, str(EXAMPLE))
    assert sweep_mod.start_ray(ray, "ray://head:10001", None)
    assert ray.calls[-1]["runtime_env"] == {"env_vars": {TASK_MODULE_ENV: str(EXAMPLE)}}
    assert sweep_mod.start_ray(ray, None, 2)  # a local instance: its workers inherit the driver's environment
    assert "runtime_env" not in ray.calls[-1] and ray.calls[-1]["address"] == "local"


@pytest.fixture(scope="module")
def example_module_arg() -> str:
    """The example as a user passes it: a path relative to the current folder."""
    return os.path.relpath(EXAMPLE)


def _train_eval_resume(backend: str, tmp_path: Path, capsys, module: str) -> None:
    run = tmp_path / f"run-{backend}"
    common = ["--task", TASK, "--config", "tiny", "--no-progress", "eval_episodes=1"]
    rc, out, err = _run(capsys, "train", "--task-module", module, *common, "--backend", backend, "--steps", "200",
                        "--run-dir", str(run))
    assert rc == 0, err
    assert f"tdmpc-parity train: {backend} on cpu, task {TASK}" in out
    assert json.loads((run / "task_module.json").read_text()) == {"task_module": str(EXAMPLE), "task": TASK}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["agent_step"] for r in evals] == [0, 200] and all(0 < r["episode_reward"] <= 200 for r in evals)
    forget()  # a new process: the run folder names the module, and imports nothing by itself
    for argv in (["eval", str(run), "--episodes", "1", "--no-progress"],
                 ["train", "--resume", str(run), "--steps", "300", "--no-progress"]):
        rc, _, err = _run(capsys, *argv)
        assert rc == 2 and err.strip().endswith(
            f"error: {str(run)!r} is a run of task '{TASK}', registered by the task module {str(EXAMPLE)!r} it was "
            f"trained with: pass --task-module {EXAMPLE} (a run folder never imports code by itself)"), err
    rc, out, err = _run(capsys, "eval", str(run), "--task-module", module, "--episodes", "1", "--no-progress")
    assert rc == 0, err
    result = json.loads((run / "eval" / "eval.json").read_text())
    assert result["task"] == TASK and result["backend"] == backend and 0 < result["returns"][0] <= 200
    if backend == "torch":  # resumed (the same code path in both backends)
        rc, out, err = _run(capsys, "train", "--resume", str(run), "--task-module", module, "--steps", "300")
        assert rc == 0 and "(resumed)" in out, err
        steps = [json.loads(line)["agent_step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert max(steps) == 300
        forget()  # compare and plot read the run's config, whose task only the module registers
        rc, _, err = _run(capsys, "compare", str(run), "--out", str(tmp_path / "cmp"))
        assert rc == 2 and f"pass --task-module {EXAMPLE}" in err, err
        rc, out, err = _run(capsys, "compare", str(run), "--task-module", module, "--out", str(tmp_path / "cmp"))
        assert rc == 0 and (tmp_path / "cmp" / "learning.md").is_file(), err
        assert TASK in (tmp_path / "cmp" / "learning.md").read_text()


def test_train_eval_and_resume_the_example_in_torch(tmp_path: Path, capsys, example_module_arg: str) -> None:
    _train_eval_resume("torch", tmp_path, capsys, example_module_arg)


@pytest.mark.slow  # about 3 min of CPU time: the JAX training program's compile, then the evaluation's
def test_train_and_eval_the_example_in_jax(tmp_path: Path, capsys, example_module_arg: str) -> None:
    _train_eval_resume("jax", tmp_path, capsys, example_module_arg)


def test_overwriting_a_run_without_a_module_drops_its_record(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def train(cfg, run_dir: Path, overwrite: bool = False, **kw) -> int:  # refuses a run folder as RunLog does
        if (run_dir / "config.json").exists() and not overwrite:
            raise ValueError(f"run folder {str(run_dir)!r} already holds a run")
        calls.append(cfg.task)
        return 0

    fake = SimpleNamespace(train=train)
    monkeypatch.setattr(cli_mod, "backend_module", lambda backend, name: fake)
    monkeypatch.setattr(cli_mod, "compute_device", lambda cfg: "cpu")
    run = tmp_path / "run"
    argv = ["train", "--config", "tiny", "--run-dir", str(run), "--no-progress"]
    assert cli_mod.main([*argv, "--task", TASK, "--task-module", str(EXAMPLE)]) == 0
    assert (run / "task_module.json").is_file()
    (run / "config.json").write_text("{}")  # as the trainer leaves it: a run folder
    assert cli_mod.main([*argv, "--task", "cartpole-balance"]) == 2  # refused by the trainer: the record stays
    assert (run / "task_module.json").is_file() and calls == [TASK]
    assert cli_mod.main([*argv, "--task", "cartpole-balance", "--overwrite"]) == 0
    assert not (run / "task_module.json").exists() and calls[-1] == "cartpole-balance"
