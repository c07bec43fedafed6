"""Math helpers of the official `common/math.py` (symlog, two-hot, soft CE, policy log-prob, Gumbel draw)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tdmpc_parity.core.config import Config

LOG_SQRT_2PI = 0.9189385175704956  # 0.5 * log(2 pi), applied once per action dimension


def symlog(x: jax.Array) -> jax.Array:
    """symlog(x) = sign(x) * log(1 + |x|)."""
    return jnp.sign(x) * jnp.log(1 + jnp.abs(x))


def symexp(x: jax.Array) -> jax.Array:
    """symexp(x) = sign(x) * (exp(|x|) - 1)."""
    return jnp.sign(x) * (jnp.exp(jnp.abs(x)) - 1)


def two_hot(x: jax.Array, cfg: Config) -> jax.Array:
    """(B, 1) scalars -> (B, num_bins): weight 1 - d at bin k, d at bin (k + 1) mod num_bins,
    where y = clamp(symlog(x), vmin, vmax), k = floor((y - vmin)/bin_size), d = (y - vmin)/bin_size - k."""
    y = jnp.clip(symlog(x), cfg.vmin, cfg.vmax)[..., 0]
    bin_idx = jnp.floor((y - cfg.vmin) / cfg.bin_size)
    bin_offset = ((y - cfg.vmin) / cfg.bin_size - bin_idx)[..., None]
    k = bin_idx.astype(jnp.int32)
    lower = jax.nn.one_hot(k, cfg.num_bins, dtype=x.dtype)
    upper = jax.nn.one_hot((k + 1) % cfg.num_bins, cfg.num_bins, dtype=x.dtype)
    return lower * (1 - bin_offset) + upper * bin_offset


def bin_centres(cfg: Config, dtype) -> jax.Array:
    """c_j = linspace(vmin, vmax, num_bins)."""
    return jnp.linspace(cfg.vmin, cfg.vmax, cfg.num_bins, dtype=dtype)


def two_hot_inv(logits: jax.Array, cfg: Config) -> jax.Array:
    """(..., num_bins) logits -> (..., 1): symexp(sum_j softmax(logits)_j * c_j)."""
    probs = jax.nn.softmax(logits, axis=-1)
    return symexp(jnp.sum(probs * bin_centres(cfg, logits.dtype), axis=-1, keepdims=True))


def soft_ce(pred: jax.Array, target: jax.Array, cfg: Config) -> jax.Array:
    """(B, num_bins) logits, (B, 1) scalar targets -> (B, 1): -sum_j two_hot(target)_j log_softmax(pred)_j."""
    return -(two_hot(target, cfg) * jax.nn.log_softmax(pred, axis=-1)).sum(-1, keepdims=True)


def log_std(x: jax.Array, low: float, dif: float) -> jax.Array:
    """log_std = low + dif/2 * (tanh(x) + 1), in [low, low + dif]."""
    return low + 0.5 * dif * (jnp.tanh(x) + 1)


def gaussian_logprob(eps: jax.Array, log_std: jax.Array) -> jax.Array:
    """sum_i (-eps_i^2/2 - log_std_i - log sqrt(2 pi)), keepdims."""
    residual = -0.5 * eps**2 - log_std
    return (residual - LOG_SQRT_2PI).sum(-1, keepdims=True)


def squash(mu: jax.Array, pi: jax.Array, log_pi: jax.Array):
    """tanh-squash mean and sample; log_pi -= sum_i log(relu(1 - tanh(u_i)^2) + 1e-6)."""
    mu = jnp.tanh(mu)
    pi = jnp.tanh(pi)
    log_pi = log_pi - jnp.log(jax.nn.relu(1 - pi**2) + 1e-6).sum(-1, keepdims=True)
    return mu, pi, log_pi


def gumbel_softmax_sample(p: jax.Array, gumbel: jax.Array, axis: int = -1) -> jax.Array:
    """Categorical(p) draw by Gumbel-max with injected Gumbel(0, 1) noise: argmax softmax(log p + g)."""
    return jnp.argmax(jax.nn.softmax(jnp.log(p) + gumbel, axis=axis), axis=axis)
