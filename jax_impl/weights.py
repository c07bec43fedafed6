"""jax_impl <-> canonical weights (tdmpc_parity/core/weights.py): Flax kernels are transposed, names mapped."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jax_impl.world_model import Params, WorldModel
from tdmpc_parity.core.weights import Canonical, WeightMismatch, canonical_from_tree, tree_from_canonical


def to_canonical(model: WorldModel, params: Params) -> Canonical:
    """The parameter dict (incl. `_target_Qs`) in canonical names, plus the log_std buffers."""
    tree = jax.tree.map(np.asarray, params)
    return canonical_from_tree(tree, {"log_std_min": np.float32(model.log_std_min),
                                      "log_std_dif": np.float32(model.log_std_dif)})


def from_canonical(model: WorldModel, canon: Mapping[str, np.ndarray], template: Params) -> Params:
    """Parameters shaped like `template` filled from canonical weights (strict keys and shapes)."""
    for key, value in (("log_std_min", model.log_std_min), ("log_std_dif", model.log_std_dif)):
        if key in canon and not np.isclose(float(np.asarray(canon[key])), value):
            raise WeightMismatch(f"canonical -> jax_impl: {key} is {float(np.asarray(canon[key]))} in the weights "
                                 f"but {value} in the config")
    tree = tree_from_canonical(canon, jax.tree.map(np.asarray, template), "canonical -> jax_impl")
    return jax.tree.map(lambda new, old: jnp.asarray(new, dtype=old.dtype), tree, template)
