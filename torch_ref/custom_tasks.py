"""The official repository's custom DMC tasks that have official results, registered in dm_control's suite.

Source: nicklashansen/tdmpc2 @ e9f5932, `tdmpc2/envs/tasks/*.py`, whose `envs/dmcontrol.py` imports them so
that `suite.load(domain, task)` builds them. Importing this module does the same for the 11 tasks of the
official results (tag 'custom', `suite.ALL_TASKS` extended as the official code extends it). The models are
the official XMLs, shipped unchanged in `tdmpc_parity/data/official_tasks/` (MIT; its README says how they differ
from dm_control's). Initial states, observations, time limits and control steps are those of the dm_control
task each one extends; only what is listed here differs.

Notation: tol(x, (lo, hi), m, v, linear) is dm_control's `rewards.tolerance` (1 inside [lo, hi]; outside, a
sigmoid of the distance that equals v at distance m: gaussian by default with v = 0.1, or linear). v_x is the
torso subtree's x velocity (sensor `torso_subtreelinvel`), z(b) the height of body b's frame.
- cheetah-run-backwards: tol(v_x, (-inf, -8), 8, 0, linear).
- cheetah-run-front (lifted foot f = bfoot) / cheetah-run-back (f = ffoot), s = 6:
  up = (3 tol(z(f), (1.2, inf), 0.6) + 2 tol(z(torso), (1.2, inf), 0.6)) / 5,
  r = up (5 tol(v_x, (s, inf), s, 0, linear) + 1) / 6.
- cheetah-jump, s = 0.5: stand(f) = (5 tol((z(torso) + z(f)) / 2, (1.2, inf), 0.6)
  + tol(v_x, (-s, s), s, 0, linear)) / 6 and r = (stand(bfoot) + stand(ffoot)) / 2.
- walker-walk-backwards (s = 1) / walker-run-backwards (s = 8): stand = (3 tol(z(torso), (1.2, inf), 0.6)
  + (1 + torso_zz) / 2) / 4, r = stand (5 tol(v_x, (-inf, -s), s/2, 0.5, linear) + 1) / 6.
- hopper-hop-backwards: r = tol(h, (0.6, 2)) tol(v_x, (-inf, -1), 0.5, 0.5, linear), h = the torso's centre
  of mass height above the foot's.
- pendulum-spin: r = tol(|qvel_hinge|, (9, inf), 4.5, 0.5, linear).
- cup-spin: d = |target - ball| in (x, z), u = |(qvel_ball_x, qvel_ball_z)|, r = (1 - in_target)
  (tol(d, (0.5, inf), 0.25, 0.5, linear) + 2 tol(u, (6, inf), 3, 0.5, linear)) / 3; the ball starts at
  x ~ U(-0.2, 0.2), z ~ U(0.2, 0.5), redrawn until nothing touches and (unless a 10 % draw at the episode's
  start says otherwise) it lies in the cup; observation: position, velocity.
- reacher-three-easy (target radius 0.05) / -three-hard (0.015): dm_control's reacher task (its reward, its
  random joints and target) on the official three-link arm.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "disable")  # before dm_control picks a GL backend (as torch_ref/env.py)

import collections  # noqa: E402
from collections.abc import Callable  # noqa: E402
from importlib import resources  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from dm_control import suite  # noqa: E402
from dm_control.rl import control  # noqa: E402
from dm_control.suite import ball_in_cup, base, cheetah, common, hopper, pendulum, reacher, walker  # noqa: E402
from dm_control.utils import rewards  # noqa: E402

INF = float("inf")
_CHEETAH_UP_HEIGHT = 1.2  # official _CHEETAH_JUMP_HEIGHT
_CHEETAH_RUN_SPEED = 10.0  # dm_control cheetah._RUN_SPEED
_WALKER_STAND_HEIGHT = 1.2  # dm_control walker._STAND_HEIGHT
_HOPPER_STAND_HEIGHT, _HOPPER_HOP_SPEED = 0.6, 2.0  # dm_control hopper._STAND_HEIGHT, _HOP_SPEED
_PENDULUM_SPIN_SPEED = 9.0
_CUP_SPIN_DISTANCE, _CUP_SPIN_SPEED = 0.5, 6.0
_REACHER_BIG_TARGET, _REACHER_SMALL_TARGET = 0.05, 0.015


def model_xml(name: str) -> str:
    """An official task XML shipped in tdmpc_parity/data/official_tasks/ (e.g. 'cheetah.xml'), as text."""
    return resources.files("tdmpc_parity").joinpath("data", "official_tasks", name).read_text()


def _linear(x: float, bounds: tuple[float, float], margin: float, value_at_margin: float) -> float:
    return float(rewards.tolerance(x, bounds=bounds, margin=margin, value_at_margin=value_at_margin,
                                   sigmoid="linear"))


# --- rewards: pure functions of a dm_control Physics ---------------------------------------------------------


def cheetah_run_backwards_reward(physics: cheetah.Physics, speed: float) -> float:
    """tol(v_x, (-inf, -s), s, 0, linear)."""
    return _linear(physics.speed(), (-INF, -speed), speed, 0.0)


def cheetah_run_one_foot_reward(physics: cheetah.Physics, foot: str, speed: float) -> float:
    """Torso and the lifted `foot` up, running forward: up (5 tol(v_x, (s, inf), s, 0, linear) + 1) / 6."""
    torso_up = rewards.tolerance(physics.named.data.xpos["torso", "z"], bounds=(_CHEETAH_UP_HEIGHT, INF),
                                 margin=_CHEETAH_UP_HEIGHT / 2)
    foot_up = rewards.tolerance(physics.named.data.xpos[foot, "z"], bounds=(_CHEETAH_UP_HEIGHT, INF),
                                margin=_CHEETAH_UP_HEIGHT / 2)
    up = (3 * foot_up + 2 * torso_up) / 5
    return float(up * (5 * _linear(physics.speed(), (speed, INF), speed, 0.0) + 1) / 6)


def cheetah_stand_one_foot_reward(physics: cheetah.Physics, foot: str, speed: float) -> float:
    """(5 tol((z(torso) + z(foot)) / 2, (1.2, inf), 0.6) + tol(v_x, (-s, s), s, 0, linear)) / 6."""
    height = (physics.named.data.xpos["torso", "z"] + physics.named.data.xpos[foot, "z"]) / 2
    up = rewards.tolerance(height, bounds=(_CHEETAH_UP_HEIGHT, INF), margin=_CHEETAH_UP_HEIGHT / 2)
    return float((5 * up + _linear(physics.speed(), (-speed, speed), speed, 0.0)) / 6)


def cheetah_jump_reward(physics: cheetah.Physics, speed: float) -> float:
    """Mean of standing on the back foot and standing on the front foot."""
    return (cheetah_stand_one_foot_reward(physics, "bfoot", speed)
            + cheetah_stand_one_foot_reward(physics, "ffoot", speed)) / 2


def walker_backwards_reward(physics: walker.Physics, speed: float) -> float:
    """stand (5 tol(v_x, (-inf, -s), s/2, 0.5, linear) + 1) / 6, stand as in dm_control's walker."""
    standing = rewards.tolerance(physics.torso_height(), bounds=(_WALKER_STAND_HEIGHT, INF),
                                 margin=_WALKER_STAND_HEIGHT / 2)
    stand = (3 * standing + (1 + physics.torso_upright()) / 2) / 4
    return float(stand * (5 * _linear(physics.horizontal_velocity(), (-INF, -speed), speed / 2, 0.5) + 1) / 6)


def hopper_hop_backwards_reward(physics: hopper.Physics) -> float:
    """tol(h, (0.6, 2)) tol(v_x, (-inf, -1), 0.5, 0.5, linear)."""
    standing = rewards.tolerance(physics.height(), (_HOPPER_STAND_HEIGHT, 2))
    hopping = _linear(physics.speed(), (-INF, -_HOPPER_HOP_SPEED / 2), _HOPPER_HOP_SPEED / 4, 0.5)
    return float(standing * hopping)


def pendulum_spin_reward(physics: pendulum.Physics) -> float:
    """tol(|ω|, (9, inf), 4.5, 0.5, linear)."""
    return _linear(float(np.linalg.norm(physics.angular_velocity())), (_PENDULUM_SPIN_SPEED, INF),
                   _PENDULUM_SPIN_SPEED / 2, 0.5)


def cup_spin_reward(physics: ball_in_cup.Physics) -> float:
    """(1 - in_target) (tol(d, (0.5, inf), 0.25, 0.5, linear) + 2 tol(u, (6, inf), 3, 0.5, linear)) / 3."""
    distance = float(np.linalg.norm(physics.ball_to_target()))
    speed = float(np.linalg.norm(np.abs(physics.named.data.qvel[["ball_x", "ball_z"]])))
    far = _linear(distance, (_CUP_SPIN_DISTANCE, INF), _CUP_SPIN_DISTANCE / 2, 0.5)
    fast = _linear(speed, (_CUP_SPIN_SPEED, INF), _CUP_SPIN_SPEED / 2, 0.5)
    return (1.0 - physics.in_target()) * (far + 2 * fast) / 3


# --- tasks ---------------------------------------------------------------------------------------------------


class CheetahGoal(cheetah.Cheetah):
    """dm_control's cheetah with a reward `reward(physics) -> float`."""

    def __init__(self, reward: Callable[[Any], float], random: Any = None):
        super().__init__(random=random)
        self._reward = reward

    def get_reward(self, physics: Any) -> float:
        return self._reward(physics)


class BackwardsWalker(walker.PlanarWalker):
    """dm_control's planar walker, rewarded for moving backwards at `move_speed`."""

    def get_reward(self, physics: Any) -> float:
        return walker_backwards_reward(physics, self._move_speed)


class BackwardsHopper(hopper.Hopper):
    """dm_control's hopper, rewarded for hopping backwards."""

    def __init__(self, random: Any = None):
        super().__init__(hopping=None, random=random)

    def get_reward(self, physics: Any) -> float:
        return hopper_hop_backwards_reward(physics)


class PendulumSpin(pendulum.SwingUp):
    """dm_control's pendulum swing-up start, rewarded for spinning fast."""

    def get_reward(self, physics: Any) -> float:
        return pendulum_spin_reward(physics)


class CupSpin(ball_in_cup.BallInCup):
    """Ball-in-cup: the ball starts (mostly) in the cup and is rewarded for swinging far and fast outside it."""

    def initialize_episode(self, physics: Any) -> None:
        starts_outside = self.random.uniform() < 0.1
        while True:
            physics.named.data.qpos["ball_x"] = self.random.uniform(-0.2, 0.2)
            physics.named.data.qpos["ball_z"] = self.random.uniform(0.2, 0.5)
            physics.after_reset()
            if physics.data.ncon == 0 and (starts_outside or bool(physics.in_target())):
                break
        base.Task.initialize_episode(self, physics)

    def get_observation(self, physics: Any) -> collections.OrderedDict:
        return collections.OrderedDict(position=physics.position(), velocity=physics.velocity())

    def get_reward(self, physics: Any) -> float:
        return cup_spin_reward(physics)


def _environment(physics: Any, task: Any, time_limit: float, control_timestep: float | None,
                 environment_kwargs: dict | None) -> control.Environment:
    kwargs = dict(environment_kwargs or {})
    if control_timestep is not None:
        kwargs["control_timestep"] = control_timestep
    return control.Environment(physics, task, time_limit=time_limit, **kwargs)


def _cheetah(reward: Callable[[Any], float]) -> Callable[..., control.Environment]:
    def build(time_limit: float = 10, random: Any = None, environment_kwargs: dict | None = None):
        physics = cheetah.Physics.from_xml_string(model_xml("cheetah.xml"), common.ASSETS)
        return _environment(physics, CheetahGoal(reward, random=random), time_limit, None, environment_kwargs)
    return build


def _walker(speed: float) -> Callable[..., control.Environment]:
    def build(time_limit: float = 25, random: Any = None, environment_kwargs: dict | None = None):
        physics = walker.Physics.from_xml_string(model_xml("walker.xml"), common.ASSETS)
        return _environment(physics, BackwardsWalker(move_speed=speed, random=random), time_limit, 0.025,
                            environment_kwargs)
    return build


def hop_backwards(time_limit: float = 20, random: Any = None, environment_kwargs: dict | None = None):
    physics = hopper.Physics.from_xml_string(model_xml("hopper.xml"), common.ASSETS)
    return _environment(physics, BackwardsHopper(random=random), time_limit, 0.02, environment_kwargs)


def spin_pendulum(time_limit: float = 20, random: Any = None, environment_kwargs: dict | None = None):
    physics = pendulum.Physics.from_xml_string(model_xml("pendulum.xml"), common.ASSETS)
    return _environment(physics, PendulumSpin(random=random), time_limit, None, environment_kwargs)


def spin_cup(time_limit: float = 20, random: Any = None, environment_kwargs: dict | None = None
             ) -> control.Environment:
    physics = ball_in_cup.Physics.from_xml_string(model_xml("ball_in_cup.xml"), common.ASSETS)
    return _environment(physics, CupSpin(random=random), time_limit, 0.02, environment_kwargs)


def _reacher_three(target_size: float) -> Callable[..., control.Environment]:
    def build(time_limit: float = 20, random: Any = None,
              environment_kwargs: dict | None = None) -> control.Environment:
        physics = reacher.Physics.from_xml_string(model_xml("reacher_three_links.xml"), common.ASSETS)
        return _environment(physics, reacher.Reacher(target_size=target_size, random=random), time_limit, None,
                            environment_kwargs)
    return build


# (dm_control domain module, task name, builder): the official registration of each of the 11 tasks
CUSTOM_TASKS: tuple[tuple[Any, str, Callable[..., control.Environment]], ...] = (
    (cheetah, "run_backwards", _cheetah(lambda p: cheetah_run_backwards_reward(p, 0.8 * _CHEETAH_RUN_SPEED))),
    (cheetah, "run_front", _cheetah(lambda p: cheetah_run_one_foot_reward(p, "bfoot", 0.6 * _CHEETAH_RUN_SPEED))),
    (cheetah, "run_back", _cheetah(lambda p: cheetah_run_one_foot_reward(p, "ffoot", 0.6 * _CHEETAH_RUN_SPEED))),
    (cheetah, "jump", _cheetah(lambda p: cheetah_jump_reward(p, 0.5))),
    (walker, "walk_backwards", _walker(1.0)),
    (walker, "run_backwards", _walker(8.0)),
    (hopper, "hop_backwards", hop_backwards),
    (pendulum, "spin", spin_pendulum),
    (ball_in_cup, "spin", spin_cup),
    (reacher, "three_easy", _reacher_three(_REACHER_BIG_TARGET)),
    (reacher, "three_hard", _reacher_three(_REACHER_SMALL_TARGET)),
)


def register() -> None:
    """Add the custom tasks to dm_control's suite (tag 'custom'), as the official `envs/dmcontrol.py` does."""
    for domain, name, build in CUSTOM_TASKS:
        build.__name__ = name  # TaggedTasks registers a function under its __name__
        domain.SUITE.add("custom")(build)
    suite.ALL_TASKS = suite.ALL_TASKS + tuple(t for t in suite._get_tasks("custom") if t not in suite.ALL_TASKS)
    suite.TASKS_BY_DOMAIN = suite._get_tasks_by_domain(suite.ALL_TASKS)


register()
