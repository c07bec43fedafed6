"""The task table both backends read: dm_control names, Playground names and the env-derived sizes.

The sizes are facts about the environments (checked against the real dm_control envs in
`tests/test_env_torch.py` and the Playground envs in `parity/test_env_parity.py`);
writing them down lets `info` and the config resolve without building an env.
Official TD-MPC2 DMC semantics: action repeat 2, 500 agent-step episodes (= 1000 control steps), no
termination, observations flattened in dict order. Official names are those of the official code's
`make_env` (`cup` = dm_control's `ball_in_cup`, `pointmass` = `point_mass`) and of its result CSVs.

Which backend runs what (docs/tasks.md: the table with each task's physics):
- both (torch, jax): every DMC task that dm_control AND MuJoCo Playground's DM Control Suite provide (all 25
  Playground envs; the jax env maps Playground's observation onto dm_control's layout where they differ,
  `jax_impl/env.py`). The jax env steps dm_control's model and options by default (config `physics=dm_control`,
  `jax_impl/dm_control_physics.py`) or Playground's re-tuned XML (`physics=playground`; docs/physics.md);
- both, on an MJX env of the jax backend's own (`OWN_MJX_ENVS`, where Playground has no such model):
  quadruped-walk/-run on dm_control's quadruped model and task (`jax_impl/quadruped.py`);
- torch only: the official dog tasks (dm_control's dog model needs ellipsoid-box collisions, which MJX's JAX
  implementation lacks);
- the official repository's custom tasks with official results (`custom=True`, its `envs/tasks/` code:
  `torch_ref/custom_tasks.py` registers them in dm_control's suite): both backends run all 11. The jax backend
  runs 9 on a dm_control model (`playground` names the Playground env whose model and observation they use;
  their rewards, `jax_impl/custom_tasks.py`; cup-spin's own initial state, `jax_impl/initial_states.py`) and
  reacher-three-* on an MJX env of its own (`OWN_MJX_ENVS`: the official three-link XML, which Playground
  lacks; `jax_impl/reacher_three.py`);
- not supported (`UNSUPPORTED`): the official repository's other custom tasks (no official results).

Users add tasks of their own with `tdmpc_parity.core.task_registry.register_task` (docs/tasks.md, "Your own
tasks"): they live in `REGISTERED`, beside the built-in `TASKS`, and `get_task` finds both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

BACKENDS = ("torch", "jax")
# dog: 181 of the model's 5557 contact pairs are ellipsoid-box, which MJX's JAX implementation does not collide
# (`mjx.put_model` raises; tests/test_env_jax.py); a port would have to change dm_control's model
TORCH_ONLY = ("dm_control only: MuJoCo Playground has no such environment, and MJX's JAX implementation cannot "
              "simulate dm_control's dog (no ellipsoid-box collisions)")
# MJX envs the jax backend builds itself (jax_impl/quadruped.py, jax_impl/reacher_three.py), named as Playground
# names its envs
OWN_MJX_ENVS = ("QuadrupedRun", "QuadrupedWalk", "ReacherThreeEasy", "ReacherThreeHard")


@dataclass(frozen=True)
class TaskSpec:
    """One DMC task: where each backend finds it and the sizes the model needs."""

    name: str  # official TD-MPC2 name, e.g. "hopper-hop"
    domain: str  # dm_control domain
    task: str  # dm_control task
    playground: str | None  # the jax backend's env: a MuJoCo Playground registry name or one of OWN_MJX_ENVS;
    # None where the jax backend does not run it; for a custom task the env whose model and observation it uses
    obs_dim: int
    action_dim: int
    control_steps: int = 1000  # dm_control time limit in control steps
    action_repeat: int = 2  # official: every DMC task repeats each action twice
    official: bool = True  # in the official TD-MPC2 results (tdmpc_parity/data/official_tdmpc2/<name>.csv)
    custom: bool = False  # a custom task of the official repository (torch_ref/custom_tasks.py), not dm_control's
    note: str = ""  # why the jax backend does not run it (the physics of the tasks both run: docs/tasks.md)

    @property
    def episode_length(self) -> int:
        """Official episode length in agent steps: control_steps / action_repeat (500)."""
        return self.control_steps // self.action_repeat

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends that run this task: ("torch", "jax") or ("torch",)."""
        return BACKENDS if self.playground is not None else ("torch",)

    def check_backend(self, backend: str) -> None:
        """ValueError naming the backends that run this task (and the tasks `backend` runs) if it is not one."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
        if backend not in self.backends:
            others = ", ".join(sorted(n for n, s in {**TASKS, **REGISTERED}.items() if backend in s.backends))
            raise ValueError(
                f"task {self.name!r} has no JAX environment ({self.note}): only the "
                f"{' and '.join(self.backends)} backend runs it; tasks the {backend} backend runs: {others}"
            )


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("acrobot-swingup", "acrobot", "swingup", "AcrobotSwingup", 6, 1),
        TaskSpec("acrobot-swingup-sparse", "acrobot", "swingup_sparse", "AcrobotSwingupSparse", 6, 1,
                 official=False),
        TaskSpec("cartpole-balance", "cartpole", "balance", "CartpoleBalance", 5, 1),
        TaskSpec("cartpole-balance-sparse", "cartpole", "balance_sparse", "CartpoleBalanceSparse", 5, 1),
        TaskSpec("cartpole-swingup", "cartpole", "swingup", "CartpoleSwingup", 5, 1),
        TaskSpec("cartpole-swingup-sparse", "cartpole", "swingup_sparse", "CartpoleSwingupSparse", 5, 1),
        TaskSpec("cheetah-run", "cheetah", "run", "CheetahRun", 17, 6),
        TaskSpec("cup-catch", "ball_in_cup", "catch", "BallInCup", 8, 2),
        TaskSpec("finger-spin", "finger", "spin", "FingerSpin", 9, 2),
        TaskSpec("finger-turn-easy", "finger", "turn_easy", "FingerTurnEasy", 12, 2),
        TaskSpec("finger-turn-hard", "finger", "turn_hard", "FingerTurnHard", 12, 2),
        TaskSpec("fish-swim", "fish", "swim", "FishSwim", 24, 5),
        TaskSpec("hopper-hop", "hopper", "hop", "HopperHop", 15, 4),
        TaskSpec("hopper-stand", "hopper", "stand", "HopperStand", 15, 4),
        TaskSpec("humanoid-run", "humanoid", "run", "HumanoidRun", 67, 21),
        TaskSpec("humanoid-stand", "humanoid", "stand", "HumanoidStand", 67, 21),
        TaskSpec("humanoid-walk", "humanoid", "walk", "HumanoidWalk", 67, 21),
        TaskSpec("pendulum-swingup", "pendulum", "swingup", "PendulumSwingup", 3, 1),
        TaskSpec("pointmass-easy", "point_mass", "easy", "PointMass", 4, 2, official=False),
        TaskSpec("reacher-easy", "reacher", "easy", "ReacherEasy", 6, 2),
        TaskSpec("reacher-hard", "reacher", "hard", "ReacherHard", 6, 2),
        TaskSpec("swimmer-swimmer6", "swimmer", "swimmer6", "SwimmerSwimmer6", 25, 5, official=False),
        TaskSpec("walker-run", "walker", "run", "WalkerRun", 24, 6),
        TaskSpec("walker-stand", "walker", "stand", "WalkerStand", 24, 6),
        TaskSpec("walker-walk", "walker", "walk", "WalkerWalk", 24, 6),
        TaskSpec("dog-run", "dog", "run", None, 223, 38, note=TORCH_ONLY),
        TaskSpec("dog-stand", "dog", "stand", None, 223, 38, note=TORCH_ONLY),
        TaskSpec("dog-trot", "dog", "trot", None, 223, 38, note=TORCH_ONLY),
        TaskSpec("dog-walk", "dog", "walk", None, 223, 38, note=TORCH_ONLY),
        TaskSpec("quadruped-run", "quadruped", "run", "QuadrupedRun", 78, 12),
        TaskSpec("quadruped-walk", "quadruped", "walk", "QuadrupedWalk", 78, 12),
        TaskSpec("cheetah-jump", "cheetah", "jump", "CheetahRun", 17, 6, custom=True),
        TaskSpec("cheetah-run-back", "cheetah", "run_back", "CheetahRun", 17, 6, custom=True),
        TaskSpec("cheetah-run-backwards", "cheetah", "run_backwards", "CheetahRun", 17, 6, custom=True),
        TaskSpec("cheetah-run-front", "cheetah", "run_front", "CheetahRun", 17, 6, custom=True),
        TaskSpec("cup-spin", "ball_in_cup", "spin", "BallInCup", 8, 2, custom=True),
        TaskSpec("hopper-hop-backwards", "hopper", "hop_backwards", "HopperHop", 15, 4, custom=True),
        TaskSpec("pendulum-spin", "pendulum", "spin", "PendulumSwingup", 3, 1, custom=True),
        TaskSpec("reacher-three-easy", "reacher", "three_easy", "ReacherThreeEasy", 8, 3, custom=True),
        TaskSpec("reacher-three-hard", "reacher", "three_hard", "ReacherThreeHard", 8, 3, custom=True),
        TaskSpec("walker-run-backwards", "walker", "run_backwards", "WalkerRun", 24, 6, custom=True),
        TaskSpec("walker-walk-backwards", "walker", "walk_backwards", "WalkerWalk", 24, 6, custom=True),
    )
}

# the user's own tasks, by name (tdmpc_parity/core/task_registry.py `register_task` fills it; never a built-in name)
REGISTERED: dict[str, TaskSpec] = {}

_NOT_PORTED = "a custom task of the official repository without official results (not ported)"
UNSUPPORTED: dict[str, str] = {
    name: _NOT_PORTED
    for name in (
        "cheetah-stand-front", "cheetah-stand-back", "cheetah-lie-down", "cheetah-legs-up", "cheetah-flip",
        "cheetah-flip-backwards", "walker-arabesque", "walker-lie-down", "walker-legs-up", "walker-headstand",
        "walker-flip", "walker-backflip", "hopper-flip", "hopper-flip-backwards", "reacher-four-easy",
        "reacher-four-hard", "fish-obstacles",
    )
}


def get_task(name: str) -> TaskSpec:
    """Look a task up by its official (or registered) name; an unknown or unsupported name is a ValueError listing
    the known ones."""
    try:
        return TASKS[name] if name in TASKS else REGISTERED[name]
    except KeyError:
        known = ", ".join(sorted([*TASKS, *REGISTERED]))
        if name in UNSUPPORTED:
            raise ValueError(f"task {name!r} is not supported: {UNSUPPORTED[name]}; known tasks: {known}") from None
        close = difflib.get_close_matches(name, [*TASKS, *REGISTERED], n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown task {name!r}; {hint}known tasks: {known} (a task of your own is known once "
                         "its module has run register_task: --task-module FILE on the command line)") from None
