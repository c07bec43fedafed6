"""quadruped-walk / -run for the JAX backend: dm_control's quadruped as a Playground-style MJX env.

MuJoCo Playground has no quadruped, so this env is built here, on dm_control's own model and task (the same
env in the config's `physics=dm_control`, the only physics it has; `jax_impl/dm_control_physics.py` loads it):
- model: `tdmpc_parity/data/dm_control_tasks/quadruped.xml`, dm_control 1.0.50's `quadruped.make_model()` (walls, ball,
  target, terrain and rangefinders removed, as for walk and run), with the floor's size set as the task sets it
  (walk 10 m, run 100 m: a plane collides as an infinite plane, so only rendering sees it). The physics are the
  XML's: 0.005 s steps, 4 per 0.02 s control step, Newton, 100 iterations, pyramidal cones.
- initial state (`Move.initialize_episode`): orientation q = n / |n|, n ~ N(0, I_4); the root at (0, 0, z) with
  z = 0, 0.01, 0.02, ... the first height at which nothing touches (`_find_non_contacting_height`), every other
  coordinate at the model's reset values (qpos0, zero velocities and activations).
- observation (`_common_observations`, in this order): egocentric_state = hinge qpos (16), hinge qvel (16),
  actuator activations (12); torso_velocity = the velocimeter (3); torso_upright = the torso's zz; imu = the
  accelerometer and gyro readings in sensor order (6); force_torque = arcsinh of the toes' force and torque
  sensors in sensor order (24): 78 entries.
- reward: upright · move, upright = tol(zz, (1, inf), 2, 0, linear), move = tol(v_x, (s, inf), s, 0.5, linear)
  with v_x the velocimeter's x and s = 0.5 (walk) or 5 (run).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from ml_collections import config_dict
from mujoco import mjx
from mujoco_playground._src import mjx_env
from mujoco_playground._src import reward as pg_reward
from mujoco_playground._src.dm_control_suite import common

from jax_impl.initial_states import has_contact

XML_NAME = "quadruped.xml"
WALK_SPEED, RUN_SPEED = 0.5, 5.0  # dm_control quadruped._WALK_SPEED, _RUN_SPEED
_TIME_LIMIT = 20  # dm_control's floor size = time limit x speed
HEIGHT_STEP = 0.01  # `_find_non_contacting_height`: 1 cm increments
MAX_HEIGHT_STEPS = 10_000  # ... and a RuntimeError after 10,000 attempts (here: the last height is kept)


def dm_control_xml() -> str:
    """dm_control's quadruped XML for walk and run, as shipped (tdmpc_parity/data/dm_control_tasks/)."""
    return resources.files("tdmpc_parity").joinpath("data", "dm_control_tasks", XML_NAME).read_text()


def default_config() -> config_dict.ConfigDict:
    """dm_control's control step: 0.02 s = 4 physics steps of 0.005 s."""
    return config_dict.create(ctrl_dt=0.02, sim_dt=0.005, episode_length=1000, action_repeat=1, vision=False,
                              impl="jax", naconmax=0, njmax=0)


def _sensor_indices(model: mujoco.MjModel, *types: mujoco.mjtSensor) -> np.ndarray:
    """sensordata indices of the sensors of these types, in sensor order (dm_control's `_get_sensor_names`)."""
    ids = [i for i in range(model.nsensor) if model.sensor_type[i] in [int(t) for t in types]]
    return np.concatenate([np.arange(model.sensor_adr[i], model.sensor_adr[i] + model.sensor_dim[i]) for i in ids])


class Quadruped(mjx_env.MjxEnv):
    """dm_control's quadruped `Move` task (module docstring), with Playground's env interface."""

    def __init__(self, desired_speed: float, config: config_dict.ConfigDict | None = None,
                 config_overrides: dict[str, Any] | None = None):
        super().__init__(config or default_config(), config_overrides)
        self._desired_speed = desired_speed
        self._xml_path = XML_NAME
        self._model_assets = common.get_assets()
        spec = mujoco.MjSpec.from_string(dm_control_xml(), self._model_assets)
        floor = _TIME_LIMIT * desired_speed
        spec.geom("floor").size = [floor, floor, 0.5]
        self._mj_model = spec.compile()
        self._mjx_model = mjx.put_model(self._mj_model, impl=self._config.impl)
        m = self._mj_model
        hinges = [j for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
        self._hinge_qpos = np.asarray(m.jnt_qposadr[hinges])
        self._hinge_qvel = np.asarray(m.jnt_dofadr[hinges])
        self._torso_id = m.body("torso").id
        self._velocimeter = _sensor_indices(m, mujoco.mjtSensor.mjSENS_VELOCIMETER)
        self._imu = _sensor_indices(m, mujoco.mjtSensor.mjSENS_GYRO, mujoco.mjtSensor.mjSENS_ACCELEROMETER)
        self._force_torque = _sensor_indices(m, mujoco.mjtSensor.mjSENS_FORCE, mujoco.mjtSensor.mjSENS_TORQUE)
        self._root_qpos = int(m.jnt_qposadr[m.joint("root").id])

    def reset(self, rng: jax.Array) -> mjx_env.State:
        """A random orientation at the lowest 1 cm height where nothing touches; forwarded."""
        quat = jax.random.normal(rng, (4,))
        quat = quat / jnp.linalg.norm(quat)
        data = mjx_env.make_data(self.mj_model, impl=self.mjx_model.impl.value, naconmax=self._config.naconmax,
                                 njmax=self._config.njmax)
        qpos = jnp.asarray(self.mj_model.qpos0, data.qpos.dtype).at[self._root_qpos + 3:self._root_qpos + 7].set(quat)

        def at(k: jax.Array) -> mjx.Data:
            z = (k * HEIGHT_STEP).astype(qpos.dtype)
            return mjx.forward(self.mjx_model, data.replace(qpos=qpos.at[self._root_qpos:self._root_qpos + 3].set(
                jnp.stack([jnp.zeros_like(z), jnp.zeros_like(z), z]))))

        def probe(k: jax.Array) -> tuple[jax.Array, mjx.Data, jax.Array]:
            d = at(k)
            return k, d, has_contact(d)

        _, data, _ = jax.lax.while_loop(lambda c: c[2] & (c[0] < MAX_HEIGHT_STEPS - 1), lambda c: probe(c[0] + 1),
                                        probe(jnp.zeros((), jnp.int32)))
        zero = jnp.zeros(())
        return mjx_env.State(data, self._get_obs(data, {}), zero, zero, {}, {"rng": rng})

    def step(self, state: mjx_env.State, action: jax.Array) -> mjx_env.State:
        data = mjx_env.step(self.mjx_model, state.data, action, self.n_substeps)
        reward = self._get_reward(data, action, state.info, state.metrics)
        done = (jnp.isnan(data.qpos).any() | jnp.isnan(data.qvel).any()).astype(float)
        return mjx_env.State(data, self._get_obs(data, state.info), reward, done, state.metrics, state.info)

    def _get_obs(self, data: mjx.Data, info: dict[str, Any]) -> jax.Array:
        del info
        return jnp.concatenate([
            data.qpos[self._hinge_qpos], data.qvel[self._hinge_qvel], data.act,
            data.sensordata[self._velocimeter], data.xmat[self._torso_id, 2, 2][None],
            data.sensordata[self._imu], jnp.arcsinh(data.sensordata[self._force_torque]),
        ])

    def _get_reward(self, data: mjx.Data, action: jax.Array, info: dict[str, Any],
                    metrics: dict[str, Any]) -> jax.Array:
        del action, info, metrics
        upright = pg_reward.tolerance(data.xmat[self._torso_id, 2, 2], bounds=(1.0, float("inf")),
                                      sigmoid="linear", margin=2.0, value_at_margin=0.0)
        move = pg_reward.tolerance(data.sensordata[self._velocimeter][0], bounds=(self._desired_speed, float("inf")),
                                   margin=self._desired_speed, value_at_margin=0.5, sigmoid="linear")
        return upright * move

    @property
    def xml_path(self) -> str:
        return self._xml_path

    @property
    def action_size(self) -> int:
        return self.mjx_model.nu

    @property
    def mj_model(self) -> mujoco.MjModel:
        return self._mj_model

    @property
    def mjx_model(self) -> mjx.Model:
        return self._mjx_model


MJX_ENVS: dict[str, Callable[..., Quadruped]] = {
    "QuadrupedWalk": lambda **kw: Quadruped(WALK_SPEED, **kw),
    "QuadrupedRun": lambda **kw: Quadruped(RUN_SPEED, **kw),
}
