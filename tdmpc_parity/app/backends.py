"""The two backends by name: `backend_module` imports `<backend package>.<name>` and says how to install a missing
backend; `CLIError` is a user error of the `tdmpc-parity` command (printed as one line, exit code 2)."""

from __future__ import annotations

import importlib
import importlib.util

BACKEND_MODULES = {"torch": "torch_ref", "jax": "jax_impl"}
INSTALL_HINT = {"torch": "pip install torch==2.13.0 -e '.[torch]'", "jax": "pip install -e '.[jax]'"}


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def backend_module(backend: str, name: str):
    """Import `<backend package>.<name>`; a backend that is not installed is a CLIError saying how to install."""
    if backend not in BACKEND_MODULES:
        raise CLIError(f"unknown backend {backend!r}; choose torch or jax")
    framework = "torch" if backend == "torch" else "jax"
    if importlib.util.find_spec(framework) is None:
        raise CLIError(f"backend {backend!r} is not installed (no module {framework!r}): {INSTALL_HINT[backend]}")
    return importlib.import_module(f"{BACKEND_MODULES[backend]}.{name}")
