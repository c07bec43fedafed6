"""tdmpc_parity.core.tasks: the task table covers the official DMC tasks and every DMC task both simulators provide.

The per-task sizes are checked against the built envs in tests/test_env_torch.py (dm_control) and
parity/test_env_parity.py (Playground, against dm_control on the same states).
"""

from __future__ import annotations

import pytest

from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import OWN_MJX_ENVS, TASKS, UNSUPPORTED, get_task

# nicklashansen/tdmpc2 @ e9f5932, results/tdmpc2/: its 39 DMC tasks
OFFICIAL_DMC = {
    "acrobot-swingup", "cartpole-balance", "cartpole-balance-sparse", "cartpole-swingup", "cartpole-swingup-sparse",
    "cheetah-jump", "cheetah-run", "cheetah-run-back", "cheetah-run-backwards", "cheetah-run-front", "cup-catch",
    "cup-spin", "dog-run", "dog-stand", "dog-trot", "dog-walk", "finger-spin", "finger-turn-easy",
    "finger-turn-hard", "fish-swim", "hopper-hop", "hopper-hop-backwards", "hopper-stand", "humanoid-run",
    "humanoid-stand", "humanoid-walk", "pendulum-spin", "pendulum-swingup", "quadruped-run", "quadruped-walk",
    "reacher-easy", "reacher-hard", "reacher-three-easy", "reacher-three-hard", "walker-run",
    "walker-run-backwards", "walker-stand", "walker-walk", "walker-walk-backwards",
}


def test_every_official_task_is_in_the_table() -> None:
    official = {name for name, spec in TASKS.items() if spec.official}
    assert len(OFFICIAL_DMC) == 39
    assert official == OFFICIAL_DMC and not set(TASKS) & set(UNSUPPORTED)
    assert {name for name, spec in TASKS.items() if not spec.official} == {
        "acrobot-swingup-sparse", "pointmass-easy", "swimmer-swimmer6"}


def test_both_backends_run_every_task_that_dm_control_and_playground_share() -> None:
    from dm_control import suite
    from mujoco_playground import registry

    import torch_ref.custom_tasks  # noqa: F401  (registers the official custom tasks in suite.ALL_TASKS)

    playground = {spec.playground for spec in TASKS.values() if spec.playground is not None} - set(OWN_MJX_ENVS)
    assert playground == set(registry.dm_control_suite.ALL_ENVS)  # all 25 Playground DMC envs
    assert not set(OWN_MJX_ENVS) & set(registry.ALL_ENVS)  # the project's own envs shadow none of Playground's
    assert [s.name for s in TASKS.values() if s.playground in OWN_MJX_ENVS] == [
        "quadruped-run", "quadruped-walk", "reacher-three-easy", "reacher-three-hard"]
    dm_control_tasks = [s.name for s in TASKS.values() if s.playground in playground and not s.custom]
    assert len(dm_control_tasks) == len(playground)  # one task per Playground env; custom tasks reuse one
    for spec in TASKS.values():
        assert (spec.domain, spec.task) in suite.ALL_TASKS, spec.name
        # official naming: domain-task, with dm_control's ball_in_cup / point_mass as cup / pointmass
        short = {"ball_in_cup": "cup", "point_mass": "pointmass"}.get(spec.domain, spec.domain)
        assert spec.name == f"{short}-{spec.task.replace('_', '-')}", spec.name
        assert spec.episode_length == 500 and spec.action_repeat == 2
        assert spec.backends == (("torch", "jax") if spec.playground else ("torch",))
    torch_only = sorted(name for name, spec in TASKS.items() if spec.playground is None)
    assert torch_only == ["dog-run", "dog-stand", "dog-trot", "dog-walk"]
    assert all(TASKS[name].note for name in torch_only)  # each says why the jax backend does not run it


def test_jax_on_a_torch_only_task_names_the_backend_that_runs_it() -> None:
    with pytest.raises(ValueError, match=r"'dog-walk' has no JAX environment \(dm_control only: MuJoCo "
                                         r"Playground has no such environment, and MJX's JAX implementation cannot "
                                         r"simulate dm_control's dog \(no ellipsoid-box collisions\)\): only the "
                                         r"torch backend runs it; "
                                         r"tasks the jax backend runs: acrobot-swingup, "):
        load_config(overrides=["task=dog-walk", "backend=jax"])
    load_config(overrides=["task=dog-walk", "backend=torch"])
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        get_task("hopper-hop").check_backend("tpu")


def test_unsupported_and_misspelt_tasks_say_why() -> None:
    with pytest.raises(ValueError, match=r"'walker-backflip' is not supported: a custom task of the official "
                                         r"repository without official results"):
        get_task("walker-backflip")
    with pytest.raises(ValueError, match=r"unknown task 'point-mass-easy'; did you mean pointmass-easy\?"):
        get_task("point-mass-easy")
    with pytest.raises(ValueError, match=r"unknown task 'ball-in-cup-catch'; did you mean cup-catch\?"):
        get_task("ball-in-cup-catch")
    with pytest.raises(ValueError, match=r"unknown task 'zzz'; known tasks: acrobot-swingup"):
        get_task("zzz")
