"""torch_ref.custom_tasks: the official repository's custom tasks, step for step as its own code builds them.

The official modules (tests/fixtures/official_tasks/, copied unchanged) are imported each into a private task
registry (they register into dm_control's domain modules at import, under the same names as ours) and read
their XMLs from tdmpc_parity/data/official_tasks/; then the same seed and actions must give the same observations
and rewards, exactly.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from dm_control import suite
from dm_control.utils import containers

from tdmpc_parity.core.tasks import TASKS
from torch_ref import custom_tasks  # noqa: F401  (registers the tasks)
from torch_ref.env import DMControlEnv, flatten_observation

OFFICIAL = Path(__file__).parent / "fixtures" / "official_tasks"
XMLS = resources.files("tdmpc_parity").joinpath("data", "official_tasks")
CUSTOM = sorted(name for name, spec in TASKS.items() if spec.custom)


def official_module(domain: str) -> ModuleType:
    """The official `envs/tasks/<domain>.py`, imported with a fresh registry in place of the domain's SUITE."""
    name = f"official_tasks_{domain}"
    if name in sys.modules:
        return sys.modules[name]
    dm_domain = getattr(suite, domain)
    registry, dm_domain.SUITE = dm_domain.SUITE, containers.TaggedTasks()
    try:
        spec = importlib.util.spec_from_file_location(name, OFFICIAL / f"{domain}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        dm_domain.SUITE = registry
    module._TASKS_DIR = str(XMLS)  # the XMLs shipped with the package (the same files)
    sys.modules[name] = module
    return module


def test_the_eleven_custom_tasks_are_the_official_results_without_a_dm_control_task() -> None:
    assert CUSTOM == ["cheetah-jump", "cheetah-run-back", "cheetah-run-backwards", "cheetah-run-front",
                      "cup-spin", "hopper-hop-backwards", "pendulum-spin", "reacher-three-easy",
                      "reacher-three-hard", "walker-run-backwards", "walker-walk-backwards"]
    for name in CUSTOM:
        spec = TASKS[name]
        assert spec.official and (spec.domain, spec.task) in suite.ALL_TASKS
        assert (spec.domain, spec.task) in suite._get_tasks("custom")
    assert all(TASKS[name].backends == ("torch", "jax") for name in CUSTOM)


@pytest.mark.parametrize("task", CUSTOM)
def test_custom_task_steps_exactly_as_the_official_code(task: str) -> None:
    spec = TASKS[task]
    official_env = getattr(official_module(spec.domain), spec.task)(random=5)
    ours = DMControlEnv(task, seed=5)
    obs, _ = ours.reset()
    np.testing.assert_array_equal(obs, flatten_observation(official_env.reset().observation))
    assert ours.dm_env._step_limit == official_env._step_limit == 1000
    assert ours.dm_env.control_timestep() == official_env.control_timestep()
    rng = np.random.default_rng(0)
    paid = 0
    for _ in range(40):
        action = rng.uniform(-1, 1, ours.action_dim)
        obs, reward, *_ = ours.step(action)
        r = sum(official_env.step(action).reward for _ in range(ours.action_repeat - 1))
        ts = official_env.step(action)
        assert reward == r + ts.reward, task
        np.testing.assert_array_equal(obs, flatten_observation(ts.observation))
        paid += reward > 0
    if task not in ("hopper-hop-backwards", "reacher-three-easy", "reacher-three-hard"):  # 0 from a random start
        assert paid > 0, task


def test_rewards_agree_with_the_official_code_where_they_pay() -> None:
    """The random rollouts above rarely reach the upper bounds: states set where each term pays."""
    rng = np.random.default_rng(1)
    for task in ("cheetah-run-backwards", "hopper-hop-backwards", "walker-run-backwards", "pendulum-spin",
                 "cheetah-jump", "cheetah-run-front"):
        spec = TASKS[task]
        official_env = getattr(official_module(spec.domain), spec.task)(random=0)
        ours = DMControlEnv(task, seed=0)
        ours.reset()
        official_env.reset()
        got, want = [], []
        for _ in range(40):
            p = ours.physics
            p.data.qpos[:] = p.model.qpos0 + 0.05 * rng.standard_normal(p.model.nq)
            p.data.qvel[:] = rng.uniform(-12, 12, p.model.nv)
            if spec.domain == "cheetah":
                p.data.qpos[1] = rng.uniform(0.0, 1.5)  # rootz: lifted, so the height terms pay
            p.forward()
            got.append(ours.task.get_reward(p))
            want.append(official_env.task.get_reward(p))
        assert got == want and max(got) > 0.5, task


def _xml(path: Path | object) -> list[str]:
    return [re.sub(r"\s+", " ", line).strip() for line in path.read_text().splitlines() if line.strip()]


def test_official_xmls_against_dm_control_as_the_readme_says() -> None:
    dm = Path(suite.__file__).parent
    for name in ("hopper", "pendulum", "ball_in_cup"):
        assert _xml(XMLS / f"{name}.xml") == _xml(dm / f"{name}.xml"), name
    for name, line in (("cheetah", 'size="200 .8 .5"'), ("walker", 'size="500 .8 .2"')):
        ours, theirs = _xml(XMLS / f"{name}.xml"), _xml(dm / f"{name}.xml")
        diff = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
        assert len(diff) == 1 and line in diff[0][0] and 'type="plane"' in diff[0][0], (name, diff)
    three = (XMLS / "reacher_three_links.xml").read_text()
    assert 'name="shoulder1"' in three and 'name="wrist"' in three and three.count("<motor name=") == 3
