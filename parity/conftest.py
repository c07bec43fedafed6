"""Parity-suite options: `--parity-report DIR` writes DIR/parity.md and DIR/parity.json at the end."""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "disable")
if importlib.util.find_spec("torch") is not None:  # tiny models: one thread, no OpenMP spin on shared cores
    import torch

    torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--parity-report", default=None, metavar="DIR",
                     help="write parity.md and parity.json (max abs/rel difference per component and dtype)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = session.config.getoption("--parity-report")
    if not out:
        return
    from harness.parity_report import write_report
    from parity.helpers import LOG

    notes = {}
    try:  # the environment drift measurement, when the env parity module provides it
        from parity.test_env_parity import drift_notes

        notes = drift_notes()
    except Exception:  # noqa: BLE001 - the report must still be written without it
        notes = {}
    write_report(LOG, out, notes)


@pytest.fixture(params=["float32", "float64"])
def dtype(request) -> str:
    return request.param
