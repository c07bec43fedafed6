"""RunningScale of the official `common/scale.py`: an EMA of the batch's 5-95 percentile range of Q.

value <- value + tau * (max(P95(x) - P5(x), 1) - value), value starts at 1. Percentiles interpolate linearly
between sorted positions floor(p (B - 1)/100) and the next one (clipped to B - 1): 12.75 / 242.25 at B = 256.
The policy loss divides Q by `value`; nothing else uses it. Functional: the value is part of the agent state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

PERCENTILES = (5.0, 95.0)


def percentile_positions(batch: int, percentiles=PERCENTILES):
    """(floored, ceiled, weight_floored, weight_ceiled) per percentile, computed in float32 as official."""
    p = np.asarray(percentiles, dtype=np.float32)
    positions = p * np.float32(batch - 1) / np.float32(100)
    floored = np.floor(positions)
    ceiled = np.minimum(floored + 1, batch - 1)
    weight_ceiled = positions - floored
    return floored.astype(np.int32), ceiled.astype(np.int32), 1.0 - weight_ceiled, weight_ceiled


def percentiles_of(x: jax.Array, percentiles=PERCENTILES) -> jax.Array:
    """Percentiles along the batch axis 0 of x (B, ...), shape (len(percentiles), ...)."""
    flat = x.reshape(x.shape[0], -1) if x.ndim > 1 else x[:, None]
    srt = jnp.sort(flat, axis=0)
    fl, ce, wf, wc = percentile_positions(flat.shape[0], percentiles)
    out = srt[fl] * wf.astype(x.dtype)[:, None] + srt[ce] * wc.astype(x.dtype)[:, None]
    return out.reshape(-1, *x.shape[1:])


def scale_update(value: jax.Array, x: jax.Array, tau: float) -> jax.Array:
    """Pure update: value + tau * (max(P95 - P5, 1) - value)."""
    pct = percentiles_of(jax.lax.stop_gradient(x))
    r = jnp.maximum(pct[1] - pct[0], 1.0).reshape(value.shape).astype(value.dtype)
    return value + tau * (r - value)


def init_scale(dtype) -> jax.Array:
    return jnp.ones((1,), dtype)
