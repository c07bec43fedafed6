"""MJX vs MuJoCo C: the contact frame of a near-vertical capsule on a plane (pyramidal cones).

Needs only mujoco, mujoco-mjx, numpy and jax. Runs in float64, so a difference is not round-off.
Prints C's and MJX's contact frames and the qvel after one `mj_step` / `mjx.step` from the same state, then
the same with MJX's (plane, capsule) collider replaced by C's rule; exits 1 when MJX's frame or qvel differs
from C's.
"""

import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx
from mujoco.mjx._src import collision_driver

XML = """
<mujoco>
  <option timestep="0.005" cone="pyramidal"/>
  <worldbody>
    <geom type="plane" size="5 5 0.1" friction="1"/>
    <body>
      <freejoint/>
      <geom type="capsule" size="0.05 0.2" density="1000"/>
    </body>
  </worldbody>
</mujoco>
"""
TILT_DEG = 20.0  # capsule axis 20° from the plane normal: inside MJX's 30° fallback band
KEY = (mjx.GeomType.PLANE, mjx.GeomType.CAPSULE)


def initial_data(model: mujoco.MjModel) -> mujoco.MjData:
    """Capsule tilted by TILT_DEG about (cos 30°, sin 30°, 0), lower end 2 mm into the plane, sliding along x."""
    data = mujoco.MjData(model)
    tilt, azimuth = np.radians(TILT_DEG), np.radians(30.0)
    data.qpos[:3] = [0.0, 0.0, 0.2 * np.cos(tilt) + 0.05 - 0.002]
    data.qpos[3:] = [np.cos(tilt / 2), *(np.sin(tilt / 2) * np.array([np.cos(azimuth), np.sin(azimuth), 0.0]))]
    data.qvel[:3] = [1.0, 0.0, 0.0]
    mujoco.mj_forward(model, data)
    return data


def mjx_step(model: mujoco.MjModel, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """One mjx.step from `data`, traced afresh: (frame of the lower end's contact, qvel after the step)."""
    mx = mjx.put_model(model)
    out = jax.jit(lambda d: mjx.step(mx, d))(mjx.put_data(model, data))  # a new function: traced now
    return np.asarray(out._impl.contact.frame[1]).ravel(), np.asarray(out.qvel)


def plane_capsule_c_rule(m, d, key, geom):
    """Fix sketch: MJX's plane_capsule with C's tangent, makeFrame([n, axis]) = normalize(a - n (n·a))."""
    g1, g2 = geom.T

    def one(plane_pos, plane_mat, cap_pos, cap_mat, size):
        n, axis = plane_mat[:, 2], cap_mat[:, 2]
        b = axis - n * jnp.dot(n, axis)
        b_norm = jnp.linalg.norm(b)
        b = jnp.where(b_norm < 1e-15, jnp.array([1.0, 0.0, 0.0]), b / jnp.maximum(b_norm, 1e-15))  # C: mjMINVAL
        frame = jnp.stack([n, b, jnp.cross(n, b)])
        ends = jnp.stack([cap_pos + axis * size[1], cap_pos - axis * size[1]])
        dist = (ends - plane_pos) @ n - size[0]
        pos = ends - n * (size[0] + 0.5 * dist)[:, None]
        return dist, pos, jnp.stack([frame, frame])

    dist, pos, frame = jax.vmap(one)(d.geom_xpos[g1], d.geom_xmat[g1], d.geom_xpos[g2], d.geom_xmat[g2],
                                     m.geom_size[g2])
    return dist.reshape(-1), pos.reshape(-1, 3), frame.reshape(-1, 3, 3)


plane_capsule_c_rule.ncon = 2


def main() -> int:
    jax.config.update("jax_enable_x64", True)
    model = mujoco.MjModel.from_xml_string(XML)
    data = initial_data(model)
    after = mujoco.MjData(model)
    mujoco.mj_copyData(after, model, data)
    mujoco.mj_step(model, after)
    c_frame = data.contact.frame[0]  # C keeps only the lower end's contact (the upper one is beyond the margin)

    frame, qvel = mjx_step(model, data)
    original = collision_driver._COLLISION_FUNC[KEY]
    collision_driver._COLLISION_FUNC[KEY] = plane_capsule_c_rule
    try:
        frame_fix, qvel_fix = mjx_step(model, data)
    finally:
        collision_driver._COLLISION_FUNC[KEY] = original

    np.set_printoptions(precision=6, suppress=True, linewidth=120)
    print(f"mujoco {mujoco.__version__}, jax {jax.__version__}; capsule {TILT_DEG}° from the plane normal, "
          "cone=pyramidal, float64")
    print("C   frame", c_frame)
    print("MJX frame", frame)
    print("C   qvel after one step", after.qvel)
    print("MJX qvel after one step", qvel)
    frame_err, qvel_err = np.abs(frame - c_frame).max(), np.abs(qvel - after.qvel).max()
    print(f"MJX vs C:               max|frame diff| {frame_err:.3g}, max|qvel diff| {qvel_err:.3g}")
    print(f"MJX with C's rule vs C: max|frame diff| {np.abs(frame_fix - c_frame).max():.3g}, "
          f"max|qvel diff| {np.abs(qvel_fix - after.qvel).max():.3g}")
    return int(frame_err > 1e-9 or qvel_err > 1e-6)


if __name__ == "__main__":
    sys.exit(main())
