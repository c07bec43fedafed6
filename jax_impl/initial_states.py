"""dm_control's initial-state distributions for the MJX envs where MuJoCo Playground's `reset` draws another one.

Playground 0.2.0's `reset` (read against dm_control 1.0.50's `Task.initialize_episode`; tests:
parity/test_initial_states.py) starts these tasks elsewhere than dm_control, which the official code runs:
- BallInCup: always the model's default pose (the ball hanging below the cup); dm_control draws ball x ~ U(-.2, .2),
  z ~ U(.2, .5), redrawn until nothing touches.
- Humanoid*: always the default upright pose; dm_control draws a random orientation (a uniform-[0, 1) 4-vector,
  normalised) and every hinge uniformly in its range, redrawn until nothing touches.
- Finger*: the spinner's angle reuses the key of the finger's proximal joint (hinge = proximal · π / 1.92 exactly)
  and interpenetrating starts are kept; dm_control draws the three joints independently, redrawn (at most 1000
  times) until nothing touches.
- Cartpole*: the cart's velocity reuses the key of the slider (swing-up: equal to it) or of the pole angle
  (balance); dm_control draws them independently.
- PendulumSwingup: the pole angle ~ U(0, π); dm_control U(-π, π).
- FishSwim: the fish's root position (0, 0, 0); dm_control keeps the model's (0, 0, 0.1).
Every other Playground DMC env draws dm_control's distribution (cheetah: the same 200 settling steps, with
Playground's physics). A `Sampler` here takes the data of Playground's reset (its goals/targets kept) and a key and
returns the data with dm_control's initial joint state, not yet forwarded. `TASK_INITIAL_STATES`: the official
repository's cup-spin, which starts as its own task code says (torch_ref/custom_tasks.py).

"Nothing touches" is dm_control's `physics.data.ncon == 0` after `mj_forward`: no contact with
dist < includemargin (`has_contact`). The redraws run in a `lax.while_loop` (at most `MAX_DRAWS`; dm_control's
finger raises after 1000, its humanoid and ball-in-cup loop without a bound).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

from jax_impl.custom_tasks import cup_in_target

MAX_DRAWS = 1000

Sampler = Callable[[Any, mjx.Data, jax.Array], mjx.Data]  # (Playground env, reset data, key) -> data


def has_contact(data: mjx.Data) -> jax.Array:
    """MuJoCo's `ncon > 0`: some contact closer than its include margin."""
    contact = data._impl.contact  # MJX's JAX implementation: every candidate pair, with its distance
    return jnp.any(contact.dist < contact.includemargin)


def randomize_joints(mj_model: mujoco.MjModel, qpos: jax.Array, key: jax.Array) -> jax.Array:
    """dm_control's `randomize_limited_and_rotational_joints`: limited hinges and slides ~ U(range), unlimited
    hinges ~ U(-π, π), free joints' quaternion = a U[0, 1)^4 vector normalised (position kept); unlimited slides
    kept. (No DMC model has ball joints.)"""
    hinge, slide, free = (int(t) for t in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE,
                                           mujoco.mjtJoint.mjJNT_FREE))
    keys = jax.random.split(key, mj_model.njnt)
    for j in range(mj_model.njnt):
        adr, kind, limited = int(mj_model.jnt_qposadr[j]), int(mj_model.jnt_type[j]), bool(mj_model.jnt_limited[j])
        lo, hi = (float(x) for x in mj_model.jnt_range[j])
        if kind in (hinge, slide) and limited:
            qpos = qpos.at[adr].set(jax.random.uniform(keys[j], (), minval=lo, maxval=hi))
        elif kind == hinge:
            qpos = qpos.at[adr].set(jax.random.uniform(keys[j], (), minval=-jnp.pi, maxval=jnp.pi))
        elif kind == free:
            quat = jax.random.uniform(keys[j], (4,))
            qpos = qpos.at[adr + 3:adr + 7].set(quat / jnp.linalg.norm(quat))
        elif kind != slide:  # parity: not compared (ball joints: no DMC model has one)
            raise NotImplementedError("ball joints: no DMC task has one")
    return qpos


def redraw_until_free(pg_env: Any, data: mjx.Data, key: jax.Array,
                      draw: Callable[[jax.Array, jax.Array], jax.Array],
                      accept: Callable[[mjx.Data], jax.Array] = lambda d: ~has_contact(d)) -> mjx.Data:
    """qpos = draw(qpos, key) until `accept(forward(data))` (nothing touches), at most MAX_DRAWS draws."""
    model = pg_env.mjx_model

    def one(carry: tuple[jax.Array, mjx.Data, jax.Array, jax.Array]):
        key, d, n, _ = carry
        key, sub = jax.random.split(key)
        d = mjx.forward(model, d.replace(qpos=draw(d.qpos, sub)))
        return key, d, n + 1, accept(d)

    first = one((key, data, jnp.zeros((), jnp.int32), jnp.zeros((), bool)))
    _, d, _, _ = jax.lax.while_loop(lambda c: ~c[3] & (c[2] < MAX_DRAWS), one, first)
    return d


def _qpos_adr(pg_env: Any, joint: str) -> int:
    return int(pg_env.mj_model.jnt_qposadr[pg_env.mj_model.joint(joint).id])


def cartpole_balance(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """slider ~ U(-.1, .1), pole angle ~ U(-.034, .034), qvel ~ 0.01 N(0, I), independent."""
    k1, k2, k3 = jax.random.split(key, 3)
    nv = pg_env.mj_model.nv
    qpos = data.qpos.at[0].set(jax.random.uniform(k1, (), minval=-0.1, maxval=0.1))
    qpos = qpos.at[1:].set(jax.random.uniform(k2, (nv - 1,), minval=-0.034, maxval=0.034))
    return data.replace(qpos=qpos, qvel=0.01 * jax.random.normal(k3, (nv,)))


def cartpole_swingup(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """slider ~ 0.01 N, pole angle ~ π + 0.01 N, qvel ~ 0.01 N(0, I), independent (one pole)."""
    k1, k2, k3 = jax.random.split(key, 3)
    nv = pg_env.mj_model.nv
    qpos = data.qpos.at[0].set(0.01 * jax.random.normal(k1, ()))
    qpos = qpos.at[1].set(jnp.pi + 0.01 * jax.random.normal(k2, ()))
    return data.replace(qpos=qpos, qvel=0.01 * jax.random.normal(k3, (nv,)))


def pendulum(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """hinge ~ U(-π, π)."""
    adr = _qpos_adr(pg_env, "hinge")
    return data.replace(qpos=data.qpos.at[adr].set(jax.random.uniform(key, (), minval=-jnp.pi, maxval=jnp.pi)))


def fish(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """Playground's draw with the root at the model's position (qpos0[:3]) instead of the origin."""
    del key
    return data.replace(qpos=data.qpos.at[:3].set(jnp.asarray(pg_env.mj_model.qpos0[:3], data.qpos.dtype)))


def random_joints_without_contact(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """Finger, humanoid: `randomize_joints` redrawn until nothing touches."""
    model = pg_env.mj_model
    return redraw_until_free(pg_env, data, key, lambda qpos, k: randomize_joints(model, qpos, k))


def _ball_position(pg_env: Any) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """qpos with ball x ~ U(-.2, .2), z ~ U(.2, .5)."""
    ax, az = _qpos_adr(pg_env, "ball_x"), _qpos_adr(pg_env, "ball_z")

    def draw(qpos: jax.Array, k: jax.Array) -> jax.Array:
        kx, kz = jax.random.split(k)
        qpos = qpos.at[ax].set(jax.random.uniform(kx, (), minval=-0.2, maxval=0.2))
        return qpos.at[az].set(jax.random.uniform(kz, (), minval=0.2, maxval=0.5))

    return draw


def ball_in_cup(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """ball x ~ U(-.2, .2), z ~ U(.2, .5), redrawn until nothing touches."""
    return redraw_until_free(pg_env, data, key, _ball_position(pg_env))


def cup_spin(pg_env: Any, data: mjx.Data, key: jax.Array) -> mjx.Data:
    """The official cup-spin start: as ball_in_cup's, redrawn until the ball also lies in the cup, unless a first
    U(0, 1) < 0.1 lets it start anywhere."""
    k_anywhere, k = jax.random.split(key)
    anywhere = jax.random.uniform(k_anywhere, ()) < 0.1

    def accept(d: mjx.Data) -> jax.Array:
        return ~has_contact(d) & (anywhere | (cup_in_target(pg_env, d) > 0))

    return redraw_until_free(pg_env, data, k, _ball_position(pg_env), accept)


INITIAL_STATES: dict[str, Sampler] = {
    "BallInCup": ball_in_cup,
    "CartpoleBalance": cartpole_balance, "CartpoleBalanceSparse": cartpole_balance,
    "CartpoleSwingup": cartpole_swingup, "CartpoleSwingupSparse": cartpole_swingup,
    "FingerSpin": random_joints_without_contact, "FingerTurnEasy": random_joints_without_contact,
    "FingerTurnHard": random_joints_without_contact,
    "FishSwim": fish,
    "HumanoidRun": random_joints_without_contact, "HumanoidStand": random_joints_without_contact,
    "HumanoidWalk": random_joints_without_contact,
    "PendulumSwingup": pendulum,
}
TASK_INITIAL_STATES: dict[str, Sampler] = {"cup-spin": cup_spin}  # a custom task's own start (official code)
SAME_AS_DM_CONTROL = ("AcrobotSwingup", "AcrobotSwingupSparse", "CheetahRun", "HopperHop", "HopperStand",
                      "PointMass", "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand",
                      "WalkerWalk", "QuadrupedRun", "QuadrupedWalk", "ReacherThreeEasy", "ReacherThreeHard")
# (the last four: dm_control's draw, written in their own envs, jax_impl/quadruped.py and jax_impl/reacher_three.py)
