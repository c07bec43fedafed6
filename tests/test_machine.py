"""tdmpc_parity/core/machine.py: the machine block, its slug, nvidia-smi parsing, and no framework import."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tdmpc_parity.core import machine

SAFE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("info, slug", [
    ({"gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}]}, "gpu-nvidia-h100-80gb"),
    ({"gpus": [{"name": "NVIDIA GeForce RTX 4070 Ti", "memory_mib": 12282}]},
     "gpu-nvidia-geforce-rtx-4070-ti-12gb"),
    ({"gpus": [{"name": "NVIDIA H200", "memory_mib": 143771}] * 2}, "gpu-2x-nvidia-h200-140gb"),
    ({"gpus": [], "cpu_model": "AMD EPYC 7B13 64-Core Processor", "cpu_logical_cores": 2},
     "cpu-amd-epyc-7b13-2c"),
    ({"gpus": [], "cpu_model": "Intel(R) Xeon(R) CPU @ 2.20GHz", "cpu_logical_cores": 8},
     "cpu-intel-xeon-8c"),
    ({"gpus": [], "cpu_model": "../../etc/passwd; rm -rf ~", "cpu_logical_cores": 4},
     "cpu-etc-passwd-rm-rf-4c"),
    ({"gpus": [], "cpu_model": "", "cpu_logical_cores": None}, "cpu-unknown"),
])
def test_slug_examples_are_filesystem_safe(info, slug):
    got = machine.machine_slug(info)
    assert got == slug
    assert SAFE.match(got) and len(got) <= 80


def test_slug_is_bounded_for_long_names():
    got = machine.machine_slug({"gpus": [], "cpu_model": "x" * 500 + " ü/\\:*?", "cpu_logical_cores": 128})
    assert SAFE.match(got) and len(got) <= 80 and got.endswith("-128c")


def test_machine_info_keys_without_probing():
    info = machine.machine_info(probe_frameworks=False)
    for key in ("cpu_model", "cpu_logical_cores", "cpu_physical_cores", "ram_gib", "os", "python", "versions",
                "gpus", "gpu_driver", "cuda_version", "load_average", "machine_slug"):
        assert key in info, key
    assert set(machine.VERSION_PACKAGES) <= set(info["versions"])
    assert isinstance(info["gpus"], list)
    assert info["cpu_logical_cores"] == os.cpu_count()
    assert info["machine_slug"] == machine.machine_slug(info) and SAFE.match(info["machine_slug"])
    assert "jax_backend" not in info  # not probed


def test_machine_info_with_probing_reports_frameworks():
    info = machine.machine_info()
    for key in ("jax_backend", "jax_devices", "torch_cuda_available", "torch_cuda_version"):
        assert key in info
    if info["versions"]["jax"] is not None:
        assert isinstance(info["jax_backend"], str) and not info["jax_backend"].startswith("error")
    if info["versions"]["torch"] is not None:
        assert isinstance(info["torch_cuda_available"], bool)


def test_tdmpc_parity_imports_no_framework():
    code = ("import sys, tdmpc_parity.core.machine, tdmpc_parity.analysis.report, tdmpc_parity.analysis.flops\n"
            "import tdmpc_parity.analysis.benchmeta\n"
            "tdmpc_parity.core.machine.machine_info(probe_frameworks=False)\n"
            "bad = [m for m in ('torch', 'jax', 'jaxlib', 'flax', 'matplotlib.pyplot') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_nvidia_smi_means_no_gpus(monkeypatch):
    monkeypatch.setattr(machine.shutil, "which", lambda name: None)
    assert machine.gpu_info() == {"gpus": [], "gpu_driver": None, "cuda_version": None}


def test_nvidia_smi_output_is_parsed(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$#" -gt 0 ]; then\n'
        '  echo "NVIDIA H100 80GB HBM3, 81559, 550.54.15"\n'
        '  echo "NVIDIA H100 80GB HBM3, 81559, 550.54.15"\n'
        "else\n"
        '  echo "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4 |"\n'
        "fi\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    got = machine.gpu_info()
    assert got == {"gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}] * 2,
                   "gpu_driver": "550.54.15", "cuda_version": "12.4"}
    assert machine.machine_slug({**got, "cpu_model": "x"}) == "gpu-2x-nvidia-h100-80gb"


def test_failing_nvidia_smi_is_tolerated(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert machine.gpu_info() == {"gpus": [], "gpu_driver": None, "cuda_version": None}


def test_load_average_and_cli(capsys):
    load = machine.load_average()
    if hasattr(os, "getloadavg"):
        assert isinstance(load, list) and len(load) == 3 and all(x >= 0 for x in load)
    assert machine.main([]) == 0
    slug = machine.machine_slug(machine.machine_info(probe_frameworks=False))
    assert capsys.readouterr().out.strip() == slug
    assert machine.main(["--bogus"]) == 2
