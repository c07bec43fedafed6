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


class WorkerLogs:
    """Under pytest-xdist (`-n N`) each worker records its own tests' comparisons: the controller folds each
    worker's log into its own as the worker shuts down, then writes the one report."""

    @pytest.hookimpl
    def pytest_testnodedown(self, node, error) -> None:  # noqa: ANN001 - xdist's WorkerController, its error
        from parity.helpers import LOG

        data = getattr(node, "workeroutput", {}).get("parity_log")
        if data is not None:
            LOG.merge(data)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--parity-report") and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(WorkerLogs(), "parity-worker-logs")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = session.config.getoption("--parity-report")
    if not out:
        return
    from parity.helpers import LOG
    from tdmpc_parity.analysis.parity_report import write_report

    if hasattr(session.config, "workerinput"):  # an xdist worker: its log travels to the controller
        session.config.workeroutput["parity_log"] = LOG.to_json()
        return
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
