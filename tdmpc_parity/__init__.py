"""tdmpc-parity: TD-MPC2 in a PyTorch reference backend and a JAX/MJX backend, proven equal and benchmarked.

The Python API (tdmpc_parity/app/api.py, docs/python-api.md) is importable from here: `load_config`, `train`,
`load_agent`, `make_env`, `evaluate` and their results, and `register_task` / `unregister_task` (your own tasks,
tdmpc_parity/core/task_registry.py). They are loaded on first use, so `import tdmpc_parity` imports no backend
framework (torch, jax).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Agent", "EvalResult", "FinalEval", "RunResult", "evaluate", "load_agent", "load_config", "make_env",
           "register_task", "train", "unregister_task"]
_REGISTRY_NAMES = ("register_task", "unregister_task")


def __getattr__(name: str) -> Any:
    """The API's names, imported from tdmpc_parity.app.api when first asked for."""
    if name in _REGISTRY_NAMES:
        from tdmpc_parity.core import task_registry

        return getattr(task_registry, name)
    if name in __all__:
        from tdmpc_parity.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'tdmpc_parity' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
