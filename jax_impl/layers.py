"""Layers of the official `common/layers.py` in Flax: NormedLinear, SimNorm, mlp and the vmapped Q ensemble.

Traps handled here: LayerNorm eps 1e-5 (flax default 1e-6) with the two-pass variance torch uses; weights
N(0, 0.02) (torch's trunc_normal bounds are absolute, +-2, i.e. ~100 sigma: effectively untruncated, while
flax's truncated_normal cuts at 2 sigma); the Q ensemble is one module vmapped over a leading head axis with
independent parameters and an independent dropout keep-mask per head.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

LN_EPS = 1e-5
weight_init = nn.initializers.normal(stddev=0.02)


def mish(x: jax.Array) -> jax.Array:
    """Mish(x) = x * tanh(softplus(x))."""
    return x * jnp.tanh(jax.nn.softplus(x))


def simnorm(x: jax.Array, dim: int) -> jax.Array:
    """Softmax over contiguous groups of `dim` features."""
    shp = x.shape
    return jax.nn.softmax(x.reshape(*shp[:-1], -1, dim), axis=-1).reshape(shp)


class NormedLinear(nn.Module):
    """Linear -> [keep-mask dropout] -> LayerNorm(eps 1e-5) -> activation."""

    features: int
    act: Callable[[jax.Array], jax.Array] = mish
    dropout: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, keep_mask: jax.Array | None = None) -> jax.Array:
        x = nn.Dense(self.features, kernel_init=weight_init, bias_init=nn.initializers.zeros,
                     dtype=self.dtype, param_dtype=self.dtype, name="linear")(x)
        if keep_mask is not None:
            x = x * keep_mask * (1.0 / (1.0 - self.dropout))
        x = nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False, dtype=self.dtype, param_dtype=self.dtype,
                         name="ln")(x)
        return self.act(x)


class MLP(nn.Module):
    """NormedLinear for each hidden layer; last layer NormedLinear(act) if act else plain Linear.

    Layers are named "0", "1", ... as in the torch Sequential. Dropout (keep-mask) on the first layer only.
    """

    hidden: tuple[int, ...]
    out: int
    act: Callable[[jax.Array], jax.Array] | None = None
    dropout: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, keep_mask: jax.Array | None = None) -> jax.Array:
        for i, width in enumerate(self.hidden):
            x = NormedLinear(width, dropout=self.dropout, dtype=self.dtype, name=str(i))(
                x, keep_mask if i == 0 else None)
        i = len(self.hidden)
        if self.act is not None:
            return NormedLinear(self.out, act=self.act, dtype=self.dtype, name=str(i))(x)
        return nn.Dense(self.out, kernel_init=weight_init, bias_init=nn.initializers.zeros, dtype=self.dtype,
                        param_dtype=self.dtype, name=str(i))(x)


class QEnsemble(nn.Module):
    """num_q copies of mlp(in, [mlp_dim, mlp_dim], num_bins, dropout) vmapped over a leading head axis.

    x (..., in) is shared by every head; keep_mask (num_q, ..., mlp_dim) or None -> (num_q, ..., out).
    """

    mlp_dim: int
    out: int
    num_q: int
    dropout: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, keep_mask: jax.Array | None = None) -> jax.Array:
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=(None, 0),
            out_axes=0,
            axis_size=self.num_q,
        )
        return ensemble((self.mlp_dim, self.mlp_dim), self.out, None, self.dropout, self.dtype,
                        name="heads")(x, keep_mask)
