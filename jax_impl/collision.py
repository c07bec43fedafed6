"""MuJoCo C's plane–capsule contact frame for MJX.

MJX's `plane_capsule` collider (MJX 3.17) takes the first tangent of the contact frame from the capsule axis
projected on the plane, but replaces it with a fixed `(0,1,0)` or `(0,0,1)` whenever that projection is shorter
than 0.5, i.e. whenever the capsule is within 30° of the plane normal. MuJoCo C (`mjc_PlaneCapsule`, then
`mju_makeFrame`) has no such fallback: it always orthogonalises the capsule axis against the normal. With
pyramidal friction cones the pyramid's edges follow the tangents, so the two rules give different friction
forces and different dynamics (on dm_control's humanoid, one float64 sub-step's qvel by up to 1.2).

C's frame, rows x, y, z (n = plane z axis, a = capsule z axis): x = n/|n|; y = (a - x (x·a))/|a - x (x·a)|,
or (1,0,0) when that norm is below 1e-15 (capsule exactly along the normal); z = x × y.

`plane_capsule_c` is a drop-in collider with C's frame; `c_contact_frames()` installs it in MJX's collision
table while active. MJX reads that table when a step is *traced*, so the context must surround the tracing
(e.g. the body of a jitted function); a function already compiled outside the context keeps MJX's rule. Only
MJX's JAX implementation (`impl="jax"`) uses this table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from mujoco import mjx

MJMINVAL = 1e-15  # MuJoCo C's mjMINVAL: mju_normalize3 returns (1,0,0) below this norm
_PLANE_CAPSULE = (mjx.GeomType.PLANE, mjx.GeomType.CAPSULE)


def _normalize3_c(v: jax.Array) -> jax.Array:
    """MuJoCo C's mju_normalize3: v/|v|, or (1,0,0) when |v| < mjMINVAL."""
    norm = jnp.sqrt(jnp.dot(v, v))
    small = norm < MJMINVAL
    unit_x = jnp.array([1.0, 0.0, 0.0], dtype=v.dtype)
    return jnp.where(small, unit_x, v / jnp.where(small, 1.0, norm))


def c_contact_frame(normal: jax.Array, tangent: jax.Array) -> jax.Array:
    """MuJoCo C's `mju_makeFrame` on `[normal, tangent, *]`; rows of the (3, 3) result are the frame's axes.

    x = normal/|normal|;
    t = tangent, or, when |tangent|² < 0.25, (0,1,0) if -0.5 < x_y < 0.5 else (0,0,1);
    y = normalize(t - x (x·t)), where normalize gives (1,0,0) for a norm below mjMINVAL = 1e-15 (C's degenerate
    case: a tangent parallel to the normal; this y is then orthogonal to x only when x ⟂ (1,0,0));
    z = x × y.
    """
    x = _normalize3_c(normal)
    default = jnp.where((-0.5 < x[1]) & (x[1] < 0.5), jnp.array([0.0, 1.0, 0.0]), jnp.array([0.0, 0.0, 1.0]))
    t = jnp.where(jnp.dot(tangent, tangent) < 0.25, default.astype(tangent.dtype), tangent)
    y = _normalize3_c(t - x * jnp.dot(x, t))
    return jnp.stack([x, y, jnp.cross(x, y)])


def _plane_capsule_one(plane_pos: jax.Array, plane_mat: jax.Array, cap_pos: jax.Array, cap_mat: jax.Array,
                       cap_size: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Two contacts (the capsule's end spheres against the plane), as `mjc_PlaneCapsule`.

    n = plane z axis, a = capsule z axis, r = radius, h = half-length; for each end e = c ± h a:
    dist = (e - p)·n - r, pos = e - n (r + dist/2); both contacts get the frame makeFrame([n, a]).
    """
    n, axis = plane_mat[:, 2], cap_mat[:, 2]
    frame = c_contact_frame(n, axis)
    radius, segment = cap_size[0], axis * cap_size[1]
    ends = jnp.stack([cap_pos + segment, cap_pos - segment])
    dist = (ends - plane_pos) @ n - radius
    pos = ends - n[None, :] * (radius + 0.5 * dist)[:, None]
    return dist, pos, jnp.stack([frame, frame])


def plane_capsule_c(m: mjx.Model, d: mjx.Data, key: Any, geom: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """MJX collider for (plane, capsule) pairs `geom` (P, 2) with C's contact frame.

    Same signature and return as MJX's `plane_capsule`: dist (2P,), pos (2P, 3), frame (2P, 3, 3), the two
    contacts of pair i at rows 2i (end c + h a) and 2i+1 (end c - h a).
    """
    del key
    g1, g2 = geom.T
    dist, pos, frame = jax.vmap(_plane_capsule_one)(d.geom_xpos[g1], d.geom_xmat[g1], d.geom_xpos[g2],
                                                    d.geom_xmat[g2], m.geom_size[g2])
    return dist.reshape(-1), pos.reshape(-1, 3), frame.reshape(-1, 3, 3)


plane_capsule_c.ncon = 2  # type: ignore[attr-defined]  # contacts per pair, read by MJX's collision driver


def _collision_table() -> dict:
    """MJX's table (geom type pair -> collider); a clear error when this MJX version has none."""
    from mujoco.mjx._src import collision_driver

    table = getattr(collision_driver, "_COLLISION_FUNC", None)
    if not isinstance(table, dict) or _PLANE_CAPSULE not in table:
        raise ValueError("this MJX version has no collision table `collision_driver._COLLISION_FUNC` with a "
                         "(PLANE, CAPSULE) entry; c_contact_frames() supports MJX 3.17.")
    return table


@contextlib.contextmanager
def c_contact_frames() -> Iterator[None]:
    """While active, MJX collides planes with capsules through `plane_capsule_c` (C's contact frame).

    Acts on what is traced inside the context; the previous table entry is restored on exit (also on error),
    so nested use is safe.
    """
    table = _collision_table()
    previous = table[_PLANE_CAPSULE]
    table[_PLANE_CAPSULE] = plane_capsule_c
    try:
        yield
    finally:
        table[_PLANE_CAPSULE] = previous
