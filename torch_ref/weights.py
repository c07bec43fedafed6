"""torch_ref <-> canonical weights (tdmpc_parity/core/weights.py). The state dict already is the canonical format."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from tdmpc_parity.core.weights import Canonical, check_against
from torch_ref.world_model import WorldModel


def to_canonical(model: WorldModel) -> Canonical:
    """Every tensor of the state dict as a NumPy array (same names and layouts)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_canonical(model: WorldModel, canon: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights; every key and shape is checked first, so a mismatch changes nothing."""
    state = model.state_dict()
    check_against({k: tuple(v.shape) for k, v in state.items()}, canon, "canonical -> torch_ref")
    with torch.no_grad():
        for key, tensor in state.items():
            tensor.copy_(torch.as_tensor(np.asarray(canon[key])).to(tensor.dtype))
