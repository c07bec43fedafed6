"""RunningScale of the official `common/scale.py`: an EMA of the batch's 5-95 percentile range of Q.

value <- value + tau * (max(P95(x) - P5(x), 1) - value), value starts at 1. Percentiles interpolate linearly
between sorted positions floor(p (B - 1)/100) and the next one (clipped to B - 1): 12.75 / 242.25 at B = 256.
The policy loss divides Q by `value`; nothing else uses it.
"""

from __future__ import annotations

import torch

PERCENTILES = (5.0, 95.0)


def percentile_positions(batch: int, percentiles=PERCENTILES):
    """(floored, ceiled, weight_floored, weight_ceiled) for each percentile, as the official `_positions`."""
    p = torch.tensor(percentiles, dtype=torch.float32)
    positions = p * (batch - 1) / 100
    floored = torch.floor(positions)
    ceiled = torch.clamp(floored + 1, max=batch - 1)
    weight_ceiled = positions - floored
    return floored.long(), ceiled.long(), 1.0 - weight_ceiled, weight_ceiled


def percentiles_of(x: torch.Tensor, percentiles=PERCENTILES) -> torch.Tensor:
    """Percentiles along the batch axis 0 of x (B, ...), shape (len(percentiles), ...)."""
    flat = x.flatten(1) if x.ndim > 1 else x.unsqueeze(1)
    srt = torch.sort(flat, dim=0).values
    fl, ce, wf, wc = percentile_positions(flat.shape[0], percentiles)
    wf = wf.to(x.dtype).to(x.device).unsqueeze(1)
    wc = wc.to(x.dtype).to(x.device).unsqueeze(1)
    out = srt[fl.to(x.device)] * wf + srt[ce.to(x.device)] * wc
    return out.reshape(-1, *x.shape[1:])


def scale_update(value: torch.Tensor, x: torch.Tensor, tau: float) -> torch.Tensor:
    """Pure update: lerp(value, max(P95 - P5, 1), tau)."""
    pct = percentiles_of(x.detach())
    r = torch.clamp(pct[1] - pct[0], min=1.0)
    return torch.lerp(value, r.reshape(value.shape).to(value.dtype), tau)


class RunningScale(torch.nn.Module):
    """Stateful wrapper holding `value` (shape (1,), starts at 1)."""

    def __init__(self, tau: float, device=None, dtype=torch.float32):
        super().__init__()
        self.tau = tau
        self.register_buffer("value", torch.ones(1, device=device, dtype=dtype))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:  # parity: not compared (stateful wrapper of the compared scale_update)
        self.value.copy_(scale_update(self.value, x, self.tau))

    # stateful wrapper of the compared scale_update
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # parity: not compared
        return x * (1 / self.value)
