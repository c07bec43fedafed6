"""reacher-three-easy / -hard for the JAX backend: the official three-link reacher as a Playground-style MJX env.

MuJoCo Playground has no three-link reacher, so this env is built here, on the official repository's XML
(`tdmpc_parity/data/official_tasks/reacher_three_links.xml`, the model the torch backend runs) with dm_control's
reacher task on it (`dm_control.suite.reacher.Reacher`, which the official task uses unchanged):
- model: the official XML with its physics as they are (timestep 0.02 s = one control step, Euler with implicit
  joint damping, Newton solver, 100 iterations, contacts disabled); Playground's two-link reacher instead runs
  0.005 s steps with 1 solver iteration. One change that does not move the physics: the world geom `target`
  sits in a mocap body `target` at the geom's position, so that its position is episode data (`mocap_pos`);
  dm_control moves it in the model (`geom_pos`). Target radius: 0.05 (easy), 0.015 (hard).
- initial state (dm_control's `Reacher.initialize_episode`): every joint by `randomize_joints` (shoulder0
  U(-π, π); shoulder1 and wrist U(-80°, 80°)), the target at radius r ~ U(0.05, 0.20) and angle θ ~ U(0, 2π),
  (x, y) = r (sin θ, cos θ).
- observation: position (3), to_target = target - finger in (x, y) (2), velocity (3); reward:
  tol(|target - finger|, (0, r_target + r_finger)) — Playground's `Reacher._get_obs` / `_get_reward`, which
  read the geoms by name.

`MJX_ENVS` maps the env names of `tdmpc_parity.core.tasks.OWN_MJX_ENVS` to their constructors
(`jax_impl/dm_control_physics.py`
loads them in `physics=dm_control`, the only physics they have).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from ml_collections import config_dict
from mujoco import mjx
from mujoco_playground._src import mjx_env
from mujoco_playground._src.dm_control_suite import common
from mujoco_playground._src.dm_control_suite.reacher import BIG_TARGET, SMALL_TARGET, Reacher

from jax_impl.initial_states import randomize_joints

XML_NAME = "reacher_three_links.xml"
_WORLD_TARGET = '<geom name="target" pos="0 0 .01" material="target" type="sphere" size=".05"/>'
_MOCAP_TARGET = ('<body name="target" pos="0 0 .01" mocap="true">'
                 '<geom name="target" material="target" type="sphere" size=".05"/></body>')


def official_xml() -> str:
    """The official three-link reacher XML, as shipped (tdmpc_parity/data/official_tasks/)."""
    return resources.files("tdmpc_parity").joinpath("data", "official_tasks", XML_NAME).read_text()


def mocap_target_xml(xml: str) -> str:
    """`xml` with the world geom `target` moved into a mocap body at the same place (module docstring)."""
    if xml.count(_WORLD_TARGET) != 1:
        raise ValueError(f"{XML_NAME}: expected exactly one world geom {_WORLD_TARGET!r} to put in a mocap body")
    return xml.replace(_WORLD_TARGET, _MOCAP_TARGET)


def default_config() -> config_dict.ConfigDict:
    """The official physics: one 0.02 s physics step per control step."""
    return config_dict.create(ctrl_dt=0.02, sim_dt=0.02, episode_length=1000, action_repeat=1, vision=False,
                              impl="jax", naconmax=0, njmax=0)


class ReacherThree(Reacher):
    """dm_control's reacher task on the official three-link arm (module docstring); obs and reward: Playground's
    `Reacher`."""

    def __init__(self, target_size: float, config: config_dict.ConfigDict | None = None,
                 config_overrides: dict[str, Any] | None = None):
        mjx_env.MjxEnv.__init__(self, config or default_config(), config_overrides)
        self._target_size = target_size
        self._xml_path = XML_NAME
        self._model_assets = common.get_assets()
        spec = mujoco.MjSpec.from_string(mocap_target_xml(official_xml()), self._model_assets)
        spec.body("target").first_geom().size[0] = target_size
        self._mj_model = spec.compile()
        self._mjx_model = mjx.put_model(self._mj_model, impl=self._config.impl)
        self._post_init()

    def _post_init(self) -> None:
        self._target_mocap_body_id = int(self.mj_model.body("target").mocapid[0])
        self._finger_geom_id = self.mj_model.geom("finger").id
        self._target_geom_id = self.mj_model.geom("target").id
        self._radii = self.mj_model.geom_size[[self._target_geom_id, self._finger_geom_id], 0].sum()

    def reset(self, rng: jax.Array) -> mjx_env.State:
        """dm_control's start: random joints, the target at r (sin θ, cos θ); forwarded."""
        k_joints, k_angle, k_radius = jax.random.split(rng, 3)
        qpos = randomize_joints(self.mj_model, jnp.zeros(self.mj_model.nq), k_joints)
        angle = jax.random.uniform(k_angle, (), minval=0.0, maxval=2 * jnp.pi)
        radius = jax.random.uniform(k_radius, (), minval=0.05, maxval=0.20)
        data = mjx_env.make_data(self.mj_model, qpos=qpos, impl=self.mjx_model.impl.value,
                                 naconmax=self._config.naconmax, njmax=self._config.njmax)
        xy = radius * jnp.array([jnp.sin(angle), jnp.cos(angle)])
        data = data.replace(mocap_pos=data.mocap_pos.at[self._target_mocap_body_id, :2].set(xy))
        data = mjx.forward(self.mjx_model, data)
        zero = jnp.zeros(())
        return mjx_env.State(data, self._get_obs(data, {}), zero, zero, {}, {"rng": rng})


MJX_ENVS: dict[str, Callable[..., ReacherThree]] = {
    "ReacherThreeEasy": lambda **kw: ReacherThree(BIG_TARGET, **kw),
    "ReacherThreeHard": lambda **kw: ReacherThree(SMALL_TARGET, **kw),
}
