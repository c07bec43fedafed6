"""jax_impl.quadruped: the JAX backend's quadruped is dm_control's model, built without dm_control.

Against dm_control's task: parity/test_env_parity.py (observation, reward, action mapping, stepping) and
parity/test_initial_states.py (the start distribution and the start height).
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from dm_control.suite import common, quadruped

from jax_impl.quadruped import MJX_ENVS, dm_control_xml


def test_the_shipped_xml_is_dm_controls_make_model() -> None:
    assert dm_control_xml().encode() == quadruped.make_model()


@pytest.mark.parametrize(("name", "speed"), [("QuadrupedWalk", quadruped._WALK_SPEED),
                                             ("QuadrupedRun", quadruped._RUN_SPEED)])
def test_model_steps_as_dm_controls_to_the_bit(name: str, speed: float) -> None:
    """The env's model (Playground's common assets, floor size set by MjSpec) and dm_control's model of the task
    (its XML and assets): same sizes and options, and MuJoCo C steps both to the same bits through contacts."""
    ours = MJX_ENVS[name]().mj_model
    theirs = mujoco.MjModel.from_xml_string(quadruped.make_model(floor_size=quadruped._DEFAULT_TIME_LIMIT * speed),
                                            common.ASSETS)
    for field in ("geom_size", "geom_pos", "body_mass", "jnt_range", "actuator_ctrlrange", "sensor_type"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field), err_msg=field)
    for field in ("timestep", "integrator", "solver", "iterations", "cone", "disableflags"):
        assert getattr(ours.opt, field) == getattr(theirs.opt, field), field
    rng = np.random.default_rng(0)
    d_ours, d_theirs = mujoco.MjData(ours), mujoco.MjData(theirs)
    for d in (d_ours, d_theirs):
        d.qpos[2] = 0.7
    contacts = 0
    for _ in range(200):  # 1 s: it falls, lands and kicks
        d_ours.ctrl[:] = d_theirs.ctrl[:] = rng.uniform(-1, 1, ours.nu)
        mujoco.mj_step(ours, d_ours)
        mujoco.mj_step(theirs, d_theirs)
        contacts += d_theirs.ncon
    assert contacts > 100
    for field in ("qpos", "qvel", "act", "sensordata"):
        np.testing.assert_array_equal(getattr(d_ours, field), getattr(d_theirs, field), err_msg=field)


@pytest.mark.slow
def test_start_height_search_stops_at_max_height_steps(monkeypatch) -> None:
    """A start that always touches ends at MAX_HEIGHT_STEPS heights (dm_control raises after 10,000; the JAX loop
    keeps the last height) instead of looping forever."""
    import jax
    import jax.numpy as jnp

    from jax_impl import quadruped as module

    monkeypatch.setattr(module, "has_contact", lambda data: jnp.array(True))
    monkeypatch.setattr(module, "MAX_HEIGHT_STEPS", 3)
    state = jax.jit(MJX_ENVS["QuadrupedWalk"]().reset)(jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(state.data.qpos[2]), 2 * module.HEIGHT_STEP, atol=1e-7)  # heights 0, 1, 2 cm
    assert np.isfinite(np.asarray(state.obs)).all()
