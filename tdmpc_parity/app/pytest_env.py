"""The environment of a pytest this package starts in a child process (`check`, `bench`, the device run, mutants)."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Set by pytest-xdist in each worker; a child pytest that inherits them takes itself for a worker.
XDIST_WORKER_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


def child_pytest_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) without pytest-xdist's worker variables.

    A test that runs on an xdist worker (`pytest -n 2`, the README's test command) and starts a pytest of its
    own must not pass them on: pytest-benchmark reads PYTEST_XDIST_WORKER and then silently disables timing, so
    the child's benchmarks would write no JSON.
    """
    env = dict(os.environ if base is None else base)
    for name in XDIST_WORKER_VARIABLES:
        env.pop(name, None)
    return env
