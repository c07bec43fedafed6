"""Layers of the official `common/layers.py` in Flax: NormedLinear, SimNorm, mlp and the vmapped Q ensemble.

Traps handled here: LayerNorm eps 1e-5 (flax default 1e-6) with the two-pass variance torch uses; weights
N(0, 0.02) (torch's trunc_normal bounds are absolute, +-2, i.e. ~100 sigma: effectively untruncated, while
flax's truncated_normal cuts at 2 sigma); the Q ensemble is one module vmapped over a leading head axis with
independent parameters and an independent dropout keep-mask per head.

Every linear layer is built by `linear` with the config's matmul mode explicit (runtime.py): 'highest' /
'high' set `precision=` on its dot (float32 / TF32 allowed on GPU); 'bf16' computes
y = round_bf16(bf16(x) @ bf16(W)) + b with float32 accumulation, forward and backward as torch's autograd
(`bf16_matmul`; parameters stay float32, the bias add, LayerNorm and activations run in float32), as
torch_ref/layers.py `linear`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

LN_EPS = 1e-5
weight_init = nn.initializers.normal(stddev=0.02)
PRECISIONS = {"highest": jax.lax.Precision.HIGHEST, "high": jax.lax.Precision.HIGH}


def _round_bf16(x: jax.Array) -> jax.Array:
    """Round float32 values to bfloat16 values, kept in float32. An explicit `reduce_precision`: XLA drops a
    bf16 -> f32 convert after a dot (excess precision), which would skip torch's rounding of the product."""
    return jax.lax.reduce_precision(x, exponent_bits=8, mantissa_bits=7)


def _bf16_dot(a: jax.Array, b: jax.Array, dims: Any) -> jax.Array:
    """A bfloat16 dot (float32 accumulation), its result rounded to bfloat16 and returned as float32. The
    dot's output is bfloat16 (XLA CPU has no bf16 x bf16 -> f32 dot); XLA may keep it in float32, so the
    rounding is made explicit after the cast."""
    return _round_bf16(jax.lax.dot_general(a, b, dims, precision=jax.lax.Precision.DEFAULT).astype(jnp.float32))


@jax.custom_vjp
def bf16_matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """torch's `F.linear(x.bfloat16(), W.bfloat16()).float()` for x (..., in), w (in, out), float32 in/out.

    Backward as torch's autograd: the cotangent rounded to bfloat16, dx = bf16(g) @ bf16(W)^T and
    dW = bf16(x)^T bf16(g), each a bfloat16 matmul whose result is rounded to bfloat16."""
    return _bf16_matmul_fwd(x, w)[0]


def _bf16_matmul_fwd(x: jax.Array, w: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    return _bf16_dot(xb, wb, (((x.ndim - 1,), (0,)), ((), ()))), (xb, wb)


def _bf16_matmul_bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    xb, wb = res
    gb = g.astype(jnp.bfloat16)
    dx = _bf16_dot(gb, wb, (((gb.ndim - 1,), (1,)), ((), ())))
    dw = _bf16_dot(xb.reshape(-1, xb.shape[-1]), gb.reshape(-1, gb.shape[-1]), (((0,), (0,)), ((), ())))
    return dx, dw


bf16_matmul.defvjp(_bf16_matmul_fwd, _bf16_matmul_bwd)


def bf16_dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any, precision: Any = None,
                     preferred_element_type: Any = None) -> jax.Array:
    """nn.Dense's dot (x (..., in) @ kernel (in, out)) in the bf16 mode: `bf16_matmul`."""
    if tuple(map(tuple, dimension_numbers[0])) != ((lhs.ndim - 1,), (0,)) or any(dimension_numbers[1]):
        raise ValueError(f"bf16_dot_general supports nn.Dense's x @ kernel only, got {dimension_numbers}")
    return bf16_matmul(lhs, rhs)


def linear(features: int, precision: str, dtype: jnp.dtype, name: str) -> nn.Dense:
    """nn.Dense (weights N(0, 0.02), bias 0) whose matmul runs at `precision` ('highest' | 'high' | 'bf16')."""
    if precision == "bf16":
        return nn.Dense(features, kernel_init=weight_init, bias_init=nn.initializers.zeros, dtype=dtype,
                        param_dtype=dtype, dot_general=bf16_dot_general, name=name)
    return nn.Dense(features, kernel_init=weight_init, bias_init=nn.initializers.zeros, dtype=dtype,
                    param_dtype=dtype, precision=PRECISIONS[precision], name=name)


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
    precision: str = "highest"

    @nn.compact
    def __call__(self, x: jax.Array, keep_mask: jax.Array | None = None) -> jax.Array:
        x = linear(self.features, self.precision, self.dtype, "linear")(x)
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
    precision: str = "highest"

    @nn.compact
    def __call__(self, x: jax.Array, keep_mask: jax.Array | None = None) -> jax.Array:
        for i, width in enumerate(self.hidden):
            x = NormedLinear(width, dropout=self.dropout, dtype=self.dtype, precision=self.precision, name=str(i))(
                x, keep_mask if i == 0 else None)
        i = len(self.hidden)
        if self.act is not None:
            return NormedLinear(self.out, act=self.act, dtype=self.dtype, precision=self.precision, name=str(i))(x)
        return linear(self.out, self.precision, self.dtype, str(i))(x)


class QEnsemble(nn.Module):
    """num_q copies of mlp(in, [mlp_dim, mlp_dim], num_bins, dropout) vmapped over a leading head axis.

    x (..., in) is shared by every head; keep_mask (num_q, ..., mlp_dim) or None -> (num_q, ..., out).
    """

    mlp_dim: int
    out: int
    num_q: int
    dropout: float
    dtype: jnp.dtype = jnp.float32
    precision: str = "highest"

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
        return ensemble((self.mlp_dim, self.mlp_dim), self.out, None, self.dropout, self.dtype, self.precision,
                        name="heads")(x, keep_mask)
