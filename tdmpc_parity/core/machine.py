"""The machine block a benchmark record needs and pytest-benchmark lacks; the machine's folder name.

`machine_info()` gathers CPU model and cores, RAM, OS, Python, package versions (importlib.metadata, no
imports), GPUs / driver / CUDA from `nvidia-smi` when present, and, only when asked (`probe_frameworks`),
the JAX default backend and torch's CUDA view, importing those frameworks inside the function.
Importing this module imports neither torch nor jax. `python -m tdmpc_parity.core.machine` prints the slug
(`--json`: the whole block).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any

VERSION_PACKAGES = ("jax", "jaxlib", "torch", "mujoco", "mujoco-mjx", "playground", "flax", "optax", "numpy",
                    "pytest-benchmark")


def package_versions(names: tuple[str, ...] = VERSION_PACKAGES) -> dict[str, str | None]:
    """Installed distribution versions (None when not installed), read without importing the packages."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def cpu_info() -> dict[str, Any]:
    """CPU model name, logical cores (os.cpu_count) and physical cores (distinct physical/core id pairs)."""
    text = _read("/proc/cpuinfo")
    model = None
    cores: set[tuple[str, str]] = set()
    phys = core = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and model is None:
            model = value
        elif key == "physical id":
            phys = value
        elif key == "core id":
            core = value
        elif key == "" and phys is not None and core is not None:
            cores.add((phys, core))
            phys = core = None
    if phys is not None and core is not None:
        cores.add((phys, core))
    physical: int | None = len(cores) or None
    if physical is None and importlib.util.find_spec("psutil") is not None:
        import psutil

        physical = psutil.cpu_count(logical=False)
    return {
        "cpu_model": model or platform.processor() or platform.machine() or "unknown",
        "cpu_logical_cores": os.cpu_count(),
        "cpu_physical_cores": physical,
    }


def ram_gib() -> float | None:
    """Total RAM in GiB (/proc/meminfo, else sysconf), None when unknown."""
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    if m:
        return round(int(m.group(1)) / 2**20, 1)
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _run(cmd: list[str]) -> str | None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def gpu_info() -> dict[str, Any]:
    """GPUs from `nvidia-smi` (name, memory MiB), driver and CUDA version; empty list when absent."""
    out: dict[str, Any] = {"gpus": [], "gpu_driver": None, "cuda_version": None}
    if shutil.which("nvidia-smi") is None:
        return out
    text = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                 "--format=csv,noheader,nounits"])
    for line in (text or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        try:
            mem = int(float(parts[1]))
        except ValueError:
            mem = None
        out["gpus"].append({"name": parts[0], "memory_mib": mem})
        out["gpu_driver"] = parts[2]
    m = re.search(r"CUDA Version:\s*([\d.]+)", _run(["nvidia-smi"]) or "")
    out["cuda_version"] = m.group(1) if m else None
    return out


def framework_info() -> dict[str, Any]:
    """JAX default backend/devices and torch CUDA availability, importing each only if it is installed.

    JAX is told not to preallocate GPU memory while it is first initialised here (the setting is restored).
    """
    out: dict[str, Any] = {"jax_backend": None, "jax_devices": None, "torch_cuda_available": None,
                           "torch_cuda_version": None, "torch_num_threads": None}
    if importlib.util.find_spec("jax") is not None:
        key, old = "XLA_PYTHON_CLIENT_PREALLOCATE", os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")
        fresh = "jax" not in sys.modules
        if fresh:
            os.environ[key] = "false"
        try:
            import jax

            out["jax_backend"] = jax.default_backend()
            out["jax_devices"] = [str(d) for d in jax.devices()]
        except Exception as exc:  # a broken install must not lose the benchmark file
            out["jax_backend"] = f"error: {type(exc).__name__}: {exc}"
        finally:
            if fresh:
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            out["torch_cuda_available"] = bool(torch.cuda.is_available())
            out["torch_cuda_version"] = torch.version.cuda
            out["torch_num_threads"] = torch.get_num_threads()
        except Exception as exc:
            out["torch_cuda_available"] = f"error: {type(exc).__name__}: {exc}"
    return out


def load_average() -> list[float] | None:
    """1-, 5- and 15-minute load averages of the host (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info(probe_frameworks: bool = True) -> dict[str, Any]:
    """The machine block merged into pytest-benchmark's machine_info; `machine_slug` included."""
    info: dict[str, Any] = {
        **cpu_info(),
        "ram_gib": ram_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(),
        **gpu_info(),
        "load_average": load_average(),
    }
    if probe_frameworks:
        info.update(framework_info())
    info["machine_slug"] = machine_slug(info)
    return info


# ----------------------------------------------------------------------------------------------------------
# Slug: one results/ folder per kind of machine
# ----------------------------------------------------------------------------------------------------------

_NOISE = (r"\(r\)", r"\(tm\)", "®", "™", r"\bcpu\b", r"\bprocessor\b", r"\bwith radeon graphics\b",
          r"\b\d+-core\b")


def slugify(text: str, max_len: int = 60) -> str:
    """Lower-case [a-z0-9-] only, single dashes, no leading/trailing dash, at most `max_len` characters."""
    s = text.lower()
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s[:max_len].strip("-") or "unknown"


def _clean_cpu(model: str) -> str:
    s = model.lower().split("@")[0]
    for pat in _NOISE:
        s = re.sub(pat, " ", s)
    return s


def _gpu_part(gpu: dict[str, Any]) -> str:
    tokens = slugify(str(gpu.get("name") or "gpu"), 200).split("-")
    for i, tok in enumerate(tokens):
        if re.fullmatch(r"\d+gb", tok):  # the name carries its memory (e.g. "H100 80GB HBM3"): stop there
            return "-".join(tokens[: i + 1])
    mem = gpu.get("memory_mib")
    if isinstance(mem, (int, float)) and mem > 0:
        tokens.append(f"{round(mem / 1024)}gb")
    return "-".join(tokens)


def machine_slug(info: dict[str, Any]) -> str:
    """'gpu-nvidia-h100-80gb' (first GPU; 'gpu-2x-...' for several) or 'cpu-amd-epyc-7b13-2c' (logical cores).

    Filesystem-safe: [a-z0-9-] only, at most 80 characters.
    """
    gpus = info.get("gpus") or []
    if gpus:
        count = f"{len(gpus)}x-" if len(gpus) > 1 else ""
        return slugify(f"gpu-{count}{_gpu_part(gpus[0])}", 80)
    cores = info.get("cpu_logical_cores")
    suffix = f"-{cores}c" if cores else ""
    return slugify(f"cpu-{_clean_cpu(str(info.get('cpu_model') or 'unknown'))}", 80 - len(suffix)) + suffix


def main(argv: list[str] | None = None) -> int:
    """`python -m tdmpc_parity.core.machine [--json]`: print this machine's slug, or its whole block as JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--json"]:
        print(json.dumps(machine_info(), indent=2))
        return 0
    if argv:
        print("usage: python -m tdmpc_parity.core.machine [--json]", file=sys.stderr)
        return 2
    print(machine_slug(machine_info(probe_frameworks=False)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
