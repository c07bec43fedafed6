"""Layers of the official `common/layers.py`: NormedLinear, SimNorm, mlp and the vectorised Q ensemble.

State-dict keys equal the official checkpoint's (`0.weight`, `0.ln.weight`, ... and `params.0.weight` stacked
over heads for the ensemble), so official checkpoints load with a rename of the target ensemble only.

Every linear layer applies `linear` with the config's matmul mode explicit (runtime.py): 'highest' / 'high' are
float32 matmuls (TF32 on CUDA is set around the agent's computations by `runtime.matmul_precision`); 'bf16'
computes y = float32(the bfloat16 product bf16(x) @ bf16(W)^T) + b (parameters stay float32, the bias add, LayerNorm and
activations run in float32), as jax_impl/layers.py `linear`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-5  # torch LayerNorm default (flax's default is 1e-6: the JAX side sets 1e-5 explicitly)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, precision: str) -> torch.Tensor:
    """y = x W^T + b; 'bf16': the matmul in bfloat16 (inputs and weights cast), its result cast back to x's
    dtype before the bias; the casts' backward makes the gradient matmuls bfloat16 too."""
    if precision == "bf16":
        return F.linear(x.to(torch.bfloat16), weight.to(torch.bfloat16)).to(x.dtype) + bias
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """nn.Linear whose matmul runs at `precision` ('highest' | 'high' | 'bf16', see `linear`)."""

    def __init__(self, in_features: int, out_features: int, precision: str = "highest"):
        super().__init__(in_features, out_features)
        self.precision = precision

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias, self.precision)


class SimNorm(nn.Module):
    """Softmax over contiguous groups of `dim` features: x -> reshape(..., D/dim, dim) -> softmax -> reshape."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shp = x.shape
        x = x.view(*shp[:-1], -1, self.dim)
        return F.softmax(x, dim=-1).view(*shp)

    def extra_repr(self) -> str:  # parity: not compared (printing only)
        return f"dim={self.dim}"


class NormedLinear(Linear):
    """Linear -> LayerNorm(eps 1e-5) -> activation (Mish by default). Dropout lives in the Q ensemble only."""

    def __init__(self, in_features: int, out_features: int, act: nn.Module | None = None,
                 precision: str = "highest"):
        super().__init__(in_features, out_features, precision)
        self.ln = nn.LayerNorm(out_features, eps=LN_EPS)
        self.act = act if act is not None else nn.Mish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.ln(super().forward(x)))


def mlp(in_dim: int, hidden: list[int], out_dim: int, act: nn.Module | None = None,
        precision: str = "highest") -> nn.Sequential:
    """NormedLinear for each hidden layer; last layer NormedLinear(act) if act else plain Linear."""
    dims = [in_dim, *hidden, out_dim]
    layers: list[nn.Module] = [NormedLinear(dims[i], dims[i + 1], precision=precision)
                               for i in range(len(dims) - 2)]
    layers.append(NormedLinear(dims[-2], dims[-1], act=act, precision=precision) if act is not None
                  else Linear(dims[-2], dims[-1], precision))
    return nn.Sequential(*layers)


class _StackedLN(nn.Module):
    """Per-head LayerNorm affine parameters, stacked: weight/bias (num_q, features)."""

    def __init__(self, num_q: int, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_q, features))
        self.bias = nn.Parameter(torch.zeros(num_q, features))


class _StackedLinear(nn.Module):
    """Per-head Linear parameters, stacked: weight (num_q, out, in), bias (num_q, out); optional LN."""

    def __init__(self, num_q: int, in_features: int, out_features: int, normed: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_q, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(num_q, out_features))
        if normed:
            self.ln = _StackedLN(num_q, out_features)


class QEnsemble(nn.Module):
    """num_q copies of mlp(in, [mlp_dim, mlp_dim], num_bins) with dropout p after the first Linear.

    Parameters are stacked on a leading head axis (official `layers.Ensemble`). `forward` is the pure core:
    dropout happens only where a keep-mask (num_q, ..., mlp_dim) of 0/1 is passed in; kept values are
    scaled by 1/(1 - p) as torch's Dropout does. Each head thus gets its own independent mask.
    """

    def __init__(self, in_dim: int, mlp_dim: int, out_dim: int, num_q: int, dropout: float,
                 precision: str = "highest"):
        super().__init__()
        self.num_q, self.dropout, self.precision = num_q, dropout, precision
        self.params = nn.ModuleList([
            _StackedLinear(num_q, in_dim, mlp_dim, normed=True),
            _StackedLinear(num_q, mlp_dim, mlp_dim, normed=True),
            _StackedLinear(num_q, mlp_dim, out_dim, normed=False),
        ])
        self.act = nn.Mish()

    def forward(self, x: torch.Tensor, keep_mask: torch.Tensor | None = None,
                detach: bool = False, heads: torch.Tensor | None = None) -> torch.Tensor:
        """x (..., in) shared by every head -> logits (num_q, ..., out).

        `heads` (k,) evaluates only those heads (their parameters gathered first; keep_mask still has all
        num_q heads and is gathered alike) -> (k, ..., out): the same logits as `forward(x)[heads]`."""
        lead = x.shape[:-1]
        n = self.num_q if heads is None else heads.shape[0]
        pick = (lambda t: t) if heads is None else (lambda t: t[heads])
        if keep_mask is not None:
            keep_mask = pick(keep_mask)
        h = x.reshape(1, -1, x.shape[-1]).expand(n, -1, -1)
        for i, layer in enumerate(self.params):
            w, b = pick(layer.weight), pick(layer.bias)
            if detach:
                w, b = w.detach(), b.detach()
            if self.precision == "bf16":  # as `linear`: bfloat16 matmul, float32 result and bias
                h = torch.bmm(h.to(torch.bfloat16), w.transpose(1, 2).to(torch.bfloat16)).to(h.dtype) + b.unsqueeze(1)
            else:
                h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            if i == 0 and keep_mask is not None:
                h = h * keep_mask.reshape(n, -1, h.shape[-1]) * (1.0 / (1.0 - self.dropout))
            if hasattr(layer, "ln"):
                g, beta = pick(layer.ln.weight), pick(layer.ln.bias)
                if detach:
                    g, beta = g.detach(), beta.detach()
                h = F.layer_norm(h, h.shape[-1:], eps=LN_EPS) * g.unsqueeze(1) + beta.unsqueeze(1)
                h = self.act(h)
        return h.reshape(n, *lead, h.shape[-1])

