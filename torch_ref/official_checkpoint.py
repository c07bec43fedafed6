"""Read and write checkpoints of the official TD-MPC2 code (nicklashansen/tdmpc2), single-task state models.

The official `agent.save` writes `torch.save({"model": world_model.state_dict()}, path)`; its loader accepts
that dict or a bare state_dict (both are read here). Our `WorldModel.state_dict()`
("canonical" names below) already uses the official names, except the target ensemble:

    canonical `_target_Qs.params.{i}.*`   <->   official (current) `_target_Qs_params.{i}.*`

Besides the weights, a current official state_dict holds entries that are not used for computation:
`_detach_Qs_params.*` (aliases of `_Qs.params.*`), the `_Qs.module.*` / `_detach_Qs.module.*` /
`_target_Qs.module.*` template copies of the tensordict ensemble and, depending on the tensordict
version, `__batch_size` / `__device` metadata entries. Which of these the official model *requires* on
load depends on the installed tensordict (checked by a strict `load_state_dict` into a replica of the
official module tree under tensordict 0.8.3, 0.9.1, 0.10.0, 0.12.1, 0.13.0, 0.14.0 and 0.15.3):

* tensordict >= 0.14: the state_dict has the template copies (the official code writes meta tensors) and
  requires them. `_Qs.module.*` has the shape of one head; `_detach_Qs.module.*` and `_target_Qs.module.*`
  have the stacked shape (num_q, ...) (deep copies taken while the stacked meta parameters were swapped
  in). Metadata entries are accepted but not written. Our layout "modules" (the default: the note's table).
* tensordict 0.8 - 0.13 (0.8.3 is pinned by the official docker environment): no template copies (they are
  unexpected keys there); 0.8 - 0.10 write and require `__batch_size` / `__device`, 0.12 - 0.13 accept
  them. Our layout "metadata".

The 2023 format (checkpoints released with the paper) stores the ensembles as `_Qs.params.{n}` and
`_target_Qs.params.{n}`, n = 4 * layer + j with j indexing (weight, bias, ln.weight, ln.bias) and the last
layer holding weight and bias only. It has no `log_std_min` / `log_std_dif`: the official converter
(`api_model_conversion`) takes them from the model, and so do we.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tdmpc_parity.core.fsutil import atomic_file

__all__ = [
    "LAYOUTS",
    "detect_format",
    "from_official_state_dict",
    "load_official",
    "official_state_dict",
    "read_state_dict",
    "save_official",
]

LAYOUTS = ("modules", "metadata")

_Q = "_Qs.params."
_TARGET_OURS = "_target_Qs.params."
_TARGET_OFF = "_target_Qs_params."
_DETACH = "_detach_Qs_params."
_TEMPLATES = ("_Qs.module.", "_detach_Qs.module.", "_target_Qs.module.")
_META_SUFFIXES = ("__batch_size", "__device")
_META_PREFIXES = (_Q, _DETACH, _TARGET_OFF)
_LOG_STD = ("log_std_min", "log_std_dif")
_GLASS = "_glass."
_OLD_NAMES = ("weight", "bias", "ln.weight", "ln.bias")
_OLD_KEY = re.compile(r"^(_Qs|_target_Qs)\.params\.(\d+)$")
_MULTITASK_KEYS = ("_task_emb.", "_action_masks")


# ----------------------------------------------------------------------------------------------------------
# Name conversion (no model needed)
# ----------------------------------------------------------------------------------------------------------


def _to_official_name(key: str) -> str:
    return _TARGET_OFF + key[len(_TARGET_OURS):] if key.startswith(_TARGET_OURS) else key


def _check_kind(sd: Mapping[str, Any]) -> None:
    """Multitask / pixel / episodic checkpoints cannot go into a single-task state model."""
    for key in sd:
        if key.startswith(_MULTITASK_KEYS):
            raise ValueError(
                f"this is a multitask checkpoint (it has key {key!r}); only single-task state models are "
                "supported"
            )
        if key.startswith("_encoder.") and not key.startswith("_encoder.state."):
            kind = "a pixel (rgb)" if key.startswith("_encoder.rgb.") else "a non-state"
            raise ValueError(
                f"this is {kind} checkpoint (it has key {key!r}); only state-observation models are supported"
            )
        if key.startswith("_termination."):
            raise ValueError(
                f"this is an episodic checkpoint (it has a termination head, key {key!r}); episodic models "
                "are not supported"
            )


def detect_format(sd: Mapping[str, Any]) -> str:
    """'2023' (`_Qs.params.{n}`) or 'current' (`_Qs.params.{i}.weight`, `_target_Qs_params.*`)."""
    old = [k for k in sd if _OLD_KEY.match(k)]
    new = [k for k in sd
           if (k.startswith(_Q) and not _OLD_KEY.match(k)) or k.startswith((_TARGET_OFF, _DETACH))]
    if old and new:
        raise ValueError(
            f"the checkpoint mixes the 2023 format ({old[0]!r}) and the current format ({new[0]!r})"
        )
    return "2023" if old else "current"


def _convert(sd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, str], str, int]:
    """Official state dict -> (canonical tensors, canonical name -> source name, format, ignored count)."""
    if not isinstance(sd, Mapping):
        raise ValueError(f"a state_dict must be a mapping of names to tensors, got {type(sd).__name__}")
    for key in sd:
        if not isinstance(key, str):
            raise ValueError(f"state_dict keys must be strings, got {key!r}")
    _check_kind(sd)
    fmt = detect_format(sd)
    out: dict[str, torch.Tensor] = {}
    src: dict[str, str] = {}
    ignored = 0

    def put(name: str, value: Any, source: str) -> None:
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"checkpoint entry {source!r} is a {type(value).__name__}, not a tensor")
        if name in out:
            raise ValueError(f"checkpoint entries {src[name]!r} and {source!r} both give {name!r}")
        out[name], src[name] = value, source

    if fmt == "2023":
        for key, value in sd.items():
            m = _OLD_KEY.match(key)
            if m is None:
                put(key, value, key)
                continue
            n = int(m.group(2))
            prefix = _Q if m.group(1) == "_Qs" else _TARGET_OURS
            put(f"{prefix}{n // 4}.{_OLD_NAMES[n % 4]}", value, key)
        return out, src, fmt, ignored

    aliases: dict[str, Any] = {}
    templates: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for key, value in sd.items():
        if key.startswith(_META_PREFIXES) and key.endswith(_META_SUFFIXES):
            metadata[key] = value
        elif key.startswith(_DETACH):
            aliases[key] = value
        elif key.startswith(_TEMPLATES):
            templates[key] = value
        elif key.startswith(_TARGET_OFF):
            put(_TARGET_OURS + key[len(_TARGET_OFF):], value, key)
        elif key.startswith(_TARGET_OURS):
            raise ValueError(
                f"unknown key {key!r}: this is torch_ref's own name for the target ensemble, not the "
                f"official one ({_TARGET_OFF}...); load such a state_dict with WorldModel.load_state_dict"
            )
        else:
            put(key, value, key)
    q_shapes = {k[len(_Q):]: v.shape for k, v in out.items() if k.startswith(_Q)}
    num_q = next(iter(q_shapes.values()))[0] if q_shapes else None
    for key, value in aliases.items():
        rest = key[len(_DETACH):]
        if rest not in q_shapes:
            raise ValueError(f"checkpoint alias {key!r} has no matching {_Q + rest!r}")
        if not isinstance(value, torch.Tensor) or value.shape != q_shapes[rest]:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"checkpoint alias {key!r} has shape {shape} but {_Q + rest!r} has {tuple(q_shapes[rest])}"
            )
        ref = out[_Q + rest]
        if value.device.type != "meta" and ref.device.type != "meta" and not torch.equal(value, ref):
            raise ValueError(
                f"checkpoint alias {key!r} differs from {_Q + rest!r}: the checkpoint is inconsistent"
            )
        ignored += 1
    for key, value in templates.items():
        prefix = next(p for p in _TEMPLATES if key.startswith(p))
        rest = key[len(prefix):]
        if rest not in q_shapes:
            raise ValueError(f"checkpoint template copy {key!r} has no matching {_Q + rest!r}")
        ok_shapes = (q_shapes[rest], q_shapes[rest][1:])  # stacked, one head
        if not isinstance(value, torch.Tensor) or value.shape not in ok_shapes:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"checkpoint template copy {key!r} has shape {shape}, expected {tuple(ok_shapes[1])} or "
                f"{tuple(ok_shapes[0])} (from {_Q + rest!r})"
            )
        ignored += 1
    for key, value in metadata.items():
        if key.endswith("__batch_size") and num_q is not None:
            try:
                size = tuple(int(v) for v in value)
            except TypeError:
                raise ValueError(f"checkpoint metadata {key!r} is {value!r}, not a batch size") from None
            if size != (num_q,):
                raise ValueError(f"checkpoint metadata {key!r} is {size} but the ensemble has {num_q} heads")
        ignored += 1
    return out, src, fmt, ignored


def from_official_state_dict(sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Official state_dict (current or 2023 format) -> our canonical names.

    Aliases, template copies and tensordict metadata are checked and dropped; 2023 ensemble keys are
    renamed by n = 4 * layer + j. Multitask, pixel and episodic checkpoints raise ValueError. Keys that are
    not official ensemble keys pass through unchanged (the caller's strict key check names them). A 2023
    checkpoint has no `log_std_min` / `log_std_dif`; they are then absent from the result too.
    """
    return _convert(sd)[0]


def _official_buffer(value: torch.Tensor) -> torch.Tensor:
    """A log_std buffer as the official code registers it: int64 when its value is a whole number."""
    number = float(value)
    return torch.tensor(int(number)) if number.is_integer() else value


def official_state_dict(model: nn.Module | Mapping[str, torch.Tensor], include_glass: bool = False,
                        layout: str = "modules") -> dict[str, Any]:
    """Our model (or a canonical state_dict) -> the official state_dict, in the official key order.

    layout "modules" (default; the note's table; needed by the official code under tensordict >= 0.14):
    `log_std_*`, module weights, `_Qs.params.*`, the `_Qs.module.*` template (one unstacked head: head 0's
    values), `_detach_Qs_params.*` (aliases of `_Qs.params`), `_target_Qs_params.*`, then
    `_detach_Qs.module.*` / `_target_Qs.module.*` (stacked, as the official ones: aliases of the live and
    target params). The official template copies are never used for computation (the official code writes
    them as meta tensors and their values are ignored on load); we store real values that share storage
    with the parameters, so they cost nothing in the file and any tool can read them.
    layout "metadata" (tensordict 0.8 - 0.13, the official docker's 0.8.3 included): no template copies,
    plus the `__batch_size` / `__device` metadata entries (non-tensor values: torch.Size and None).

    `log_std_min` / `log_std_dif` are written as the official code holds them: its config.yaml gives -10 and 2
    as integers, so they are int64 tensors when the values are whole numbers (else the model's float buffers).
    The other tensors share storage with the model; clone before modifying them. With a Glass head the
    `_glass.*` keys are not part of the official format: ValueError unless `include_glass=True` (then appended).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    sd = dict(model.state_dict()) if isinstance(model, nn.Module) else dict(model)
    glass = [k for k in sd if k.startswith(_GLASS)]
    if glass and not include_glass:
        raise ValueError(
            f"the model has a Glass head ({glass[0]!r}, ...), which is not part of the official format; pass "
            "include_glass=True to write it anyway (the official loader will then reject the file)"
        )
    missing = [k for k in (*_LOG_STD, _Q + "0.weight") if k not in sd]
    if missing:
        raise ValueError(f"not a TD-MPC2 world model state_dict: {missing[0]!r} is missing")
    q = {k[len(_Q):]: v for k, v in sd.items() if k.startswith(_Q)}
    target = {k[len(_TARGET_OURS):]: v for k, v in sd.items() if k.startswith(_TARGET_OURS)}
    if set(q) != set(target):
        raise ValueError("the live and target Q ensembles have different keys")
    num_q = q["0.weight"].shape[0]
    out: dict[str, Any] = {k: _official_buffer(sd[k]) for k in _LOG_STD}
    for key, value in sd.items():
        if key not in _LOG_STD and not key.startswith((_Q, _TARGET_OURS, _GLASS)):
            out[key] = value
    out.update({_Q + k: v for k, v in q.items()})
    if layout == "metadata":
        out.update({_Q + "__batch_size": torch.Size([num_q]), _Q + "__device": None})
        out.update({_DETACH + k: v for k, v in q.items()})
        out.update({_DETACH + "__batch_size": torch.Size([num_q]), _DETACH + "__device": None})
        out.update({_TARGET_OFF + k: v for k, v in target.items()})
        out.update({_TARGET_OFF + "__batch_size": torch.Size([num_q]), _TARGET_OFF + "__device": None})
    else:
        out.update({"_Qs.module." + k: v[0] for k, v in q.items()})
        out.update({_DETACH + k: v for k, v in q.items()})
        out.update({_TARGET_OFF + k: v for k, v in target.items()})
        out.update({"_detach_Qs.module." + k: v for k, v in q.items()})
        out.update({"_target_Qs.module." + k: v for k, v in target.items()})
    if include_glass:
        out.update({k: sd[k] for k in glass})
    return out


# ----------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------


def read_state_dict(source: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """A file path, `{"model": state_dict}` or a bare state_dict -> (state_dict, description of the source).

    Files are read with `torch.load(weights_only=True)` onto the CPU; a truncated or corrupt file is a
    ValueError naming it.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file {str(path)!r} does not exist")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated zip, bad pickle, disallowed global, ...
            raise ValueError(
                f"checkpoint file {str(path)!r} cannot be read (truncated or corrupt?): "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        name = f"file {str(path)!r}"
    else:
        obj, name = source, "the given dict"
    if not isinstance(obj, Mapping):
        raise ValueError(f"{name} holds a {type(obj).__name__}, not a state_dict or {{'model': state_dict}}")
    if "model" in obj:  # as the official loader: the dict with key "model", or the bare state_dict
        obj = obj["model"]
        if not isinstance(obj, Mapping):
            raise ValueError(f"{name}: 'model' holds a {type(obj).__name__}, not a state_dict")
    return obj, name


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _dtype_accepted(key: str, got: torch.dtype, want: torch.dtype) -> bool:
    """The model's dtype; float32 into a float64 model (exact); integer log_std buffers (the official code's int64,
    values checked by the caller). Anything else (float16, bfloat16, an integer weight, float64 into float32) not."""
    if got == want or (got == torch.float32 and want == torch.float64):
        return True
    integer = not got.is_floating_point and not got.is_complex and got != torch.bool
    return key in _LOG_STD and integer


def load_official(model: nn.Module, source: str | Path | Mapping[str, Any],
                  allow_missing_glass: bool = False) -> dict[str, Any]:
    """Load an official TD-MPC2 checkpoint (current or 2023 format) into our `WorldModel`, strictly.

    Every model tensor must be given with the model's shape, unknown keys are errors, and nothing in the
    model changes unless every check passes. A 2023 checkpoint has no `log_std_min` / `log_std_dif`:
    they keep the model's (config) values; when given, they must equal them, and may be integer tensors (the
    current official code writes int64 ones: its config gives -10 and 2 as integers), cast to the model's
    dtype. Every other tensor must have the model's dtype, or float32 for a float64 model; any other dtype
    (float16, bfloat16, an integer weight, float64 into a float32 model) is a ValueError naming the key.
    `allow_missing_glass=True` keeps the Glass head's current values when the checkpoint has none (official
    checkpoints never do).
    Returns {"format", "num_tensors" (taken from the checkpoint), "num_ignored" (aliases, template copies,
    metadata), "kept" (model keys left as they were), "source"}.
    """
    sd, name = read_state_dict(source)
    try:
        ours, src, fmt, ignored = _convert(sd)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    target = model.state_dict()
    kept: list[str] = []
    if fmt == "2023":
        kept += [k for k in _LOG_STD if k not in ours]
    if allow_missing_glass:
        kept += [k for k in target if k.startswith(_GLASS) and k not in ours]
    for key in ours:
        if key not in target:
            hint = ""
            if key.startswith(_GLASS):
                hint = " (a Glass head: build the model with Glass enabled to load it)"
            elif src[key] != key:
                hint = f" (read as {key!r})"
            raise ValueError(f"{name}: unknown key {src[key]!r}{hint}: the model has no such tensor")
    for key in target:
        if key not in ours and key not in kept:
            hint = ""
            if key.startswith(_GLASS):
                hint = " (the model has a Glass head and the checkpoint none; pass allow_missing_glass=True)"
            raise ValueError(f"{name}: missing key {_to_official_name(key)!r}{hint}")
    for key, want in target.items():
        if key in kept:
            continue
        got = ours[key]
        if got.shape != want.shape:
            raise ValueError(
                f"{src[key]} has shape {_shape(got)} in the checkpoint but {_shape(want)} in the model: "
                "the checkpoint is for another task or model size"
            )
        if got.device.type == "meta":
            raise ValueError(f"{name}: {src[key]!r} is a meta tensor (it holds no values)")
        if not _dtype_accepted(key, got.dtype, want.dtype):
            raise ValueError(f"{name}: {src[key]!r} has dtype {got.dtype} but the model wants {want.dtype}")
    for key in _LOG_STD:
        if key in ours and not torch.allclose(ours[key].double(), target[key].double().cpu(), atol=1e-6):
            raise ValueError(
                f"{name}: {key} is {ours[key].item():g} in the checkpoint but {target[key].item():g} in the "
                "model; set log_std_min / log_std_max in the config to the checkpoint's values"
            )
    full = {k: (target[k] if k in kept else ours[k]) for k in target}
    model.load_state_dict(full, strict=True)
    return {"format": fmt, "num_tensors": len(target) - len(kept), "num_ignored": ignored, "kept": kept,
            "source": name}


def save_official(model: nn.Module, path: str | Path, include_glass: bool = False,
                  layout: str = "modules") -> None:
    """Write `{"model": official_state_dict(model)}` to `path` atomically (temp file + rename), on the CPU.

    See `official_state_dict` for `layout` ("modules": template copies, which the official code needs under
    tensordict >= 0.14; "metadata": metadata entries instead, for tensordict 0.8 - 0.13 as in the official
    docker environment) and `include_glass`.
    """
    path = Path(path)
    sd = model.state_dict()
    cpu = {k: v.detach().cpu() for k, v in sd.items()}  # one copy per tensor, so aliases keep sharing storage
    state = official_state_dict(cpu, include_glass=include_glass, layout=layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        torch.save({"model": state}, tmp)
