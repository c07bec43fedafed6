"""Random wrappers' one source of noise: draw the arrays named in `tdmpc_parity.core.noise` with a JAX key."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.noise import NoiseSpec


def _pairs(key: jax.Array, shape: tuple[int, ...], num_q: int) -> jax.Array:
    """Two distinct heads per leading index: the first 2 of a random permutation."""
    n = 1
    for d in shape[:-1]:
        n *= d
    keys = jax.random.split(key, n)
    perms = jax.vmap(lambda k: jax.random.permutation(k, num_q)[:2])(keys)
    return perms.reshape(shape).astype(jnp.int32)


def draw(specs: dict[str, NoiseSpec], key: jax.Array, cfg: Config, dtype) -> dict[str, jax.Array]:
    """Draw each spec (see tdmpc_parity.core.noise for the kinds) from one key (split per array, in spec order)."""
    keys = jax.random.split(key, len(specs))
    out: dict[str, jax.Array] = {}
    for k, (name, spec) in zip(keys, specs.items(), strict=True):
        if spec.kind == "normal":
            out[name] = jax.random.normal(k, spec.shape, dtype)
        elif spec.kind == "gumbel":
            out[name] = -jnp.log(jax.random.exponential(k, spec.shape, dtype))
        elif spec.kind == "uniform":
            out[name] = jax.random.uniform(k, spec.shape, dtype, -1.0, 1.0)
        elif spec.kind == "keep":
            out[name] = (jax.random.uniform(k, spec.shape, dtype) >= cfg.dropout).astype(dtype)
        elif spec.kind == "pair":
            out[name] = _pairs(k, spec.shape, cfg.num_q)
        elif spec.kind.startswith("index:"):
            out[name] = jax.random.randint(k, spec.shape, 0, int(spec.kind[6:]))
        else:
            raise ValueError(f"noise {name!r}: unknown kind {spec.kind!r}")
    return out
