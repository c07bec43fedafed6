"""A task of your own in both backends: dm_control's cartpole balance with a pole 1.5 m long instead of 1 m.

    tdmpc-parity info  --task-module examples/my_tasks.py --task cartpole-long-pole
    tdmpc-parity train --task-module examples/my_tasks.py --task cartpole-long-pole --config tiny --steps 2000
    tdmpc-parity train --task-module examples/my_tasks.py --task cartpole-long-pole --config tiny --backend jax

The model: the cartpole XML the project ships (dm_control's, tdmpc_parity/data/dm_control_tasks/cartpole.xml) with
the pole's capsule made longer, edited in memory. The torch env is dm_control's own cartpole Balance task on that
model (what `suite.load("cartpole", "balance")` builds on dm_control's model). The JAX env is MuJoCo Playground's
cartpole Balance env class (its observation and reward) on the same model, with the two edits MJX needs that do not
move the physics, as for the built-in cartpole tasks (`jax_impl/dm_control_physics.py`), and dm_control's initial
state distribution (`jax_impl/initial_states.py`). `parity/test_registered_task_parity.py` checks that both give the
same observations and rewards from the same state with the same actions.

Nothing here imports torch, jax, MuJoCo or dm_control when the module is imported: the factories do, when a
backend builds an env.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from tdmpc_parity.core.task_registry import register_task

NAME = "cartpole-long-pole"
POLE = 'fromto="0 0 0 0 0 1"'  # the pole's capsule in dm_control's cartpole model: 1 m
LONG_POLE = 'fromto="0 0 0 0 0 1.5"'
TIME_LIMIT = 10.0  # seconds, dm_control's cartpole: 1000 control steps of 0.01 s = 500 agent steps x 2


def long_pole_xml() -> str:
    """dm_control's cartpole model with the pole 1.5 m long (its mass stays 0.1 kg)."""
    xml = resources.files("tdmpc_parity").joinpath("data", "dm_control_tasks", "cartpole.xml").read_text()
    if xml.count(POLE) != 1:
        raise ValueError(f"cartpole.xml: expected one pole capsule {POLE!r} to lengthen")
    return xml.replace(POLE, LONG_POLE)


def torch_env(seed: int) -> Any:
    """dm_control's cartpole Balance task on the long-pole model; episodes drawn from the task RNG `seed`."""
    from dm_control.rl import control
    from dm_control.suite import cartpole, common

    physics = cartpole.Physics.from_xml_string(long_pole_xml(), common.ASSETS)
    task = cartpole.Balance(swing_up=False, sparse=False, random=seed)
    return control.Environment(physics, task, time_limit=TIME_LIMIT)


class _XmlText:
    """Stands in for the file path a Playground env class reads its model from (`read_text`, `as_posix`)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def read_text(self) -> str:
        return self._text

    def as_posix(self) -> str:
        return "cartpole_long_pole.xml"


def jax_env() -> Any:
    """MuJoCo Playground's cartpole Balance env class on the long-pole model, with dm_control's initial states."""
    import jax
    from mujoco import mjx
    from mujoco_playground._src.dm_control_suite import cartpole

    from jax_impl.dm_control_physics import edited_xml, patched, timestep
    from jax_impl.initial_states import cartpole_balance

    class LongPoleBalance(cartpole.Balance):
        """Playground's Balance (observation, dense reward) whose reset draws dm_control's initial states."""

        def reset(self, rng: jax.Array) -> Any:
            state = super().reset(rng)
            data = mjx.forward(self.mjx_model, cartpole_balance(self, state.data, jax.random.fold_in(rng, 1)))
            return state.replace(data=data, obs=self._get_obs(data, state.info))

    # dm_control's model and options, with the energy flag cleared (MJX refuses it) and Playground's line search
    xml = edited_xml("cartpole", long_pole_xml())
    with patched(cartpole, _XML_PATH=_XmlText(xml)):  # the class reads its model from _XML_PATH when built
        return LongPoleBalance(swing_up=False, sparse=False,
                               config_overrides={"impl": "jax", "sim_dt": timestep(xml)})


register_task(NAME, torch_env=torch_env, jax_env=jax_env, obs_dim=5, action_dim=1, episode_length=500,
              action_repeat=2)
