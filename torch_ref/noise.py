"""Random wrappers' one source of noise: draw the arrays named in `harness.noise` with a torch Generator."""

from __future__ import annotations

import torch

from harness.config import Config
from harness.noise import NoiseSpec


def draw(specs: dict[str, NoiseSpec], generator: torch.Generator, cfg: Config,
         device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Draw each spec (see harness.noise for the kinds) on `device` from `generator`."""
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
            n = 1
            for d in spec.shape[:-1]:
                n *= d
            pairs = [torch.randperm(cfg.num_q, generator=generator, device=device)[:2] for _ in range(n)]
            out[name] = torch.stack(pairs).reshape(spec.shape)
        elif spec.kind.startswith("index:"):
            high = int(spec.kind[6:])
            out[name] = torch.randint(0, high, spec.shape, generator=generator, device=device)
        else:
            raise ValueError(f"noise {name!r}: unknown kind {spec.kind!r}")
    return out
