"""jax_impl.collision: MJX's plane–capsule contacts with MuJoCo C's contact frame.

The default tests compare the contacts (pos, frame, dist) of MJX's collision with the patch, from C's geom poses in
float32, against `mujoco.mj_forward` on a tiny model (a plane and a capsule), at capsule tilts inside and outside
MJX's 30° fallback band, and show that MJX's own rule misses C inside the band. The slow test steps dm_control's
humanoid one sub-step in float64 from C states with a near-vertical capsule on the floor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx
from mujoco.mjx._src import collision_driver

from jax_impl.collision import c_contact_frame, c_contact_frames, plane_capsule_c

KEY = (mjx.GeomType.PLANE, mjx.GeomType.CAPSULE)
RADIUS, HALF = 0.05, 0.2
PENETRATION = 0.002
# (tilt from the plane normal in degrees, azimuth of the tilt axis in degrees); MJX falls back below 30°
TILTS = [(0.0, 0.0), (10.0, 30.0), (20.0, 100.0), (29.5, -45.0), (30.5, 30.0), (60.0, 160.0)]
TOL = 1e-5  # float32


def _xml(plane_euler: str) -> str:
    return f"""<mujoco><option cone="pyramidal"/><worldbody>
  <geom type="plane" size="5 5 0.1" euler="{plane_euler}"/>
  <body><freejoint/><geom type="capsule" size="{RADIUS} {HALF}"/></body>
</worldbody></mujoco>"""


def _quat(axis: np.ndarray, angle: float) -> np.ndarray:
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def _qpos(model: mujoco.MjModel, tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """The capsule tilted by `tilt_deg` from the plane normal, its lower end PENETRATION into the plane."""
    azimuth = np.radians(azimuth_deg)
    local = _quat(np.array([np.cos(azimuth), np.sin(azimuth), 0.0]), np.radians(tilt_deg))
    quat = np.empty(4)
    mujoco.mju_mulQuat(quat, model.geom_quat[0], local)
    normal = _mat(model.geom_quat[0]).reshape(3, 3)[:, 2]
    center = normal * (HALF * np.cos(np.radians(tilt_deg)) + RADIUS - PENETRATION)
    return np.concatenate([center, quat])


def _mat(quat: np.ndarray) -> np.ndarray:
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat


def _mjx_contacts(model: mujoco.MjModel) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]:
    """MJX's collision (dist, pos, frame) from given geom poses (C's kinematics, rounded to float32), batched;
    freshly traced, so MJX reads its collision table now."""
    mx = mjx.put_model(model)

    def contacts(xpos: jax.Array, xmat: jax.Array) -> tuple[jax.Array, ...]:
        data = mjx.collision(mx, mjx.make_data(mx).replace(geom_xpos=xpos, geom_xmat=xmat.reshape(-1, 3, 3)))
        return data._impl.contact.dist, data._impl.contact.pos, data._impl.contact.frame.reshape(-1, 9)

    fn = jax.jit(jax.vmap(contacts))
    return lambda xpos, xmat: tuple(np.asarray(x) for x in fn(jnp.asarray(xpos, jnp.float32),
                                                              jnp.asarray(xmat, jnp.float32)))


@functools.cache
def _contacts(plane_euler: str) -> dict:
    """C's contacts and MJX's (its own rule on the flat plane only, C's rule on both) on the states of TILTS."""
    model = mujoco.MjModel.from_xml_string(_xml(plane_euler))
    data = mujoco.MjData(model)
    flat = plane_euler == "0 0 0"
    tilts = TILTS if flat else TILTS[1:]  # a capsule exactly along a tilted normal: C's y axis is round-off
    qpos = np.stack([_qpos(model, *t) for t in tilts])
    c, xpos, xmat = [], [], []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_forward(model, data)
        assert data.ncon == 1, "each state touches the plane with the capsule's lower end only"
        con = data.contact[0]
        c.append((con.dist, con.pos.copy(), con.frame.copy()))
        xpos.append(data.geom_xpos.copy())
        xmat.append(data.geom_xmat.copy())
    old = _mjx_contacts(model)(xpos, xmat) if flat else None
    with c_contact_frames():
        new = _mjx_contacts(model)(xpos, xmat)
    return {"tilts": tilts, "c": c, "old": old, "new": new}


def _lower_end(mjx_out: tuple[np.ndarray, ...], i: int) -> tuple[np.ndarray, ...]:
    """MJX's contact of the capsule's lower end (row 1 of the pair: end c - h a) in state i."""
    return tuple(x[i][1] for x in mjx_out)


@pytest.mark.parametrize("plane_euler", ["0 0 0", "12 -7 0"], ids=["flat", "tilted_plane"])
def test_patched_mjx_contacts_equal_mujoco_c(plane_euler: str) -> None:
    contacts = _contacts(plane_euler)
    for i, tilt in enumerate(contacts["tilts"]):
        dist, pos, frame = _lower_end(contacts["new"], i)
        c_dist, c_pos, c_frame = contacts["c"][i]
        np.testing.assert_allclose(dist, c_dist, atol=TOL, err_msg=str(tilt))
        np.testing.assert_allclose(pos, c_pos, atol=TOL, err_msg=str(tilt))
        np.testing.assert_allclose(frame, c_frame, atol=TOL, err_msg=str(tilt))


def test_mjx_own_rule_differs_from_c_inside_the_30_degree_band_only() -> None:
    """Without the patch MJX's tangent is a fixed axis within 30° of the normal: wrong there, right outside."""
    contacts = _contacts("0 0 0")
    for i, tilt in enumerate(contacts["tilts"]):
        dist, pos, frame = _lower_end(contacts["old"], i)
        c_dist, c_pos, c_frame = contacts["c"][i]
        np.testing.assert_allclose(pos, c_pos, atol=TOL)  # only the frame's tangents differ
        np.testing.assert_allclose(frame[:3], c_frame[:3], atol=TOL)
        err = np.abs(frame - c_frame).max()
        if tilt[0] < 30:
            assert err > 0.1, (tilt, err)
        else:
            assert err < TOL, (tilt, err)


def test_context_restores_mjx_collider() -> None:
    original = collision_driver._COLLISION_FUNC[KEY]
    assert original is not plane_capsule_c
    with c_contact_frames():
        assert collision_driver._COLLISION_FUNC[KEY] is plane_capsule_c
        with c_contact_frames():
            assert collision_driver._COLLISION_FUNC[KEY] is plane_capsule_c
        assert collision_driver._COLLISION_FUNC[KEY] is plane_capsule_c
    assert collision_driver._COLLISION_FUNC[KEY] is original
    with pytest.raises(RuntimeError, match="inside"), c_contact_frames():
        raise RuntimeError("inside")
    assert collision_driver._COLLISION_FUNC[KEY] is original
    assert plane_capsule_c.ncon == original.ncon == 2


@pytest.mark.parametrize(("normal", "tangent", "expected_y"), [
    ([0.0, 0.0, 2.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]),  # tangent along the normal: C's degenerate (1,0,0)
    ([0.0, 0.0, 1.0], [0.3, 0.0, 0.1], [0.0, 1.0, 0.0]),   # |tangent|² < 0.25 and |x_y| < 0.5: (0,1,0)
    ([0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]),   # |tangent|² < 0.25 and |x_y| >= 0.5: (0,0,1)
    ([0.0, 0.0, 1.0], [0.6, 0.8, 0.5], [0.6, 0.8, 0.0]),   # orthogonalised against the normal, normalised
])
def test_make_frame_rule(normal: list[float], tangent: list[float], expected_y: list[float]) -> None:
    frame = np.asarray(c_contact_frame(jnp.array(normal), jnp.array(tangent)))
    x = np.array(normal) / np.linalg.norm(normal)
    np.testing.assert_allclose(frame[0], x, atol=1e-7)
    np.testing.assert_allclose(frame[1], expected_y, atol=1e-7)
    np.testing.assert_allclose(frame[2], np.cross(x, expected_y), atol=1e-7)


def _humanoid_states(count: int) -> tuple[mujoco.MjModel, list[mujoco.MjData]]:
    """C states of dm_control's humanoid (random actions from seeded resets) with a capsule within 25° of the
    floor's normal in contact; at most one state per touchdown (states at least 20 sub-steps apart)."""
    from dm_control import suite

    env = suite.load("humanoid", "run", task_kwargs={"random": 0})
    model, data = env.physics.model.ptr, env.physics.data.ptr
    rng = np.random.default_rng(0)
    states: list[mujoco.MjData] = []
    last = -100
    plane, capsule = mujoco.mjtGeom.mjGEOM_PLANE, mujoco.mjtGeom.mjGEOM_CAPSULE
    env.reset()
    for t in range(5000):
        data.ctrl[:] = rng.uniform(-1, 1, model.nu)
        mujoco.mj_step(model, data)
        types = model.geom_type[data.contact.geom]  # (ncon, 2): plane first, as MuJoCo orders a pair's types
        for (_, g2), (t1, t2) in zip(data.contact.geom, types, strict=True):
            near_vertical = abs(data.geom_xmat[g2][8]) > np.cos(np.radians(25))  # |capsule axis · z|
            if (t1, t2) == (plane, capsule) and near_vertical and t - last >= 20:
                snapshot = mujoco.MjData(model)
                mujoco.mj_copyData(snapshot, model, data)
                states.append(snapshot)
                last = t
        if len(states) == count:
            return model, states
    raise AssertionError(f"found {len(states)} of {count} states")


@pytest.mark.slow
def test_humanoid_substep_matches_c_with_c_frames() -> None:
    """float64, from C states with a near-vertical capsule on the floor: max |qvel_MJX - qvel_C| after one
    sub-step, with MJX's rule (off by O(1)) and with C's (the rest is capsule-capsule round-off, < 1e-3)."""
    model, states = _humanoid_states(8)
    expected = []
    for data in states:
        after = mujoco.MjData(model)
        mujoco.mj_copyData(after, model, data)
        mujoco.mj_step(model, after)
        expected.append(after.qvel.copy())
    expected = np.stack(expected)
    with jax.enable_x64(True):
        mx = mjx.put_model(model)
        batch = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[mjx.put_data(model, d) for d in states])

        def qvel_after_step() -> np.ndarray:
            return np.asarray(jax.jit(jax.vmap(lambda d: mjx.step(mx, d).qvel))(batch))

        err_mjx = np.abs(qvel_after_step() - expected).max(axis=1)
        with c_contact_frames():
            err_c = np.abs(qvel_after_step() - expected).max(axis=1)
    print(f"humanoid, one sub-step, max|dqvel| per state: MJX rule {err_mjx}, C rule {err_c}")
    assert err_c.max() < 1e-3, err_c
    assert err_mjx.max() > 100 * err_c.max(), (err_mjx, err_c)
