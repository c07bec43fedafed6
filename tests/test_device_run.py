"""The one-shot GPU run, rehearsed on the CPU: bundle, budget, crash recovery and the whole dry run.

The dry run (`bench.device.dryrun`) builds the bundle for this Python (package index), makes a Python that
holds only what the GPU machine has preinstalled, and runs `bench/device/run.sh` in it with a tiny budget:
offline install, facts, smoke, a budgeted CPU benchmark, the JSON read back by the report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench.budget import MIN_ROUNDS, Budget, BudgetSkip, case_priority
from bench.device.bundle import (
    CARRY_LIMIT_BYTES,
    DEVICE_PREINSTALLED,
    TEST_STACK,
    bundle_requirements,
    pinned_versions,
    strip_wheel,
)
from bench.json_target import BenchmarkJsonTarget, json_path
from tdmpc_parity.analysis.report import load_results

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------------
# The bundle's list and its stripping
# ----------------------------------------------------------------------------------------------------------


def test_bundle_versions_are_the_tested_ones_and_skip_what_the_device_has() -> None:
    import importlib.metadata as md

    reqs = dict(r.split("==") for r in bundle_requirements())
    pins = pinned_versions()
    for name in ("mujoco", "mujoco-mjx", "playground", "dm_control", "gymnasium"):
        assert reqs[name] == pins[name.replace("_", "-").lower()]
    # the device's own packages are never carried, except the test runner, at the versions CI runs
    assert {n.lower() for n in reqs} & {n.lower() for n in DEVICE_PREINSTALLED} == {"pytest", "pytest-benchmark"}
    assert all(reqs[name] == md.version(name) for name in TEST_STACK)
    assert "torch" not in reqs and "jax" not in reqs


def test_benchmark_json_target_serves_old_and_new_pytest_benchmark(tmp_path: Path) -> None:
    target = BenchmarkJsonTarget(tmp_path / "a.json")
    with open(target, "wb") as fh:  # pytest-benchmark >= 5.3
        fh.write(b'{"new": 1}')
    assert json.loads((tmp_path / "a.json").read_text()) == {"new": 1}
    with target as fh:  # pytest-benchmark <= 5.2 (an argparse.FileType value)
        fh.write(b'{"old": 2}')
    assert json.loads((tmp_path / "a.json").read_text()) == {"old": 2}
    assert str(target) == str(tmp_path / "a.json") and json_path(target) == tmp_path / "a.json"
    with open(tmp_path / "b.json", "wb") as opened:  # what argparse hands an old version for --benchmark-json
        assert json_path(opened) == tmp_path / "b.json"
    assert json_path(None) is None and json_path(str(tmp_path / "c.json")) == tmp_path / "c.json"


def test_a_gpu_run_on_a_machine_without_one_stops_at_once_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    from bench.device.run import gpu_problems

    probe = {"jax_backend": "cpu", "torch_cuda": False}
    problems = gpu_problems(probe)
    assert len(problems) == 2 and "not 'gpu'" in problems[0] and "no CUDA" in problems[1]
    assert gpu_problems({"jax_backend": "gpu", "torch_cuda": True}) == []
    # a JAX-only run (the CPU rehearsal's --no-torch) asks nothing of torch
    assert gpu_problems({"jax_backend": "gpu", "torch_error": "ModuleNotFoundError: torch"}, no_torch=True) == []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT")}
    env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    res = subprocess.run([sys.executable, "-m", "bench.device.run", "--out", str(tmp_path), "--profile", "gpu"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    assert "STOPPED, nothing measured: JAX's default backend is 'cpu', not 'gpu'" in res.stdout
    summary = json.loads((tmp_path / "device_run.json").read_text())
    assert summary["backends"]["jax_backend"] == "cpu" and "smoke" not in summary and summary["seconds"] < 60
    assert not (tmp_path / "smoke.json").exists()
    # no GPU: JAX reports no CUDA libraries and (no nvidia-* distribution here) the facts' cuda is null
    assert "jax_cuda" not in summary["backends"] and summary["facts"]["cuda"] is None
    assert summary["backends"]["torch_cuda"] is False and summary["backends"]["torch_cudnn_version"] is None


def test_the_train_plan_predicts_from_the_probe_and_skips_what_it_cannot_predict(tmp_path: Path) -> None:
    from bench.budget import MIN_ROUNDS
    from bench.device.plan import make_plan, read_plan

    def rec(backend: str, bench: str, compile_s: float, median: float, **info: int) -> dict:
        return {"name": f"{bench}[{backend}]", "stats": {"median": median},
                "extra_info": {"bench": bench, "backend": backend, "compile_seconds": compile_s, **info}}

    records = [rec("jax", "env_step", 20.0, 0.5, agent_steps_per_call=50, n_envs=1),
               rec("jax", "plan", 30.0, 0.02, agent_steps_per_call=1, n_envs=1),
               rec("jax", "update", 10.0, 0.4, updates_per_call=4),
               rec("torch", "env_step", 0.1, 1.0, agent_steps_per_call=50, n_envs=1)]
    plan = make_plan(records, {"a": ("jax", 5, 5), "b": ("torch", 5, 5)})
    # jax: 2 programs x (20 + 30 + 10) s compile + 3 calls x (5 x (0.5/50 + 0.02) + 5 x 0.4/4)
    assert plan["cases"]["a"] == pytest.approx(2 * 60.0 + MIN_ROUNDS * (5 * 0.03 + 5 * 0.1), abs=0.05)
    assert plan["cases"]["b"] is None  # the probe measured no torch plan or update: nothing predicts it
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert read_plan(path) == {"a": plan["cases"]["a"], "b": None}
    path.write_text('{"cases": {"a": "soon"}}')
    with pytest.raises(ValueError, match="is not a plan file"):
        read_plan(path)
    budget = Budget(100.0)
    with pytest.raises(BudgetSkip, match="planned at 150 s"):
        budget.check_start(150.0)
    budget.check_start(50.0)


def test_the_probe_keeps_what_a_budget_skipped_case_measured(tmp_path: Path) -> None:
    from bench.device.run import write_probe

    info = {"bench": "update", "backend": "jax", "compile_seconds": 12.0, "updates_per_call": 4}
    data = {"benchmarks": [{"name": "test_bench_env_step[jax-E1]", "stats": {"median": 0.01},
                            "extra_info": {"bench": "env_step", "backend": "jax"}}],
            "skipped_cases": [{"case": "bench/test_bench_update.py::test_bench_update[jax-noglass]",
                               "reason": "budget: fewer than 3 timed calls fit",
                               "measured": {"extra_info": info, "call_seconds": 0.5}},
                              {"case": "bench/test_bench_plan.py::test_bench_plan[jax-E1-mppi]",
                               "reason": "budget: 4 s left"}]}
    (tmp_path / "cpu-x").mkdir()
    (tmp_path / "cpu-x" / "a.json").write_text(json.dumps(data))
    records = json.loads(write_probe(tmp_path).read_text())["records"]
    assert [r["name"] for r in records] == ["test_bench_env_step[jax-E1]", "test_bench_update[jax-noglass]"]
    assert records[1]["stats"] == {"median": 0.5} and records[1]["extra_info"] == info
    assert records[1]["skipped"].startswith("budget:")


def test_the_train_stage_needs_the_probes_file(tmp_path: Path) -> None:
    for extra, message in (([], "give --probe"), (["--probe", str(tmp_path / "nope.json")], "not the probe.json")):
        res = subprocess.run([sys.executable, "-m", "bench.device.run", "--out", str(tmp_path / "o"), "--stage",
                              "train", *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and message in res.stderr, res.stderr
        assert not (tmp_path / "o").exists()


def test_a_session_that_ends_on_its_own_is_not_retried(tmp_path: Path) -> None:
    from bench.device.run import run_bench

    attempts = run_bench(tmp_path, "cpu", budget=60, case_seconds=1.0, pytest_args=["--bench-task", "no-such-task"])
    assert len(attempts) == 1 and attempts[0]["rc"] == 4 and attempts[0]["crashed"] == []


def _make_wheel(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("dm_control-1.0.50.dist-info/RECORD", "garbage,,\n")


def test_strip_wheel_removes_assets_keeps_modules_and_rewrites_record(tmp_path: Path) -> None:
    src = tmp_path / "src" / "dm_control-1.0.50-py3-none-any.whl"
    src.parent.mkdir()
    files = {
        "dm_control/suite/hopper.xml": b"<mujoco/>",
        "dm_control/suite/hopper.py": b"x = 1\n",
        "dm_control/suite/dog_assets/dog.stl": b"\0" * 1000,
        "dm_control/locomotion/walkers/ant.xml": b"<mujoco/>" * 50,
        "dm_control/locomotion/walkers/__init__.py": b"",
        "dm_control/mujoco/testing/assets/x.png": b"\1" * 10,
    }
    _make_wheel(src, files)
    out = tmp_path / "out"
    out.mkdir()
    entry = strip_wheel(src, out)
    with zipfile.ZipFile(out / src.name) as z:
        names = set(z.namelist())
        record = z.read("dm_control-1.0.50.dist-info/RECORD").decode().splitlines()
        contents = {n: z.read(n) for n in names}
    assert names == {"dm_control/suite/hopper.xml", "dm_control/suite/hopper.py",
                     "dm_control/locomotion/walkers/__init__.py", "dm_control-1.0.50.dist-info/RECORD"}
    rows = {line.split(",")[0]: line.split(",")[1:] for line in record}
    assert set(rows) == names
    for name, (digest, size) in rows.items():
        if name.endswith("RECORD"):
            assert digest == size == ""
            continue
        want = base64.urlsafe_b64encode(hashlib.sha256(contents[name]).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={want}" and int(size) == len(contents[name])
    assert entry["removed_unpacked_bytes"]["dm_control/suite/dog_assets/*"] == 1000
    assert entry["removed_unpacked_bytes"]["dm_control/locomotion/*"] == len(b"<mujoco/>") * 50


def test_strip_wheel_refuses_a_file_that_is_not_a_wheel(tmp_path: Path) -> None:
    bad = tmp_path / "mujoco-3.17.0-py3-none-any.whl"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("mujoco/__init__.py", "")
    with pytest.raises(ValueError, match="not a wheel"):
        strip_wheel(bad, tmp_path)


# ----------------------------------------------------------------------------------------------------------
# The budget
# ----------------------------------------------------------------------------------------------------------


def test_priority_puts_the_seed_and_official_training_cases_first() -> None:
    ids = {
        "test_bench_env_step": ["torch-E1", "jax-E1", "torch-E256", "jax-E256", "jax-E4096"],
        "test_bench_plan": ["torch-E1-mppi", "jax-E1-mppi", "torch-E256-mppi", "jax-E256-mppi"],
        "test_bench_update": ["torch-noglass", "jax-noglass", "torch-glass", "jax-glass"],
        "test_bench_train_iteration": ["torch-official-E1-mppi", "jax-official-E1-mppi", "torch-fast-E256-policy",
                                       "jax-fast-E256-policy", "torch-fast-E256-mppi", "jax-fast-E256-mppi"],
    }
    cases = [(fn, i) for fn, lst in ids.items() for i in lst]
    ordered = sorted(cases, key=lambda c: case_priority(*c))
    assert ordered[:4] == [("test_bench_train_iteration", "torch-fast-E256-policy"),
                           ("test_bench_train_iteration", "jax-fast-E256-policy"),
                           ("test_bench_train_iteration", "torch-official-E1-mppi"),
                           ("test_bench_train_iteration", "jax-official-E1-mppi")]
    assert ordered[-2:] == [("test_bench_train_iteration", "torch-fast-E256-mppi"),
                            ("test_bench_train_iteration", "jax-fast-E256-mppi")]
    for fn, lst in ids.items():  # the two backends of one setting are never split by another case
        for name in lst:
            if name.startswith("torch-"):
                twin = (fn, "jax-" + name.removeprefix("torch-"))
                assert ordered.index(twin) - ordered.index((fn, name)) == 1


def test_budget_cuts_rounds_and_skips_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("bench.budget.time.monotonic", lambda: clock[0])
    budget = Budget(100.0, case_seconds=10.0)
    assert budget.rounds(50, compile_seconds=3.0, call_seconds=0.5) == 20  # the case cap: 10 s / 0.5 s
    assert budget.rounds(8, compile_seconds=3.0, call_seconds=0.5) == 8  # never more than the profile's
    clock[0] += 90.0  # 10 s left, 5 s reserved
    assert budget.rounds(50, compile_seconds=3.0, call_seconds=1.0) == 5
    with pytest.raises(BudgetSkip, match=f"fewer than {MIN_ROUNDS} timed calls fit"):
        budget.rounds(50, compile_seconds=3.0, call_seconds=2.0)
    budget.check_start()  # 10 s left: may start
    clock[0] += 1.0
    with pytest.raises(BudgetSkip, match="needs >= 10 s to start"):
        budget.check_start()
    with pytest.raises(ValueError, match="positive"):
        Budget(0.0)


# ----------------------------------------------------------------------------------------------------------
# Record names: -dirty means a code change, not a results file
# ----------------------------------------------------------------------------------------------------------


def test_commit_tag_ignores_results_and_honours_tdmpc_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.conftest import _commit

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "parity.md").write_text("a\n")
    (tmp_path / "code.py").write_text("a = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    monkeypatch.delenv("TDMPC_COMMIT", raising=False)
    clean = _commit(tmp_path)
    assert len(clean) == 10 and not clean.endswith("-dirty")
    (tmp_path / "results" / "parity.md").write_text("b\n")  # what `check` writes before benchmarking
    assert _commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("a = 2\n")
    assert _commit(tmp_path) == clean + "-dirty"
    monkeypatch.setenv("TDMPC_COMMIT", "abc123")
    assert _commit(tmp_path) == "abc123"


def test_mjx_warp_is_refused_with_a_clear_error() -> None:
    pytest.importorskip("jax")
    from jax_impl.env import MJXEnv
    from tdmpc_parity.core.config import load_config

    with pytest.raises(ValueError, match="mjx_impl.*use mjx_impl=jax"):
        MJXEnv(load_config("official", values={"task": "pendulum-swingup", "backend": "jax", "mjx_impl": "warp"}))


# ----------------------------------------------------------------------------------------------------------
# Crash recovery and the whole dry run (minutes: real pytest sessions, real JAX compiles)
# ----------------------------------------------------------------------------------------------------------

CRASH_PLUGIN = '''
import os

def pytest_runtest_call(item):
    if "env_step[torch-E1]" in item.nodeid:
        os._exit(134)  # what a segfault or a CUDA abort does to the process: no teardown, no JSON at exit
'''


def _bench_json(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*/*.json"))]


def test_a_crashing_case_loses_only_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    from bench.device.run import run_bench

    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "crash_plugin.py").write_text(CRASH_PLUGIN)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path / 'plug'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = tmp_path / "out"
    attempts = run_bench(out, "cpu", budget=120, case_seconds=1.0,
                         pytest_args=["-p", "crash_plugin", "-k", "env_step", "--bench-task", "pendulum-swingup"])
    assert attempts[0]["rc"] == 134
    assert attempts[0]["crashed"] == ["bench/test_bench_env.py::test_bench_env_step[torch-E1]"]
    assert len(attempts) == 2 and attempts[1]["rc"] == 0 and attempts[1]["crashed"] == []
    names = sorted(b["name"] for data in _bench_json(out) for b in data["benchmarks"])
    assert names == ["test_bench_env_step[jax-E1]", "test_bench_env_step[jax-E8]", "test_bench_env_step[torch-E8]"]
    load_results(out)  # what was written is what the report reads


def test_device_dry_run_offline_in_a_device_like_python(tmp_path: Path) -> None:
    import importlib.metadata as md

    pytest.importorskip("jax")
    pytest.importorskip("torch")
    from bench.device.dryrun import dry_run

    # the two commands of a GPU lease. 60 s: on a slow 2-core host the JAX env case alone compiles in 20 s
    rc = dry_run(tmp_path, budget=90.0, case_seconds=2.0, train_budget=90.0)
    out, out_train = tmp_path / "out", tmp_path / "out-train"
    log = (out / "device_run.log").read_text()
    train_log = out_train / "device_run.log"
    assert rc == 0, log[-3000:] + (train_log.read_text()[-3000:] if train_log.exists() else "")
    for folder in (out, out_train):  # what comes back from a device command: at most 8 files, 2 folders deep
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert len(files) <= 8 and all(len(p.relative_to(folder).parts) <= 3 for p in files), files
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["total_bytes"] < CARRY_LIMIT_BYTES and manifest["python_version"] == (
        f"{sys.version_info.major}.{sys.version_info.minor}")
    assert "installing 19 wheels offline" in log and "nvidia-smi: not found" in log
    # the device-like Python has an older pytest-benchmark of its own; the bundle's ran the benchmarks
    own = subprocess.run([str(tmp_path / "devpy" / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('pytest-benchmark'))"],
                         capture_output=True, text=True, env={"PATH": os.environ["PATH"]}).stdout.strip()
    assert own == "5.1.0"
    versions = json.loads((out / "device_run.json").read_text())["facts"]["versions"]
    assert versions["pytest-benchmark"] == md.version("pytest-benchmark") != own
    smoke = json.loads((out / "smoke.json").read_text())["checks"]
    assert [c["check"] for c in smoke] == ["imports", "task_envs", "jax_step", "torch_step"]
    assert all(c["passed"] for c in smoke), smoke
    assert "torch" in smoke[1]["detail"]["hopper-hop"] and "jax" in smoke[1]["detail"]["hopper-hop"]
    summary = json.loads((out / "device_run.json").read_text())
    assert summary["smoke"]["passed"] and summary["records"] >= 1
    (data,) = _bench_json(out)
    assert data["bench_budget_seconds"] == 90.0
    assert data["benchmarks"], "the probe's budget runs cases (and skips with a reason what does not fit)"
    assert all(s["reason"].startswith("budget:") for s in data["skipped_cases"])
    assert data["machine_info"]["xla_env"]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert summary["facts"]["cuda"] is None  # a CPU: no CUDA libraries
    # set-up (envs, agents) and compile are separate: each record has both, neither negative
    assert all(b["extra_info"]["setup_seconds"] >= 0 and b["extra_info"]["compile_seconds"] > 0
               for b in data["benchmarks"])
    jax_records = [b for b in data["benchmarks"] if b["extra_info"]["backend"] == "jax"]
    assert jax_records and all(b["extra_info"]["mjx_impl"] == "jax" for b in jax_records)
    assert all(b["stats"]["rounds"] == b["extra_info"]["budget_rounds"] for b in data["benchmarks"])
    probe = json.loads((out / "probe.json").read_text())["records"]
    # every record, and (under load, where the budget cuts a case after its first calls) each budget-skipped
    # case's first-call measurement, marked with its skip reason
    assert sorted(r["name"] for r in probe if "skipped" not in r) == sorted(b["name"] for b in data["benchmarks"])
    skipped = {s["case"].split("::")[-1]: s["reason"] for s in data["skipped_cases"]}
    assert all(skipped[r["name"]] == r["skipped"] for r in probe if "skipped" in r)
    # the train stage: only training cases, each run or skipped by the plan made from the probe
    plan = json.loads((out_train / "plan.json").read_text())
    assert set(plan["cases"]) == {f"test_bench_train_iteration[{b}-{c}]" for b in ("torch", "jax")
                                  for c in ("official-E1-mppi", "fast-E8-policy", "fast-E8-mppi")} | {
        "test_bench_paired[train_iteration-fast-E8-policy]", "test_bench_paired[train_iteration-official-E1-mppi]"} | {
        f"test_bench_physics_train_iteration[jax-{c}]"  # the JAX cases in the physics their main case does not run
        for c in ("dm_control-fast-E8-policy", "playground-official-E1-mppi", "dm_control-fast-E8-mppi")}
    (train,) = _bench_json(out_train)
    ran = {b["name"] for b in train["benchmarks"]}
    skipped = {s["case"].split("::")[-1]: s["reason"] for s in train["skipped_cases"]}
    assert ran | set(skipped) == set(plan["cases"]) and all(r.startswith("budget:") for r in skipped.values())
    for name, expected in plan["cases"].items():  # a planned case over the time left never started
        if expected is not None and expected > 90.0:
            assert name in skipped and "planned at" in skipped[name], (name, expected, skipped.get(name))
        if expected is None:  # the probe timed no JAX update or plan: nothing predicts JAX training
            assert "jax" in name or "paired" in name
            assert "nothing predicts" in skipped[name]
    assert {b["extra_info"]["backend"] for b in train["benchmarks"]} == {"torch"}
    results = tmp_path / "results"  # what the README says to do with a device run's output
    shutil.copytree(next(out.glob("*/")), results / next(out.glob("*/")).name)
    _, records = load_results(results)
    assert len(records) == len(data["benchmarks"])
    assert "benchmark report" in (out / "REPORT.md").read_text()
    assert not (ROOT / "device_out").exists()
