"""Canonical weights: one flat mapping name -> NumPy array, in the official checkpoint's names and layouts.

torch_ref's `WorldModel.state_dict()` is this format as is. jax_impl's parameter tree maps to it by the rules
of `jax_path_to_canonical` (Dense kernels are (in, out) in Flax and (out, in) here; LayerNorm `scale` is
`ln.weight`; the vmapped ensemble's `heads` is `params`; the encoder lives under `_encoder.state`).
Every converter checks every key and shape against the target and raises naming the first mismatch.
Files: `.npz` or `.safetensors` (by extension), written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.core.fsutil import atomic_file

Canonical = dict[str, np.ndarray]
BUFFER_KEYS = ("log_std_min", "log_std_dif")


class WeightMismatch(ValueError):
    """A key is missing, unexpected, or has another shape than the target expects."""


def check_against(expected: Mapping[str, tuple[int, ...]], given: Mapping[str, Any], what: str) -> None:
    """Every expected key present with its shape, nothing extra; raise naming the first mismatch."""
    for key, shape in expected.items():
        if key not in given:
            raise WeightMismatch(f"{what}: missing weight {key!r} (expected shape {tuple(shape)})")
        got = tuple(np.shape(given[key]))
        if got != tuple(shape):
            raise WeightMismatch(f"{what}: weight {key!r} has shape {got}, expected {tuple(shape)}")
    extra = [k for k in given if k not in expected]
    if extra:
        raise WeightMismatch(f"{what}: unexpected weight {sorted(extra)[0]!r}")


# ----------------------------------------------------------------------------------------------------------
# JAX tree paths <-> canonical names (pure naming; no jax import)
# ----------------------------------------------------------------------------------------------------------


def jax_path_to_canonical(path: tuple[str, ...]) -> tuple[str, bool]:
    """(flax path) -> (canonical name, transpose?) e.g. ('_Qs','heads','0','linear','kernel') ->
    ('_Qs.params.0.weight', True)."""
    parts = list(path)
    if parts[0] == "_encoder":
        parts.insert(1, "state")
    parts = ["params" if p == "heads" else p for p in parts]
    leaf, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
    transpose = False
    if parent == "linear":
        parts = parts[:-2] + ["weight" if leaf == "kernel" else leaf]
        transpose = leaf == "kernel"
    elif parent == "ln":
        parts[-1] = "weight" if leaf == "scale" else leaf
    elif leaf == "kernel":
        parts[-1], transpose = "weight", True
    return ".".join(parts), transpose


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, prefix + (str(key),)))
        else:
            out[prefix + (str(key),)] = value
    return out


def _swap_last(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(x, -1, -2))


def canonical_from_tree(tree: Mapping[str, Any], buffers: Mapping[str, float] | None = None) -> Canonical:
    """A nested parameter tree (NumPy leaves, Flax layout) -> canonical flat dict (+ scalar buffers)."""
    out: Canonical = {}
    for path, value in _flatten(tree).items():
        name, transpose = jax_path_to_canonical(path)
        arr = np.asarray(value)
        out[name] = _swap_last(arr) if transpose else arr.copy()
    for key, value in (buffers or {}).items():
        out[key] = np.asarray(value)
    return out


def tree_from_canonical(canon: Mapping[str, np.ndarray], template: Mapping[str, Any],
                        what: str = "canonical -> jax") -> dict[str, Any]:
    """Fill a nested template tree (Flax layout) from canonical weights; strict on keys and shapes.

    Canonical keys in BUFFER_KEYS are ignored here (the caller checks them against its config).
    """
    flat = _flatten(template)
    expected: dict[str, tuple[int, ...]] = {}
    route: dict[str, tuple[tuple[str, ...], bool]] = {}
    for path, leaf in flat.items():
        name, transpose = jax_path_to_canonical(path)
        shape = tuple(np.shape(leaf))
        expected[name] = shape[:-2] + (shape[-1], shape[-2]) if transpose else shape
        route[name] = (path, transpose)
    given = {k: v for k, v in canon.items() if k not in BUFFER_KEYS}
    check_against(expected, given, what)
    out: dict[str, Any] = {}
    for name, (path, transpose) in route.items():
        arr = np.asarray(canon[name])
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = _swap_last(arr) if transpose else arr.copy()
    return out


# ----------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------


def save_weights(path: str | Path, canon: Mapping[str, np.ndarray]) -> Path:
    """Write canonical weights to .npz or .safetensors atomically (temp file in the folder, then rename)."""
    path = Path(path)
    if path.suffix not in (".npz", ".safetensors"):
        raise ValueError(f"weights file {str(path)!r} must end in .npz or .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.array(v, order="C", copy=True) for k, v in canon.items()}  # keeps 0-d arrays 0-d
    with atomic_file(path, suffix=path.suffix) as tmp:
        if path.suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        else:
            from safetensors.numpy import save_file

            save_file(arrays, str(tmp))
    return path


def load_weights(path: str | Path) -> Canonical:
    """Read canonical weights; a missing or corrupt file is a ValueError naming it."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:  # data only: object arrays are refused, not unpickled
                return {k: data[k] for k in data.files}
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            return dict(load_file(str(path)))
    except ValueError as exc:  # NumPy refuses object arrays and non-.npz files instead of unpickling them
        if "Object arrays" in str(exc):
            raise ValueError(f"weights file {str(path)!r} holds arrays of pickled Python objects, which could run code "
                             "when loaded; it was refused unread (canonical weights are arrays of numbers)") from None
        if "pickled" in str(exc):
            raise ValueError(f"weights file {str(path)!r} is corrupt or truncated: it is not an .npz archive (it was "
                             "not unpickled)") from None
        raise ValueError(f"weights file {str(path)!r} is corrupt or truncated: {exc}") from None
    except Exception as exc:  # zip/header errors differ by format; report them uniformly
        raise ValueError(f"weights file {str(path)!r} is corrupt or truncated: {exc}") from None
    raise ValueError(f"weights file {str(path)!r} must end in .npz or .safetensors")
