"""jax_impl.reacher_three: the JAX backend's three-link reacher is the official model with the target made mocap.

Against dm_control's task on the official XML: parity/test_env_parity.py (observation, reward, stepping) and
parity/test_initial_states.py (the initial-state distribution).
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from mujoco_playground._src.dm_control_suite import common

from jax_impl.reacher_three import MJX_ENVS, ReacherThree, mocap_target_xml, official_xml
from tdmpc_parity.core.config import load_config

TINY = "tiny"  # the shipped config (tdmpc_parity/configs/tiny.yaml)


def _official_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(official_xml(), common.get_assets())


def test_the_mocap_target_leaves_the_physics_of_the_official_model_unchanged() -> None:
    """MuJoCo C steps both models from the same state with the same controls to the same bits."""
    ours = ReacherThree(0.05).mj_model
    official = _official_model()
    for field in ("timestep", "integrator", "solver", "iterations", "ls_iterations", "tolerance",
                  "disableflags", "enableflags"):
        assert getattr(ours.opt, field) == getattr(official.opt, field), field
    assert (ours.nq, ours.nv, ours.nu, ours.nmocap, official.nmocap) == (3, 3, 3, 1, 0)
    rng = np.random.default_rng(0)
    d_ours, d_official = mujoco.MjData(ours), mujoco.MjData(official)
    target = np.array([0.1, -0.12, 0.01])
    d_ours.mocap_pos[0] = target
    official.geom_pos[official.geom("target").id] = target  # what dm_control's reacher task does
    for d in (d_ours, d_official):
        d.qpos[:] = [2.0, -1.0, 1.3]
        d.qvel[:] = [0.5, -3.0, 2.0]
    limit_steps = 0
    for t in range(300):  # 6 s; full torque first, so that the limited joints reach their ±80° limits
        ctrl = np.ones(3) if t < 100 else rng.uniform(-1, 1, 3)
        d_ours.ctrl[:] = d_official.ctrl[:] = ctrl
        mujoco.mj_step(ours, d_ours)
        mujoco.mj_step(official, d_official)
        limit_steps += d_official.nefc > 0
    np.testing.assert_array_equal(d_ours.qpos, d_official.qpos)
    np.testing.assert_array_equal(d_ours.qvel, d_official.qvel)
    np.testing.assert_array_equal(d_ours.geom_xpos[ours.geom("target").id],
                                  d_official.geom_xpos[official.geom("target").id])
    assert limit_steps > 10  # the joint-limit constraints were active (the solver ran)


@pytest.mark.parametrize(("name", "radius"), [("ReacherThreeEasy", 0.05), ("ReacherThreeHard", 0.015)])
def test_target_size_and_reward_radius(name: str, radius: float) -> None:
    env = MJX_ENVS[name]()
    model = env.mj_model
    assert model.geom_size[model.geom("target").id, 0] == radius
    assert env._radii == pytest.approx(radius + 0.01)  # + the finger's radius
    assert (env.dt, env.n_substeps) == (0.02, 1)


def test_a_changed_xml_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"reacher_three_links.xml: expected exactly one world geom"):
        mocap_target_xml(official_xml().replace('size=".05"', 'size=".06"'))


def test_the_task_table_names_exactly_these_envs() -> None:
    from jax_impl.env import MJX_ENVS as ALL_OWN_ENVS
    from tdmpc_parity.core.tasks import OWN_MJX_ENVS

    assert set(MJX_ENVS) <= set(ALL_OWN_ENVS) and sorted(ALL_OWN_ENVS) == sorted(OWN_MJX_ENVS)


def test_jax_video_frames_draw_the_target_where_the_episode_put_it() -> None:
    """The JAX eval video renders each state with the episode's mocap target (it once drew every Playground target
    - reacher, finger-turn, fish, swimmer - at the model's default place): frame 0 is MuJoCo C's rendering of the
    reset state with its target, and not the one with the default target."""
    import jax

    from jax_impl.rollout import Evaluator
    from jax_impl.weights import to_canonical
    from jax_impl.world_model import WorldModel
    from tdmpc_parity.core.video import FrameRenderer, RenderSpec

    cfg = load_config(yaml_path=TINY, overrides=["task=reacher-three-easy", "backend=jax", "episode_length=4"])
    canon = to_canonical(WorldModel(cfg), WorldModel(cfg).init(jax.random.PRNGKey(0)))
    ev = Evaluator(cfg, canon, seed=3, render=True)
    spec = RenderSpec(64, 64, camera=0)
    frames = ev.episode(0, render=spec).frames
    assert len(frames) == 1 + 4 * cfg.action_repeat
    k_env, _ = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(3), 10_000))  # Evaluator's episode-0 key
    data = ev.env.reset_batch(k_env, 1).playground.data
    target = np.asarray(data.mocap_pos[0])
    assert np.linalg.norm(target[0, :2]) >= 0.05  # the target is off the arm's root (r ~ U(0.05, 0.2))
    renderer = FrameRenderer(ev.env.mj_model, spec)
    qpos, qvel = np.asarray(data.qpos[0]), np.asarray(data.qvel[0])
    with_target = renderer.render_state(qpos, qvel, mocap_pos=target)
    default_target = renderer.render_state(qpos, qvel, mocap_pos=ev.env.mj_model.body_pos[[ev.env.mj_model.body(
        "target").id]])
    renderer.close()
    assert np.abs(with_target.astype(int) - frames[0].astype(int)).max() <= 2  # float32 vs float64 kinematics
    assert np.abs(default_target.astype(int) - frames[0].astype(int)).max() > 50
