"""The task table both backends read: dm_control names, Playground names and the env-derived sizes.

The sizes are facts about the environments (checked against the real dm_control and Playground envs in
`tests/test_tasks.py`); writing them down lets `info` and the config resolve without building an env.
Official TD-MPC2 DMC semantics: action repeat 2, 500 agent-step episodes (= 1000 control steps), no
termination, observations flattened in dict order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """One DMC task: where each backend finds it and the sizes the model needs."""

    name: str  # official TD-MPC2 name, e.g. "hopper-hop"
    domain: str  # dm_control domain
    task: str  # dm_control task
    playground: str | None  # MuJoCo Playground registry name, None where Playground lacks it
    obs_dim: int
    action_dim: int
    control_steps: int = 1000  # dm_control time limit in control steps


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("hopper-hop", "hopper", "hop", "HopperHop", 15, 4),
        TaskSpec("hopper-stand", "hopper", "stand", "HopperStand", 15, 4),
        TaskSpec("walker-run", "walker", "run", "WalkerRun", 24, 6),
        TaskSpec("walker-walk", "walker", "walk", "WalkerWalk", 24, 6),
        TaskSpec("walker-stand", "walker", "stand", "WalkerStand", 24, 6),
        TaskSpec("cheetah-run", "cheetah", "run", "CheetahRun", 17, 6),
        TaskSpec("cartpole-balance", "cartpole", "balance", "CartpoleBalance", 5, 1),
        TaskSpec("cartpole-swingup", "cartpole", "swingup", "CartpoleSwingup", 5, 1),
        TaskSpec("pendulum-swingup", "pendulum", "swingup", "PendulumSwingup", 3, 1),
        # Playground 0.2.0's ReacherEasy does not load with mujoco 3.17 (MjSpec.find_body is gone): torch only
        TaskSpec("reacher-easy", "reacher", "easy", None, 6, 2),
        TaskSpec("finger-spin", "finger", "spin", "FingerSpin", 9, 2),
        TaskSpec("acrobot-swingup", "acrobot", "swingup", "AcrobotSwingup", 6, 1),
    )
}


def get_task(name: str) -> TaskSpec:
    """Look a task up by its official name; an unknown name is a ValueError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise ValueError(f"unknown task {name!r}; known tasks: {known}") from None
