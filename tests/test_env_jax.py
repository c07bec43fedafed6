"""jax_impl.env: Playground MJX envs with the official semantics (repeat, fixed episodes, fresh auto-reset).

Compiling MJX functions on CPU takes 5-30 s per new shape, so the tests share two compiled functions on
cartpole-balance (no contacts, the cheapest task): `probe` (one env step plus the same agent step computed by
hand from the env's pieces) and the vmapped step for 2 envs. Everything else uses `jax.eval_shape`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl.env import EnvState, MJXEnv, make_env
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import OWN_MJX_ENVS, TASKS

EPISODE = 5
# These tests check the env's semantics (action repeat, episode ends, resets, vmap, pytree types), not its physics:
# they run Playground's physics, whose MJX programs compile ~2.5x faster on CPU than dm_control's (cartpole's RK4
# is 4 forward passes); dm_control's physics: tests/test_dm_control_physics.py, parity/test_dm_control_physics.py.
PHYSICS = ["backend=jax", "physics=playground"]


@pytest.fixture(scope="module")
def env() -> MJXEnv:
    return make_env(load_config(overrides=[*PHYSICS, "task=cartpole-balance", f"episode_length={EPISODE}"]))


@pytest.fixture(scope="module")
def hopper() -> MJXEnv:
    return make_env(load_config(overrides=[*PHYSICS, "task=hopper-hop"]))


@pytest.fixture(scope="module")
def jreset(env: MJXEnv):
    return jax.jit(env.reset)


@pytest.fixture(scope="module")
def probe(env: MJXEnv):
    """jit: (state, action) -> (env.step(...), (r1, r2, obs, qpos)) where the tuple repeats the agent step
    by hand: two control steps from the same Playground data, their rewards, the final obs and qpos."""

    def fn(state: EnvState, action: jax.Array):
        ctrl = env.action_to_ctrl(action)
        d1 = env.control_step(state.playground.data, ctrl)
        d2 = env.control_step(d1, ctrl)
        r1, _ = env.reward_fn(d1, ctrl, state.playground.info)
        r2, _ = env.reward_fn(d2, ctrl, state.playground.info)
        return env.step(state, action), (r1, r2, env.obs_fn(d2), d2.qpos)

    return jax.jit(fn)


def _sig(tree) -> list:
    """(path, shape, dtype, weak_type) of every leaf: what decides whether jit recompiles."""
    return [(jax.tree_util.keystr(p), x.shape, x.dtype, bool(getattr(x, "weak_type", False)))
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]]


@pytest.mark.parametrize("task", ["hopper-hop", "cartpole-balance"])
def test_obs_and_action_dims_match_task_table(task: str, env: MJXEnv, hopper: MJXEnv) -> None:
    e = hopper if task == "hopper-hop" else env
    spec = TASKS[task]
    assert (e.obs_dim, e.action_dim) == (spec.obs_dim, spec.action_dim)
    state = jax.eval_shape(e.reset, jax.random.PRNGKey(0))
    new_state, tr = jax.eval_shape(e.step, state, jax.ShapeDtypeStruct((spec.action_dim,), jnp.float32))
    assert state.obs.shape == new_state.obs.shape == tr.next_obs.shape == (spec.obs_dim,)
    assert state.obs.dtype == tr.next_obs.dtype == tr.reward.dtype == jnp.float32
    assert tr.reward.shape == () and tr.done.dtype == jnp.bool_


def test_reward_summed_over_repeat_and_obs_at_post_step_state(env, jreset, probe) -> None:
    state = jreset(jax.random.PRNGKey(1))
    for _ in range(3):
        (state, tr), (r1, r2, obs, qpos) = probe(state, jnp.array([0.7]))
        assert float(r1) != float(r2) and float(r1) > 0.5
        np.testing.assert_allclose(float(tr.reward), float(r1) + float(r2), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(tr.next_obs), np.asarray(obs), rtol=1e-6, atol=1e-7)
        # dm_control timing: cos/sin of the pole angle describe the NEW qpos (Playground's own step reads
        # kinematics one sub-step old: off by up to 0.08 here)
        np.testing.assert_allclose(float(tr.next_obs[1]), np.cos(float(qpos[1])), atol=2e-6)
        np.testing.assert_allclose(float(tr.next_obs[2]), np.sin(float(qpos[1])), atol=2e-6)


def test_done_at_episode_length_with_fresh_auto_reset(env, jreset, probe) -> None:
    state = jreset(jax.random.PRNGKey(2))
    reset_obs = [np.asarray(state.obs)]
    for t in range(1, 2 * EPISODE + 2):
        (new, tr), (_, _, final_obs, _) = probe(state, jnp.array([0.3]))
        assert bool(tr.done) == (t % EPISODE == 0)
        assert int(new.t) == t % EPISODE
        # the transition keeps the true final observation of the step ...
        np.testing.assert_allclose(np.asarray(tr.next_obs), np.asarray(final_obs), rtol=1e-6, atol=1e-7)
        if bool(tr.done):
            # ... while the new state holds the reset observation
            assert not np.allclose(np.asarray(new.obs), np.asarray(tr.next_obs))
            reset_obs.append(np.asarray(new.obs))
        else:
            np.testing.assert_array_equal(np.asarray(new.obs), np.asarray(tr.next_obs))
        state = new
    assert len(reset_obs) == 3
    # a fresh random initial state each episode, not one cached reset state
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(reset_obs[i], reset_obs[j])


def test_vmap_two_envs_matches_single_env(env, jreset, probe) -> None:
    key = jax.random.PRNGKey(3)
    batch = jax.jit(env.reset_batch, static_argnums=1)(key, 2)  # one program, not hundreds of eager ops
    singles = [jreset(k) for k in jax.random.split(key, 2)]
    vstep = jax.jit(jax.vmap(env.step))
    actions = jnp.array([[0.5], [-0.5]])
    for _ in range(EPISODE + 1):  # crosses the auto-reset
        batch, btr = vstep(batch, actions)
        for i in range(2):
            (singles[i], tr), _ = probe(singles[i], actions[i])
            np.testing.assert_allclose(np.asarray(btr.next_obs[i]), np.asarray(tr.next_obs),
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(float(btr.reward[i]), float(tr.reward), rtol=1e-5)
            assert bool(btr.done[i]) == bool(tr.done)
            np.testing.assert_allclose(np.asarray(batch.obs[i]), np.asarray(singles[i].obs),
                                       rtol=1e-5, atol=1e-6)
    assert btr.next_obs.shape == (2, 5)
    assert not np.allclose(np.asarray(batch.obs[0]), np.asarray(batch.obs[1]))


def test_pytree_types_stable_across_steps(env, jreset, probe) -> None:
    s0 = jreset(jax.random.PRNGKey(4))
    (s1, tr1), _ = probe(s0, jnp.array([0.1]))
    (s2, tr2), _ = probe(s1, jnp.array([0.1]))
    assert jax.tree.structure(s0) == jax.tree.structure(s1) == jax.tree.structure(s2)
    assert _sig(s0) == _sig(s1) == _sig(s2)
    assert _sig(tr1) == _sig(tr2)
    assert probe._cache_size() == 1  # one compile for reset-state and stepped-state inputs


def test_hopper_pytree_types_stable_where_playground_step_is_not(hopper: MJXEnv) -> None:
    e = hopper
    act = jax.ShapeDtypeStruct((4,), jnp.float32)
    s0 = jax.eval_shape(e.reset, jax.random.PRNGKey(0))
    s1, tr1 = jax.eval_shape(e.step, s0, act)
    s2, tr2 = jax.eval_shape(e.step, s1, act)
    assert jax.tree.structure(s0) == jax.tree.structure(s1) == jax.tree.structure(s2)
    assert _sig(s0) == _sig(s1) == _sig(s2) and _sig(tr1) == _sig(tr2)
    # the trap this guards against: Playground's own HopperHop step turns `reward/standing` weak-typed
    raw = jax.eval_shape(e.pg_env.step, s0.playground, act)
    assert [x for x in _sig(raw) if x[3]] == [(".metrics['reward/standing']", (), jnp.float32, True)]


def test_bad_action_shape_is_value_error(env, jreset) -> None:
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="action must have shape"):
        jax.eval_shape(env.step, state, jnp.zeros(2))
    with pytest.raises(ValueError, match="action must have shape"):
        env.action_to_ctrl(jnp.zeros((1, 1)))


def test_unresolved_config_is_value_error() -> None:
    with pytest.raises(ValueError, match="resolved"):
        make_env(load_config(resolve=False))


def test_step_batch_equals_vmapped_step_across_a_reset(env) -> None:
    """step_batch (one guarded reset for the batch) gives exactly what vmap(step) gives."""
    states = jax.jit(env.reset_batch, static_argnums=1)(jax.random.PRNGKey(5), 2)
    batched, vmapped = jax.jit(env.step_batch), jax.jit(jax.vmap(env.step))
    a, b = states, states
    for i in range(EPISODE + 2):  # crosses the auto-reset
        act = jnp.full((2, env.action_dim), 0.3 * ((-1) ** i), jnp.float32)
        a, ta = batched(a, act)
        b, tb = vmapped(b, act)
        for x, y in zip(jax.tree.leaves((a, ta)), jax.tree.leaves((b, tb)), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_reset_observation_is_in_dm_control_layout(monkeypatch) -> None:
    """Playground's PendulumSwingup observation is (xz, zz, angular velocity) of the pole; the env's, from reset on,
    is dm_control's (zz, xz, angular velocity), zz = cos of the hinge angle (the step path: parity/test_env_parity).

    Playground's reset is replaced by a state forwarded in MuJoCo C and the env's dm_control redraw of the hinge
    angle (jax_impl/initial_states.py, tested in parity/test_initial_states.py) is switched off."""
    import mujoco
    from mujoco import mjx
    from mujoco_playground import State

    e = make_env(load_config(overrides=[*PHYSICS, "task=pendulum-swingup"]))
    d = mujoco.MjData(e.mj_model)
    d.qpos[0], d.qvel[0] = 0.7, -1.5
    mujoco.mj_forward(e.mj_model, d)
    data = mjx.put_data(e.mj_model, d, impl="jax")
    raw = np.asarray(e.pg_env._get_obs(data, {}))
    monkeypatch.setattr(e.pg_env, "reset", lambda key: State(data, jnp.asarray(raw), jnp.zeros(()), jnp.zeros(()),
                                                            {}, {"rng": key}))
    monkeypatch.setattr(e, "_initial_state", None)
    obs = np.asarray(e.reset(jax.random.PRNGKey(0)).obs)
    np.testing.assert_allclose(raw, [np.sin(0.7), np.cos(0.7), -1.5], rtol=1e-6)  # what Playground gives
    np.testing.assert_allclose(obs, [np.cos(0.7), np.sin(0.7), -1.5], rtol=1e-6)  # dm_control's layout


def test_torch_only_task_is_refused_naming_its_backend() -> None:
    cfg = load_config(overrides=["task=dog-run"])  # a torch config: the jax backend's check is the env's own
    with pytest.raises(ValueError, match=r"'dog-run' has no JAX environment \(dm_control only: .*\): only the torch "):
        MJXEnv(cfg)


def test_custom_rewards_cover_exactly_the_custom_tasks_the_jax_backend_runs(monkeypatch) -> None:
    from jax_impl import env as env_module
    from jax_impl.custom_tasks import CUSTOM_REWARDS

    assert sorted(CUSTOM_REWARDS) == sorted(n for n, s in TASKS.items()
                                            if s.custom and s.playground not in (None, *OWN_MJX_ENVS))
    monkeypatch.setattr(env_module, "CUSTOM_REWARDS", {})
    with pytest.raises(ValueError, match=r"pendulum-spin: a custom task on a Playground env without a JAX reward"):
        MJXEnv(load_config(overrides=["task=pendulum-spin", "backend=jax"]))


def test_randomize_joints_draws_as_dm_control_per_joint_kind() -> None:
    """Limited hinge/slide ~ U(range), unlimited hinge ~ U(-π, π), free joint: position kept and a normalised
    non-negative quaternion, unlimited slide kept (the kinds no single DMC sampler reaches all of)."""
    import mujoco

    from jax_impl.initial_states import randomize_joints

    m = mujoco.MjModel.from_xml_string("""<mujoco><worldbody>
      <body><freejoint/><geom size=".1"/></body>
      <body><joint name="ls" type="slide" range="-.3 .2" limited="true"/><geom size=".1"/></body>
      <body><joint name="us" type="slide"/><geom size=".1"/></body>
      <body><joint name="lh" type="hinge" range="10 20" limited="true"/><geom size=".1"/></body>
      <body><joint name="uh" type="hinge"/><geom size=".1"/></body>
    </worldbody></mujoco>""")
    qpos0 = jnp.arange(m.nq, dtype=jnp.float32) + 5.0
    q = np.asarray(jax.vmap(lambda k: randomize_joints(m, qpos0, k))(jax.random.split(jax.random.PRNGKey(0), 500)))
    np.testing.assert_array_equal(q[:, :3], np.broadcast_to(qpos0[:3], (500, 3)))  # free joint position kept
    quat = q[:, 3:7]
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1.0, rtol=1e-6)
    assert quat.min() >= 0.0
    ls, us, lh, uh = q[:, 7], q[:, 8], q[:, 9], q[:, 10]
    assert -0.3 <= ls.min() < -0.28 and 0.18 < ls.max() <= 0.2
    np.testing.assert_array_equal(us, np.full(500, float(qpos0[8])))
    assert np.deg2rad(10) <= lh.min() and lh.max() <= np.deg2rad(20)
    assert -np.pi <= uh.min() < -3.0 and 3.0 < uh.max() <= np.pi


def test_redraws_stop_after_max_draws(monkeypatch, env: MJXEnv) -> None:
    """An acceptance that never holds ends after MAX_DRAWS draws (dm_control's finger raises after 1000; the JAX
    loop keeps the last draw) instead of looping forever."""
    from jax_impl import initial_states

    monkeypatch.setattr(initial_states, "MAX_DRAWS", 4)
    draws = []

    def draw(qpos, k):
        jax.debug.callback(lambda: draws.append(1))
        return qpos + jax.random.uniform(k, qpos.shape)

    data = env._reset_batch(jax.random.PRNGKey(0), 1).playground.data
    one = jax.tree.map(lambda x: x[0], data)
    out = initial_states.redraw_until_free(env.pg_env, one, jax.random.PRNGKey(1), draw, lambda d: jnp.array(False))
    assert len(draws) == 4 and not np.allclose(np.asarray(out.qpos), np.asarray(one.qpos))


def test_mjx_cannot_simulate_dm_controls_dog() -> None:
    """Why dog-* is torch-only (tdmpc_parity.core.tasks.TORCH_ONLY): MJX's JAX implementation has no ellipsoid-box
    collision,
    and dm_control's dog model has such contact pairs. When an MJX release adds it, this test fails: port dog then."""
    import mujoco
    from dm_control.suite import dog
    from mujoco import mjx
    from mujoco.mjx._src import collision_driver

    model = mujoco.MjModel.from_xml_string(*dog.get_model_and_assets(dog._WALK_SPEED * dog._DEFAULT_TIME_LIMIT))
    pairs = [tuple(int(t) for t in model.geom_type[[g1, g2]]) for g1, g2, _ in collision_driver.geom_pairs(model)]
    ellipsoid_box = (int(mujoco.mjtGeom.mjGEOM_ELLIPSOID), int(mujoco.mjtGeom.mjGEOM_BOX))
    assert (len(pairs), pairs.count(ellipsoid_box)) == (5557, 181)
    with pytest.raises(NotImplementedError, match="ELLIPSOID.*BOX.*collisions not implemented"):
        mjx.put_model(model, impl="jax")
