"""Training checkpoints of torch_ref (torch.save), for exact resume; read back without running any code.

One checkpoint = a folder `checkpoints/step_<agent_step>/` with `state.pt` (config, agent state: model,
target, both Adams, RunningScale, planner warm starts, RNG; loop counters; env RNG states) and `buffer.pt`
(the replay buffer, separate because large), each written atomically, then `latest.json` (tdmpc_parity).

Format `tdmpc-parity/torch/2`: both files hold only tensors, Python numbers, strings and plain containers, so
they are read with `torch.load(weights_only=True)`, which refuses every other Python object instead of
building it (a shared run folder cannot run code on the reader's machine). NumPy arrays of the state (the env
RNG states, any physics state) are stored as {"__numpy__": their bytes as a uint8 tensor, "dtype", "shape"}.
Format `tdmpc-parity/torch/1` (earlier versions) pickled NumPy objects and can only be read by unpickling:
it is refused with the command that converts it (`tdmpc-parity convert-checkpoint`,
tdmpc_parity/app/checkpoint_convert.py).
"""

from __future__ import annotations

import pickletools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdmpc_parity.core.checkpoints import (
    CheckpointError,
    atomic_file,
    check_same_run,
    checkpoint_dir,
    kill_point,
    read_latest,
    write_latest,
)
from tdmpc_parity.core.config import Config, config_from_dict

FORMAT = "tdmpc-parity/torch/2"
OLD_FORMAT = "tdmpc-parity/torch/1"
STATE, BUFFER = "state.pt", "buffer.pt"
NUMPY = "__numpy__"
CONVERT_COMMAND = "tdmpc-parity convert-checkpoint RUN_DIR"
# the globals a format-1 state.pt pickles besides the ones weights_only allows (the env RNG states' arrays)
OLD_FORMAT_GLOBALS = frozenset({"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
                                "numpy.ndarray", "numpy.dtype", "numpy.dtypes.UInt32DType",
                                "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
                                "numpy.dtypes.Float64DType", "numpy.dtypes.Int64DType"})


# ----------------------------------------------------------------------------------------------------------
# NumPy values <-> tensors (weights_only loads tensors, numbers, strings and plain containers only)
# ----------------------------------------------------------------------------------------------------------


def to_safe(obj: Any) -> Any:
    """`obj` with every NumPy array or scalar replaced by {"__numpy__": uint8 tensor of its bytes, "dtype", "shape",
    "scalar"}; containers without NumPy values are returned as they are (an OrderedDict keeps its metadata)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError("a checkpoint cannot hold NumPy arrays of Python objects")
        raw = torch.frombuffer(bytearray(np.ascontiguousarray(arr).tobytes()), dtype=torch.uint8) if arr.size \
            else torch.zeros(0, dtype=torch.uint8)
        return {NUMPY: raw, "dtype": arr.dtype.str, "shape": list(arr.shape), "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, dict):
        items = {k: to_safe(v) for k, v in obj.items()}
        return obj if all(items[k] is v for k, v in obj.items()) else type(obj)(items)
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        items = [to_safe(v) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else type(obj)(items)
    return obj


def from_safe(obj: Any) -> Any:
    """The inverse of `to_safe`: the stored NumPy arrays and scalars, bit for bit."""
    if isinstance(obj, dict) and NUMPY in obj:
        dtype = np.dtype(str(obj["dtype"]))
        if dtype.hasobject:
            raise CheckpointError("checkpoint holds a NumPy array of Python objects; refused")
        arr = np.frombuffer(obj[NUMPY].numpy().tobytes(), dtype=dtype).reshape([int(n) for n in obj["shape"]]).copy()
        return arr[()] if obj.get("scalar") else arr
    if isinstance(obj, dict):
        items = {k: from_safe(v) for k, v in obj.items()}
        return obj if all(items[k] is v for k, v in obj.items()) else type(obj)(items)
    if isinstance(obj, (list, tuple)):
        items = [from_safe(v) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else type(obj)(items)
    return obj


# ----------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------


def save(run_dir: str | Path, agent_step: int, cfg: Config, state: dict[str, Any], buffer: dict[str, Any]) -> Path:
    """Write state.pt and buffer.pt atomically, then point latest.json at them."""
    folder = checkpoint_dir(run_dir, agent_step)
    folder.mkdir(parents=True, exist_ok=True)
    write_files(folder, {"format": FORMAT, "config": cfg.to_dict(), **state}, buffer)
    write_latest(run_dir, agent_step, "torch", [STATE, BUFFER])
    return folder


def write_files(folder: Path, state: dict[str, Any], buffer: dict[str, Any]) -> None:
    """buffer.pt, then state.pt (the one that names the format), each atomically, in the safe format."""
    with atomic_file(folder / BUFFER) as tmp:
        torch.save(to_safe(buffer), tmp)
    with atomic_file(folder / STATE) as tmp:
        torch.save(to_safe(state), tmp)
        kill_point("during_save")  # the state file is half-way: written, not yet renamed


def _pickle_globals(data: bytes) -> set[str]:
    """The globals (`module.name`) the first pickle in `data` names, read from its opcodes without running it."""
    found, strings = set(), []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.add(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str) and ("UNICODE" in op.name or op.name.endswith("STRING")):
                strings.append(str(arg))
    except Exception:  # a torn or non-pickle file: report what was read up to there
        pass
    return found


def _unsafe_globals(path: Path) -> list[str] | None:
    """The Python globals a torch.save file names beyond those weights_only allows (read statically from its
    pickle, nothing is built); for a file that is not a torch.save zip, every global of its (first) pickle; None
    when it names none."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # not a zip file (a bare pickle), truncated, ...
        pass
    try:
        found = _pickle_globals(path.read_bytes())
    except OSError:
        return None
    return sorted(found) or None


def _refusal(path: Path) -> str:
    """The sentence for a file that weights_only refused or could not read."""
    unsafe = _unsafe_globals(path)
    if unsafe and set(unsafe) <= OLD_FORMAT_GLOBALS:
        return _old_format_message(path)
    if unsafe:
        shown = ", ".join(unsafe[:5]) + (", ..." if len(unsafe) > 5 else "")
        return (f"checkpoint file {str(path)!r} is not a {FORMAT} checkpoint: it names Python objects ({shown}) that "
                "a safe load refuses because unpickling them could run code; it was not loaded and nothing ran")
    return (f"checkpoint file {str(path)!r} is truncated or corrupt, or not a {FORMAT} checkpoint: it cannot be read "
            "with torch.load(weights_only=True) (nothing in it was run)")


def _old_format_message(path: Path) -> str:
    return (f"checkpoint file {str(path)!r} has the older format {OLD_FORMAT}, which can only be read by unpickling "
            f"(that could run code, so it is refused); if you trust the run folder, convert it with "
            f"`{CONVERT_COMMAND}` (it keeps the old files) and load it again")


def load_file(path: Path) -> Any:
    """torch.load(weights_only=True) of one checkpoint file, NumPy values restored; CheckpointError otherwise."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # the weights-only refusal, a truncated zip, a bad pickle: report them by cause
        raise CheckpointError(_refusal(path)) from None
    try:
        return from_safe(obj)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint file {str(path)!r} holds a damaged NumPy value: {exc}") from None


def _load(path: Path) -> dict[str, Any]:
    """state.pt of the current format (the checks of its "format" field included)."""
    state = load_file(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        if found == OLD_FORMAT:
            raise CheckpointError(_old_format_message(path))
        raise CheckpointError(f"{str(path)!r} is not a {FORMAT} checkpoint")
    return state


def load(run_dir: str | Path, cfg: Config) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(state, buffer) of the latest checkpoint, or None if the run has none; checks it belongs to `cfg`."""
    found = read_latest(run_dir)
    if found is None:
        return None
    folder, info = found
    if info.get("backend") != "torch":
        raise CheckpointError(f"checkpoint {str(folder)!r} was written by the {info.get('backend')} backend")
    state = _load(folder / STATE)
    try:
        saved = config_from_dict(state["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{str(folder / STATE)!r} holds no valid config: {exc}") from None
    check_same_run(saved, cfg, folder)
    buffer = load_file(folder / BUFFER)
    if not isinstance(buffer, dict):
        raise CheckpointError(f"{str(folder / BUFFER)!r} is not a replay buffer of a {FORMAT} checkpoint")
    return state, buffer
