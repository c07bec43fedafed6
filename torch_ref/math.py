"""Math helpers of the official `common/math.py` (symlog, two-hot, soft CE, policy log-prob, Gumbel draw)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tdmpc_parity.core.config import Config

LOG_SQRT_2PI = 0.9189385175704956  # 0.5 * log(2 pi), applied once per action dimension


def symlog(x: torch.Tensor) -> torch.Tensor:
    """symlog(x) = sign(x) * log(1 + |x|)."""
    return torch.sign(x) * torch.log(1 + torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    """symexp(x) = sign(x) * (exp(|x|) - 1)."""
    return torch.sign(x) * (torch.exp(torch.abs(x)) - 1)


def two_hot(x: torch.Tensor, cfg: Config) -> torch.Tensor:
    """(B, 1) scalars -> (B, num_bins): weight 1 - d at bin k, d at bin (k + 1) mod num_bins,
    where y = clamp(symlog(x), vmin, vmax), k = floor((y - vmin)/bin_size), d = (y - vmin)/bin_size - k."""
    y = torch.clamp(symlog(x), cfg.vmin, cfg.vmax).squeeze(1)
    bin_idx = torch.floor((y - cfg.vmin) / cfg.bin_size)
    bin_offset = ((y - cfg.vmin) / cfg.bin_size - bin_idx).unsqueeze(-1)
    out = torch.zeros(y.shape[0], cfg.num_bins, device=x.device, dtype=x.dtype)
    bin_idx = bin_idx.long().unsqueeze(1)
    out = out.scatter(1, bin_idx, 1 - bin_offset)
    return out.scatter(1, (bin_idx + 1) % cfg.num_bins, bin_offset)


def bin_centres(cfg: Config, like: torch.Tensor) -> torch.Tensor:
    """c_j = linspace(vmin, vmax, num_bins)."""
    return torch.linspace(cfg.vmin, cfg.vmax, cfg.num_bins, device=like.device, dtype=like.dtype)


def two_hot_inv(logits: torch.Tensor, cfg: Config) -> torch.Tensor:
    """(..., num_bins) logits -> (..., 1): symexp(sum_j softmax(logits)_j * c_j)."""
    probs = F.softmax(logits, dim=-1)
    return symexp(torch.sum(probs * bin_centres(cfg, logits), dim=-1, keepdim=True))


def soft_ce(pred: torch.Tensor, target: torch.Tensor, cfg: Config) -> torch.Tensor:
    """(B, num_bins) logits, (B, 1) scalar targets -> (B, 1): -sum_j two_hot(target)_j log_softmax(pred)_j."""
    return -(two_hot(target, cfg) * F.log_softmax(pred, dim=-1)).sum(-1, keepdim=True)


def log_std(x: torch.Tensor, low: torch.Tensor | float, dif: torch.Tensor | float) -> torch.Tensor:
    """log_std = low + dif/2 * (tanh(x) + 1), in [low, low + dif]."""
    return low + 0.5 * dif * (torch.tanh(x) + 1)


def gaussian_logprob(eps: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """sum_i (-eps_i^2/2 - log_std_i - log sqrt(2 pi)), keepdim."""
    residual = -0.5 * eps.pow(2) - log_std
    return (residual - LOG_SQRT_2PI).sum(-1, keepdim=True)


def squash(mu: torch.Tensor, pi: torch.Tensor, log_pi: torch.Tensor):
    """tanh-squash mean and sample; log_pi -= sum_i log(relu(1 - tanh(u_i)^2) + 1e-6)."""
    mu = torch.tanh(mu)
    pi = torch.tanh(pi)
    log_pi = log_pi - torch.log(F.relu(1 - pi.pow(2)) + 1e-6).sum(-1, keepdim=True)
    return mu, pi, log_pi


def gumbel_softmax_sample(p: torch.Tensor, gumbel: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Categorical(p) draw by Gumbel-max with injected Gumbel(0, 1) noise: argmax softmax(log p + g)."""
    return torch.softmax(p.log() + gumbel, dim=dim).argmax(dim)

