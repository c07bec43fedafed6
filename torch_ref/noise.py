"""Random wrappers' one source of noise: draw the arrays named in `tdmpc_parity.core.noise` with a torch Generator."""

from __future__ import annotations

import torch

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.noise import NoiseSpec


def _pairs(shape: tuple[int, ...], num_q: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Two distinct heads per leading index, all in one draw: the first 2 of argsort(u), u ~ U[0, 1)^num_q i.i.d.

    The ranks of i.i.d. continuous values are a uniformly random permutation, so this is distributed as
    `torch.randperm(num_q)[:2]` (float64 uniforms: ties, which argsort would break by index, are negligible)."""
    n = 1
    for d in shape[:-1]:
        n *= d
    u = torch.rand((n, num_q), generator=generator, device=device, dtype=torch.float64)
    return u.argsort(dim=1)[:, :2].reshape(shape)


def draw(specs: dict[str, NoiseSpec], generator: torch.Generator, cfg: Config,
         device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Draw each spec (see tdmpc_parity.core.noise for the kinds) on `device` from `generator`."""
    out: dict[str, torch.Tensor] = {}
    for name, spec in specs.items():
        if spec.kind == "normal":
            out[name] = torch.randn(spec.shape, generator=generator, device=device, dtype=dtype)
        elif spec.kind == "gumbel":
            e = torch.empty(spec.shape, device=device, dtype=dtype).exponential_(generator=generator)
            out[name] = -e.log()
        elif spec.kind == "uniform":
            out[name] = torch.rand(spec.shape, generator=generator, device=device, dtype=dtype) * 2 - 1
        elif spec.kind == "keep":
            u = torch.rand(spec.shape, generator=generator, device=device, dtype=dtype)
            out[name] = (u >= cfg.dropout).to(dtype)
        elif spec.kind == "pair":
            out[name] = _pairs(spec.shape, cfg.num_q, generator, device)
        elif spec.kind.startswith("index:"):
            high = int(spec.kind[6:])
            out[name] = torch.randint(0, high, spec.shape, generator=generator, device=device)
        else:
            raise ValueError(f"noise {name!r}: unknown kind {spec.kind!r}")
    return out
