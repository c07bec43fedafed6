"""The official repository's custom tasks that the JAX backend runs: their rewards on a Playground env's data.

Each of these 9 tasks (`tdmpc_parity.core.tasks`, `custom=True` with a `playground` env) changes the reward of a
dm_control task: the JAX env takes the Playground env's model and observation and calls
`CUSTOM_REWARDS[task](pg_env, data)` instead of the env's own reward (`jax_impl/env.py`); cup-spin also starts
from its own initial state (`jax_impl/initial_states.py`). The equations are
those of `torch_ref/custom_tasks.py` (nicklashansen/tdmpc2 @ e9f5932, `tdmpc2/envs/tasks/`), written with
Playground's `reward.tolerance` (dm_control's `rewards.tolerance` in JAX); `parity/test_env_parity.py` checks
them against the torch reference on the same states. v_x is the torso subtree's x velocity (sensor
`torso_subtreelinvel`), z(b) the height of body b's frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from mujoco import mjx
from mujoco_playground._src import mjx_env
from mujoco_playground._src import reward as pg_reward

INF = float("inf")
_CHEETAH_UP_HEIGHT = 1.2
_CHEETAH_RUN_SPEED = 10.0
_WALKER_STAND_HEIGHT = 1.2
_HOPPER_STAND_HEIGHT, _HOPPER_HOP_SPEED = 0.6, 2.0
_PENDULUM_SPIN_SPEED = 9.0
_CUP_SPIN_DISTANCE, _CUP_SPIN_SPEED = 0.5, 6.0

RewardFn = Callable[[Any, mjx.Data], jax.Array]  # (Playground env, data) -> reward


def _linear(x: jax.Array, bounds: tuple[float, float], margin: float, value_at_margin: float) -> jax.Array:
    return pg_reward.tolerance(x, bounds=bounds, margin=margin, value_at_margin=value_at_margin, sigmoid="linear")


def _torso_vx(pg_env: Any, data: mjx.Data) -> jax.Array:
    return mjx_env.get_sensor_data(pg_env.mj_model, data, "torso_subtreelinvel")[0]


def _z(pg_env: Any, data: mjx.Data, body: str) -> jax.Array:
    return data.xpos[pg_env.mj_model.body(body).id, 2]


def cheetah_run_backwards_reward(pg_env: Any, data: mjx.Data, speed: float) -> jax.Array:
    """tol(v_x, (-inf, -s), s, 0, linear)."""
    return _linear(_torso_vx(pg_env, data), (-INF, -speed), speed, 0.0)


def cheetah_run_one_foot_reward(pg_env: Any, data: mjx.Data, foot: str, speed: float) -> jax.Array:
    """up (5 tol(v_x, (s, inf), s, 0, linear) + 1) / 6,
    up = (3 tol(z(foot), (1.2, inf), 0.6) + 2 tol(z(torso), (1.2, inf), 0.6)) / 5."""
    torso_up = pg_reward.tolerance(_z(pg_env, data, "torso"), bounds=(_CHEETAH_UP_HEIGHT, INF),
                                   margin=_CHEETAH_UP_HEIGHT / 2)
    foot_up = pg_reward.tolerance(_z(pg_env, data, foot), bounds=(_CHEETAH_UP_HEIGHT, INF),
                                  margin=_CHEETAH_UP_HEIGHT / 2)
    up = (3 * foot_up + 2 * torso_up) / 5
    return up * (5 * _linear(_torso_vx(pg_env, data), (speed, INF), speed, 0.0) + 1) / 6


def cheetah_stand_one_foot_reward(pg_env: Any, data: mjx.Data, foot: str, speed: float) -> jax.Array:
    """(5 tol((z(torso) + z(foot)) / 2, (1.2, inf), 0.6) + tol(v_x, (-s, s), s, 0, linear)) / 6."""
    height = (_z(pg_env, data, "torso") + _z(pg_env, data, foot)) / 2
    up = pg_reward.tolerance(height, bounds=(_CHEETAH_UP_HEIGHT, INF), margin=_CHEETAH_UP_HEIGHT / 2)
    return (5 * up + _linear(_torso_vx(pg_env, data), (-speed, speed), speed, 0.0)) / 6


def cheetah_jump_reward(pg_env: Any, data: mjx.Data, speed: float) -> jax.Array:
    """Mean of standing on the back foot and standing on the front foot."""
    return (cheetah_stand_one_foot_reward(pg_env, data, "bfoot", speed)
            + cheetah_stand_one_foot_reward(pg_env, data, "ffoot", speed)) / 2


def walker_backwards_reward(pg_env: Any, data: mjx.Data, speed: float) -> jax.Array:
    """stand (5 tol(v_x, (-inf, -s), s/2, 0.5, linear) + 1) / 6,
    stand = (3 tol(z(torso), (1.2, inf), 0.6) + (1 + torso_zz) / 2) / 4."""
    torso = pg_env.mj_model.body("torso").id
    standing = pg_reward.tolerance(data.xpos[torso, 2], bounds=(_WALKER_STAND_HEIGHT, INF),
                                   margin=_WALKER_STAND_HEIGHT / 2)
    stand = (3 * standing + (1 + data.xmat[torso, 2, 2]) / 2) / 4
    return stand * (5 * _linear(_torso_vx(pg_env, data), (-INF, -speed), speed / 2, 0.5) + 1) / 6


def hopper_hop_backwards_reward(pg_env: Any, data: mjx.Data) -> jax.Array:
    """tol(h, (0.6, 2)) tol(v_x, (-inf, -1), 0.5, 0.5, linear), h = torso minus foot centre-of-mass height."""
    standing = pg_reward.tolerance(pg_env._height(data), (_HOPPER_STAND_HEIGHT, 2))
    hopping = _linear(pg_env._speed(data), (-INF, -_HOPPER_HOP_SPEED / 2), _HOPPER_HOP_SPEED / 4, 0.5)
    return standing * hopping


def pendulum_spin_reward(pg_env: Any, data: mjx.Data) -> jax.Array:
    """tol(|ω|, (9, inf), 4.5, 0.5, linear)."""
    return _linear(jnp.abs(pg_env._angular_velocity(data)), (_PENDULUM_SPIN_SPEED, INF), _PENDULUM_SPIN_SPEED / 2,
                   0.5)


def _ball_to_target(pg_env: Any, data: mjx.Data) -> jax.Array:
    """(x, z) from the ball to the cup's target site."""
    return data.site_xpos[pg_env._target_site_id, jnp.array([0, 2])] - data.xpos[pg_env._ball_body_id,
                                                                                jnp.array([0, 2])]


def cup_in_target(pg_env: Any, data: mjx.Data) -> jax.Array:
    """1 when the ball lies inside the target box (|ball - target| < target size - ball radius), else 0."""
    inside = jnp.abs(_ball_to_target(pg_env, data)) < pg_env._target_size - pg_env._ball_size
    return jnp.all(inside).astype(jnp.float32)


def cup_spin_reward(pg_env: Any, data: mjx.Data) -> jax.Array:
    """(1 - in_target) (tol(d, (0.5, inf), 0.25, 0.5, linear) + 2 tol(u, (6, inf), 3, 0.5, linear)) / 3."""
    model = pg_env.mj_model
    dofs = jnp.array([model.jnt_dofadr[model.joint(j).id] for j in ("ball_x", "ball_z")])
    far = _linear(jnp.linalg.norm(_ball_to_target(pg_env, data)), (_CUP_SPIN_DISTANCE, INF), _CUP_SPIN_DISTANCE / 2,
                  0.5)
    fast = _linear(jnp.linalg.norm(jnp.abs(data.qvel[dofs])), (_CUP_SPIN_SPEED, INF), _CUP_SPIN_SPEED / 2, 0.5)
    return (1.0 - cup_in_target(pg_env, data)) * (far + 2 * fast) / 3


CUSTOM_REWARDS: dict[str, RewardFn] = {
    "cheetah-run-backwards": lambda e, d: cheetah_run_backwards_reward(e, d, 0.8 * _CHEETAH_RUN_SPEED),
    "cheetah-run-front": lambda e, d: cheetah_run_one_foot_reward(e, d, "bfoot", 0.6 * _CHEETAH_RUN_SPEED),
    "cheetah-run-back": lambda e, d: cheetah_run_one_foot_reward(e, d, "ffoot", 0.6 * _CHEETAH_RUN_SPEED),
    "cheetah-jump": lambda e, d: cheetah_jump_reward(e, d, 0.5),
    "walker-walk-backwards": lambda e, d: walker_backwards_reward(e, d, 1.0),
    "walker-run-backwards": lambda e, d: walker_backwards_reward(e, d, 8.0),
    "hopper-hop-backwards": hopper_hop_backwards_reward,
    "pendulum-spin": pendulum_spin_reward,
    "cup-spin": cup_spin_reward,
}
