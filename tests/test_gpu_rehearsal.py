"""The GPU run's rehearsal (.ci/gpu_run_rehearsal.sh): its deprecation check, its JAX-only mode, its verdict, and
what the run records beside it (the CUDA libraries in the facts, set-up seconds per case).

The rehearsal itself needs the package index and minutes; CI runs it as its own step (.ci/run).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from bench.device.dryrun import (
    UPSTREAM_ERROR_FILTER,
    UpstreamDeprecationWarning,
    deprecations_as_errors,
    packages_from_env,
    rehearsal_verdict,
)

ROOT = Path(__file__).resolve().parents[1]

# `upfake` stands for jax/flax/optax/orbax; `upfakeopt` for jaxopt (a name that starts like one of them) and
# `thirdparty` for any other package. `project` is the project's own code calling them.
FAKE_PACKAGES = {
    "upfake/__init__.py": """
        import warnings

        def deprecated_api():  # an API deprecation: attributed to the caller, as jax's, flax's and optax's
            warnings.warn("upfake.deprecated_api is deprecated", DeprecationWarning, stacklevel=2)

        def internal():  # attributed to upfake itself (jax.nn.one_hot's float input, stacklevel=1)
            warnings.warn("internal use is deprecated", DeprecationWarning)

        def silenced():  # a deprecation the package silences on purpose
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.warn("silenced", DeprecationWarning)

        def future():
            warnings.warn("the default will change", FutureWarning, stacklevel=2)
    """,
    "upfakeopt/__init__.py": """
        import warnings

        def unmaintained():
            warnings.warn("upfakeopt is no longer maintained", DeprecationWarning, stacklevel=2)
    """,
    "thirdparty/__init__.py": """
        import warnings

        import upfake

        def own():
            warnings.warn("thirdparty.own is deprecated", DeprecationWarning, stacklevel=2)

        def calls_upfake():
            upfake.deprecated_api()
    """,
    "project.py": """
        import warnings

        import thirdparty
        import upfake
        import upfakeopt

        def uses_deprecated_api():
            upfake.deprecated_api()

        def uses_internal():
            upfake.internal()

        def uses_silenced():
            upfake.silenced()

        def uses_future():
            upfake.future()

        def uses_unmaintained():
            upfakeopt.unmaintained()

        def uses_thirdparty():
            thirdparty.own()

        def uses_thirdparty_calling_upfake():
            thirdparty.calls_upfake()

        def warns_itself():
            warnings.warn("project helper is deprecated", DeprecationWarning, stacklevel=2)
    """,
}


def _write_fakes(folder: Path) -> None:
    for name, text in FAKE_PACKAGES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake packages importable, `warnings.warn` and the warning filters restored afterwards."""
    _write_fakes(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(warnings, "warn", warnings.warn)
    for name in ("project", "thirdparty", "upfake", "upfakeopt"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import project

    with warnings.catch_warnings():
        yield project


def test_the_deprecations_an_upstream_package_issues_become_errors_and_no_others(project) -> None:
    # the filter `python -W error::DeprecationWarning:upfake` would set (module escaped, whole name) misses the API
    # deprecation: the warning is attributed to the caller's module
    warnings.resetwarnings()
    warnings.filterwarnings("error", category=DeprecationWarning, module="upfake\\Z")
    warnings.simplefilter("ignore", DeprecationWarning, append=True)
    project.uses_deprecated_api()

    warnings.resetwarnings()
    warnings.simplefilter("ignore", DeprecationWarning)  # as the project's pytest ini
    deprecations_as_errors(["upfake"])
    with pytest.raises(UpstreamDeprecationWarning, match=r"deprecated_api is deprecated \[DeprecationWarning issued "
                                                         r"by upfake, attributed to project, reached from project:9\]"):
        project.uses_deprecated_api()
    with pytest.raises(UpstreamDeprecationWarning, match="attributed to upfake, reached from project:12]"):
        project.uses_internal()
    with pytest.raises(UpstreamDeprecationWarning,  # upfake's deprecation, used by another package
                       match="attributed to thirdparty, reached from thirdparty:10]"):
        project.uses_thirdparty_calling_upfake()
    project.uses_silenced()  # what the package silences stays silent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deprecations_as_errors(["upfake"])  # installed again: one wrapper, not two
        project.uses_unmaintained()  # upfakeopt is not upfake
        project.uses_thirdparty()
        project.warns_itself()
        project.uses_future()  # not a DeprecationWarning
    assert [(w.category, Path(w.filename).stem) for w in caught] == [
        (DeprecationWarning, "project"), (DeprecationWarning, "project"), (DeprecationWarning, "test_gpu_rehearsal"),
        (FutureWarning, "project")]
    assert warnings.warn.__wrapped__ is not warnings.warn and not hasattr(warnings.warn.__wrapped__, "__wrapped__")


def test_a_real_jax_deprecation_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    monkeypatch.setattr(warnings, "warn", warnings.warn)
    with warnings.catch_warnings():
        deprecations_as_errors(["jax"])
        with pytest.raises(UpstreamDeprecationWarning, match="one_hot input should be integer-typed"):
            jax.nn.one_hot(jnp.array([1.0]), 3)  # deprecated since jax 0.4.38, still a warning in 0.10
        try:
            from jax._src.deprecations import deprecation_getattr
        except ImportError:  # a private helper: the public one_hot case above is the check that counts
            return
        getattr_ = deprecation_getattr("jax.fake", {"old": ("jax.fake.old is deprecated", len)})
        with pytest.raises(UpstreamDeprecationWarning, match=f"attributed to {re.escape(__name__)}"):
            getattr_("old")  # a deprecated module attribute: stacklevel=2, attributed here


def test_packages_come_from_the_environment() -> None:
    assert packages_from_env({"TDMPC_DEPRECATIONS_AS_ERRORS": " jax, flax,,optax "}) == ("jax", "flax", "optax")
    assert packages_from_env({}) == ()
    assert UPSTREAM_ERROR_FILTER == "error::bench.device.dryrun.UpstreamDeprecationWarning"


TIMED_TESTS = '''
import time
from types import SimpleNamespace

import project
from bench.protocol import bench_config, extra_info_fn, time_call, time_pair


def _info(bench_profile):
    cfg = bench_config(bench_profile, backend="jax", task="pendulum-swingup")
    return extra_info_fn(cfg, bench_profile, bench="env_step", device="cpu", agent_steps_per_call=1,
                         updates_per_call=0, profile="official")


def _call(first_seconds):
    calls = []

    def call():
        time.sleep(first_seconds if not calls else 0.0)
        calls.append(1)

    return call


def test_bench_upstream_deprecation():
    project.uses_deprecated_api()


def test_other_deprecations():
    project.uses_unmaintained()
    project.uses_thirdparty()


def test_bench_timed(benchmark, bench_profile):
    time.sleep(0.4)  # the case's set-up
    time_call(benchmark, bench_profile, _call(1.0), _info(bench_profile))


def test_bench_paired(benchmark, bench_profile):
    time.sleep(0.4)
    info = _info(bench_profile)
    first, second = SimpleNamespace(call=_call(1.0)), SimpleNamespace(call=_call(0.5), info=info)
    time_pair(benchmark, bench_profile, first, second)
'''


@pytest.fixture(scope="module")
def bench_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """A pytest session with bench/conftest.py's hooks, an ini that ignores DeprecationWarning as the project's,
    the deprecation check on for `upfake`, and timed cases; (its process, its benchmark JSON)."""
    folder = tmp_path_factory.mktemp("session")
    _write_fakes(folder)
    (folder / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    ignore::DeprecationWarning\n")
    (folder / "test_session.py").write_text(TIMED_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(PYTHONPATH=f"{ROOT}{os.pathsep}{folder}", TDMPC_DEPRECATIONS_AS_ERRORS="upfake",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    out = folder / "bench.json"
    res = subprocess.run([sys.executable, "-m", "pytest", "-p", "pytest_benchmark.plugin", "-p", "bench.conftest",
                          "-p", "no:cacheprovider", "-q", "-rA", "--benchmark-json", str(out), "test_session.py"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    return res, out


def test_pytest_makes_upstream_deprecations_errors_over_the_ini_ignore(bench_session) -> None:
    res, out = bench_session
    text = res.stdout + res.stderr
    assert "FAILED test_session.py::test_bench_upstream_deprecation" in text, text[-3000:]
    assert "PASSED test_session.py::test_other_deprecations" in text, text[-3000:]
    assert "1 failed, 3 passed" in text, text[-3000:]
    # the JSON names the failed case with its exception, where the deprecated API was used
    assert json.loads(out.read_text())["failed_cases"] == [{
        "case": "test_session.py::test_bench_upstream_deprecation", "when": "call",
        "reason": "bench.device.dryrun.UpstreamDeprecationWarning: upfake.deprecated_api is deprecated "
                  "[DeprecationWarning issued by upfake, attributed to project, reached from project:9]"}]


def test_every_timed_record_has_its_setup_seconds(bench_session) -> None:
    res, out = bench_session
    records = {b["name"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    timed, paired = records["test_bench_timed"], records["test_bench_paired"]
    assert timed["compile_seconds"] >= 1.0 and paired["compile_seconds"] >= 0.5
    # 0.4 s of set-up; the first call's 1 s is compile, not set-up (for the paired case: the first backend's)
    assert 0.4 <= timed["setup_seconds"] < 1.2, timed
    assert paired["paired"]["first_compile_seconds"] >= 1.0
    assert 0.4 <= paired["setup_seconds"] < 1.2, paired


def test_setup_clock_marks_the_start_of_the_first_call() -> None:
    from bench.conftest import _SetupClock

    clock = _SetupClock(time.perf_counter() - 5.0)
    clock.update({"bench": "env_step"})
    assert "setup_seconds" not in clock
    clock.update({"compile_seconds": 2.0})
    assert clock["setup_seconds"] == pytest.approx(3.0, abs=0.5)
    clock.update({"compile_seconds": 4.0})  # only the first arrival counts
    assert clock["setup_seconds"] == pytest.approx(3.0, abs=0.5)


def test_bench_backends_skips_the_left_out_backends_cases_with_the_reason() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "bench/test_bench_update.py",
                          "bench/test_bench_paired.py", "-k", "torch or paired", "--bench-backends", "jax"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    text = res.stdout + res.stderr
    assert res.returncode == 0 and "3 skipped" in text, text[-3000:]  # torch-noglass, torch-glass, the paired one
    skips = [line for line in text.splitlines() if line.startswith("SKIPPED")]
    assert skips and all(line.endswith("backend torch left out (--bench-backends jax)") for line in skips), skips
    bad = subprocess.run([sys.executable, "-m", "pytest", "-q", "bench/test_bench_update.py",
                          "--bench-backends", "jax,tf"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 4 and "--bench-backends 'jax,tf': give one or more of torch, jax" in bad.stderr


def test_the_facts_carry_the_cuda_libraries_null_on_a_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.device.run import cuda_facts, facts, nvidia_distributions

    assert nvidia_distributions() == {}, "this test expects a machine without pip-installed CUDA libraries"
    assert facts()["cuda"] is None
    info = tmp_path / "nvidia_cudnn_cu13-9.13.0.50.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nvidia-cudnn-cu13\nVersion: 9.13.0.50\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert nvidia_distributions() == {"nvidia-cudnn-cu13": "9.13.0.50"}
    assert facts()["cuda"] == {"nvidia_distributions": {"nvidia-cudnn-cu13": "9.13.0.50"}, "jax": None}
    jax_cuda = {"cuda_runtime": 13000, "cudnn": 91300, "compute_capability": "9.0"}
    assert cuda_facts({}, jax_cuda) == {"nvidia_distributions": {}, "jax": jax_cuda}
    assert cuda_facts({}, None) is None and cuda_facts({}, {}) is None


def _run_output(folder: Path, *, smoke_checks: list[dict], failed: list[dict], records: list[str],
                skipped: list[dict]) -> Path:
    """A run's output folder as bench/device/run.py writes it, with only what the verdict reads."""
    (folder / "cpu-x").mkdir(parents=True)
    summary = {"facts": {"machine_info": {"python": "3.12.1"}, "versions": {"jax": "0.11.2", "flax": "0.12.1"}},
               "smoke": {"passed": all(c["passed"] for c in smoke_checks), "rc": 0},
               "bench_attempts": [{"attempt": 1, "rc": 1 if failed else 0}]}
    (folder / "device_run.json").write_text(json.dumps(summary))
    (folder / "smoke.json").write_text(json.dumps({"checks": smoke_checks}))
    (folder / "cpu-x" / "run.json").write_text(json.dumps({
        "benchmarks": [{"name": n} for n in records], "failed_cases": failed, "skipped_cases": skipped}))
    return folder


def test_the_verdict_passes_a_clean_jax_only_run_and_names_what_failed(tmp_path: Path) -> None:
    ok_checks = [{"check": "imports", "passed": True}, {"check": "torch_step", "passed": True,
                                                       "skipped": "torch left out on purpose"}]
    left_out = [{"case": "bench/test_bench_update.py::test_bench_update[torch-noglass]",
                 "reason": "backend torch left out (--bench-backends jax)"}]
    good = _run_output(tmp_path / "good", smoke_checks=ok_checks, failed=[], records=["test_bench_update[jax-noglass]"],
                       skipped=left_out)
    passed, line = rehearsal_verdict(good, no_torch=True)
    assert passed and line.startswith("PASS: Python 3.12.1, jax 0.11.2, flax 0.12.1"), line
    assert line.endswith("1 records (test_bench_update[jax-noglass]); torch left out (smoke check and 1 cases)")
    passed, line = rehearsal_verdict(good)
    assert passed and "torch left out" not in line

    deprecation = "optax.global_norm is deprecated [DeprecationWarning issued by optax, reached from jax_impl.agent:9]"
    failed = [{"case": f"bench/test_bench_update.py::test_bench_update[jax-{g}]", "when": "call",
               "reason": f"bench.device.dryrun.UpstreamDeprecationWarning: {deprecation}"}
              for g in ("noglass", "glass")]
    smoke = [{"check": "jax_step", "passed": False, "error": f"UpstreamDeprecationWarning: {deprecation}"}]
    bad = _run_output(tmp_path / "bad", smoke_checks=smoke, failed=failed, records=[], skipped=[])
    passed, line = rehearsal_verdict(bad, no_torch=True)
    # the deprecation once, though the smoke and two cases hit it; then the other problems
    assert line == (f"FAIL: 6 problem(s) with Python 3.12.1, jax 0.11.2, flax 0.12.1, optax None, orbax-checkpoint "
                    f"None: deprecation turned error: {deprecation}; smoke did not pass (rc 0); the smoke ran its "
                    f"torch check although the run was to leave torch out (--no-torch); no benchmark record was "
                    f"written (see {bad})"), line
    assert not passed
    assert rehearsal_verdict(tmp_path / "missing")[1].startswith("FAIL: no device_run.json")
