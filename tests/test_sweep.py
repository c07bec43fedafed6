"""`tdmpc-parity sweep`: the sweep file (parsing, expansion, names, bad input), the tiny sweep on a local Ray
instance end to end, a trial killed mid-run and a driver that died, both resumed to the numbers of an
uninterrupted run, and a JAX trial whose seeds stay in one program."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.app.sweep_spec import SweepSpecError, Trial, expand, load_sweep, trial_name, value_text
from tests.train_helpers import rows

REPO = Path(__file__).resolve().parents[1]
TINY_SWEEP = REPO / "sweeps" / "tiny.yaml"
TINY_SET = {"episode_length": 50, "seed_steps": 100, "eval_freq": 100, "eval_episodes": 2, "save_every": 100,
            "buffer_size": 5000}


def _spec(**fields):
    data = {"config": "tiny", "tasks": ["cartpole-balance"], **fields}
    return expand(data, "test.yaml", REPO)


# ----------------------------------------------------------------------------------------------------------
# The sweep file (no Ray)
# ----------------------------------------------------------------------------------------------------------


def test_grid_points_tasks_backends_seeds_expand_into_named_trials():
    spec = _spec(tasks=["cartpole-balance", "cartpole-swingup"], backends=["torch", "jax"], seeds=[1, 2],
                 grid={"lr": [0.001, 0.0003], "glass.num_clusters": [4]},
                 points=[{"horizon": 3}, {"horizon": 5}])
    # per task: 2 points x 2 lr x (torch: 2 seeds + jax: 1 trial of both seeds)
    assert len(spec.trials) == 2 * 2 * 2 * 3
    names = [t.name for t in spec.trials]
    assert len(set(names)) == len(names)
    first = spec.trials[0]
    assert first.name == "cartpole-balance_torch_horizon=3_lr=0.001_glass.num_clusters=4_s1"
    assert first.setting == {"horizon": 3, "lr": 0.001, "glass.num_clusters": 4}
    assert first.overrides[-3:] == ("horizon=3", "lr=0.001", "glass.num_clusters=4")
    assert "enc_dim=32" in first.overrides  # the config file's keys come first
    jax_trials = [t for t in spec.trials if t.backend == "jax"]
    assert len(jax_trials) == 8 and all(t.seeds == (1, 2) for t in jax_trials)
    assert jax_trials[0].name.endswith("_s1-2")
    args = jax_trials[0].train_args("RUN")
    assert args[args.index("--seeds") + 1] == "1,2" and "--seed" not in args  # one vmapped program
    assert spec.trials[0].train_args("RUN")[spec.trials[0].train_args("RUN").index("--seed") + 1] == "1"
    assert Trial.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_committed_sweep_files_load():
    tiny = load_sweep(TINY_SWEEP)
    assert len(tiny.trials) == 8 and {t.backend for t in tiny.trials} == {"torch"}  # 2 tasks x 2 seeds x 2 values
    k = load_sweep(REPO / "sweeps" / "k_sweep.yaml")
    assert [t.setting["glass.num_clusters"] for t in k.trials] == [4, 8, 16]
    assert all(t.seeds == (1, 2, 3, 4, 5) and t.backend == "jax" and t.profile == "fast" for t in k.trials)
    p1c = load_sweep(REPO / "sweeps" / "phase1c.yaml")
    settings = [(t.setting.get("policy_noise_end"), t.setting["q_reset_every_env_steps"]) for t in p1c.trials]
    assert settings == [(None, 0), (None, 1_000_000), (0.1, 0), (0.1, 1_000_000)]
    assert p1c.resources.gpus == 1 and all("glass=phase1b" in t.overrides for t in p1c.trials)


def test_values_travel_as_override_text():
    assert [value_text(v) for v in (None, True, False, 3, 0.1, 1e-05, "phase1b")] == \
        ["none", "true", "false", "3", "0.1", "1e-05", "phase1b"]
    long = trial_name("hopper-hop", "jax", {f"glass.lambda_{i}": 0.123456789 for i in range(12)}, (1, 2))
    assert len(long) <= 180 and long.endswith("_s1-2") and "~" in long


@pytest.mark.parametrize("fields, message", [
    ({"grid": {"no_such_key": [1, 2]}}, "unknown config key 'no_such_key'"),
    ({"grid": {"glass.nope": [1]}}, "unknown config key 'glass.nope'"),
    ({"grid": {"lr": []}}, "grid key 'lr' has no values"),
    ({"grid": {"lr": 0.1}}, "give a list of values"),
    ({"grid": {"horizon": ["three"]}}, "cannot read 'three' as int"),
    ({"grid": {"seed": [1, 2]}}, "set by the sweep's `seeds` field"),
    ({"set": {"task": "walker-run"}}, "set by the sweep's `tasks` field"),
    ({"points": [{"lr": 0.1}, "x"]}, "points[1] must be a mapping"),
    ({"points": [{"lr": 0.1}], "grid": {"lr": [0.2]}}, "'lr' is also a grid key"),
    ({"tasks": []}, "`tasks` is empty"),
    ({"tasks": ["no-such-task"]}, "no-such-task"),
    ({"seeds": [1, 1]}, "`seeds` repeats a value"),
    ({"backends": ["tf"]}, "'tf' is not one of torch, jax"),
    ({"resources": {"cpus": 0}}, "`resources.cpus` must be > 0"),
    ({"resources": {"gpus": 1.5}}, "a fraction of a GPU must be <= 1"),
    ({"resources": {"gpus": -1}}, "`resources.gpus` must be >= 0"),
    ({"resources": {"tpus": 1}}, "unknown key 'tpus'"),
    ({"retries": -1}, "`retries` must be a whole number >= 0"),
    ({"steps": 0}, "`steps` (agent steps per trial)"),
    ({"profile": "slow"}, "`profile` 'slow' is not one of"),
    ({"set": {"policy_noise_end": 0.1}}, "policy_noise_end"),  # needs the policy collector: named per trial
    ({"points": [{"lr": 0.001}, {"lr": 1e-3}]}, "have the same config and seeds"),
    ({"config": "nowhere.yaml"}, "does not exist"),
])
def test_bad_sweep_files_are_errors_naming_the_field(fields, message):
    with pytest.raises(SweepSpecError) as err:
        _spec(**fields)
    assert message in str(err.value) and "test.yaml" in str(err.value)


def test_cli_refuses_bad_files_and_flags(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [cartpole-balance]\ngrdi: {lr: [0.1]}\n")
    assert cli(["sweep", str(bad)]) == 2
    assert "unknown field 'grdi'" in capsys.readouterr().err
    assert cli(["sweep"]) == 2
    assert "give a sweep file" in capsys.readouterr().err
    assert cli(["sweep", str(bad), "--resume", str(tmp_path)]) == 2
    assert "--resume continues the sweep saved in its folder" in capsys.readouterr().err
    assert cli(["sweep", "--resume", str(tmp_path)]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# On a local Ray instance
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance (2 CPUs) for the module: starting one takes seconds on 2 cores."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_sweep(ray_local, tmp_path_factory) -> Path:
    """sweeps/tiny.yaml (8 torch trials) run to the end, as `tdmpc-parity sweep` does."""
    from tdmpc_parity.app.sweep import run_sweep

    out = tmp_path_factory.mktemp("sweep") / "tiny"
    assert run_sweep(load_sweep(TINY_SWEEP), out) == 0
    return out


def _state(sweep_dir: Path, name: str) -> dict:
    return json.loads((sweep_dir / "state" / f"{name}.json").read_text())


def _eval_returns(run_dir: Path) -> dict[int, float]:
    with (run_dir / "eval.csv").open(newline="") as fh:
        return {int(float(r["env_step"])): float(r["episode_reward"]) for r in csv.DictReader(fh)}


def test_tiny_sweep_runs_every_trial_once(tiny_sweep: Path):
    spec = load_sweep(TINY_SWEEP)
    assert sorted(p.name for p in (tiny_sweep / "trials").iterdir()) == sorted(t.name for t in spec.trials)
    for t in spec.trials:
        state = _state(tiny_sweep, t.name)
        assert state["status"] == "done" and len(state["attempts"]) == 1
        assert state["attempts"][0]["returncode"] == 0 and state["attempts"][0]["resumed_from_agent_step"] is None
        train = rows(tiny_sweep / "trials" / t.name, "train")
        assert [r["agent_step"] for r in train] == [50, 100, 150, 200]
    assert json.loads((tiny_sweep / "sweep.json").read_text())["name"] == "tiny"


def test_q_reset_changes_the_run_only_from_its_step(tiny_sweep: Path):
    """The reset every 300 env steps happens before the updates of the 150th agent step: rows up to agent step
    100 are those of the run without it, the later ones are not."""
    off = rows(tiny_sweep / "trials" / "cartpole-balance_torch_q_reset_every_env_steps=0_s1")
    on = rows(tiny_sweep / "trials" / "cartpole-balance_torch_q_reset_every_env_steps=300_s1")
    assert [r for r in on if r["agent_step"] <= 100] == [r for r in off if r["agent_step"] <= 100]
    later = [(a, b) for a, b in zip(on, off, strict=True) if a["agent_step"] >= 150]
    assert len(later) == 3 and all(a != b for a, b in later)  # train rows at 150, 200 and the eval at 200


def test_summary_from_the_run_folders(tiny_sweep: Path):
    """summary.md: a row per task and setting with the seeds' final (env step 400) and best eval returns,
    and the learning curves of tdmpc_parity/analysis/compare.py beside it."""
    text = (tiny_sweep / "summary.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| cartpole")]
    assert len(table) == 4
    for task in ("cartpole-balance", "cartpole-swingup"):
        for every in (0, 300):
            runs = [tiny_sweep / "trials" / f"{task}_torch_q_reset_every_env_steps={every}_s{s}" for s in (1, 2)]
            curves = [_eval_returns(r) for r in runs]
            final = np.mean([c[400] for c in curves])
            best = np.mean([max(c.values()) for c in curves])
            line = next(x for x in table if x.startswith(f"| {task} | torch | q_reset_every_env_steps={every} "))
            cells = [c.strip() for c in line.split("|")]
            assert cells[4] == "2 (1, 2)" and cells[5] == "400"
            assert cells[6].startswith(f"{final:,.1f} [") and cells[7].startswith(f"{best:,.1f} [")
    assert (tiny_sweep / "learning.md").exists()
    assert {p.name for p in tiny_sweep.glob("learning_*.png")} == {"learning_cartpole-balance.png",
                                                                   "learning_cartpole-swingup.png"}


def _wait(cond, what: str, timeout: float = 300.0, every: float = 0.05):
    end = time.time() + timeout
    while time.time() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _running(sweep_dir: Path, name: str, attempt: int) -> int | None:
    """The pid of attempt `attempt` (1-based) of a trial, once its run folder holds its first checkpoint."""
    path = sweep_dir / "state" / f"{name}.json"
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    ckpt = sweep_dir / "trials" / name / "checkpoints" / "latest.json"
    if len(state["attempts"]) == attempt and "pid" in state["attempts"][-1] and ckpt.exists():
        return int(state["attempts"][-1]["pid"])
    return None


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").exists() and "State:\tZ" in Path(f"/proc/{pid}/status").read_text()


def test_killed_trial_and_dead_driver_resume_to_the_uninterrupted_numbers(tiny_sweep: Path, tmp_path: Path):
    """A sweep driver (its own process and Ray instance, 1 CPU) runs two trials with the settings of two tiny
    sweep trials. The first trial's process is killed after its first checkpoint: the sweep resumes it from
    there. Then the driver itself is killed while the second trial runs (which dies with it); `sweep --resume`
    runs only the unfinished trial, from its checkpoint. Both end with the rows of the uninterrupted runs."""
    from tdmpc_parity.app.sweep import run_sweep

    spec_file = tmp_path / "two.yaml"
    spec_file.write_text(json.dumps({"name": "two", "config": "tiny", "steps": 200,
                                     "set": TINY_SET, "tasks": ["cartpole-balance"], "seeds": [1],
                                     "grid": {"q_reset_every_env_steps": [0, 300]}}))
    out = tmp_path / "two"
    env = {k: v for k, v in os.environ.items() if k != "TDMPC_PARITY_KILL_AT"}
    driver = subprocess.Popen([sys.executable, "-m", "tdmpc_parity", "sweep", str(spec_file), "--out", str(out),
                               "--num-cpus", "1"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    names = [t.name for t in load_sweep(spec_file).trials]
    try:
        first, pid = _wait(lambda: next(((n, p) for n in names if (p := _running(out, n, 1))), None),
                           "a trial's first checkpoint")
        os.kill(pid, signal.SIGKILL)
        second = next(n for n in names if n != first)
        _wait(lambda: (out / "state" / f"{first}.json").exists() and _state(out, first)["status"] == "done",
              "the killed trial to finish")
        pid2 = _wait(lambda: _running(out, second, 1), "the second trial's first checkpoint")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
        _wait(lambda: _gone(pid2), "the second trial to die with its driver", timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
        try:  # what the dead driver's Ray instance left (its agents keep the driver's process group)
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log = driver.stdout.read() if driver.stdout else ""
    assert _state(out, second)["status"] == "running", log[-3000:]
    killed = _state(out, first)
    assert [a["returncode"] for a in killed["attempts"]] == [-signal.SIGKILL, 0]
    assert killed["attempts"][1]["resumed_from_agent_step"] == 100
    done_mtime = (out / "trials" / first / "metrics.jsonl").stat().st_mtime_ns

    assert run_sweep(resume=out) == 0
    assert _state(out, first)["attempts"] == killed["attempts"]  # a done trial is never run again
    assert (out / "trials" / first / "metrics.jsonl").stat().st_mtime_ns == done_mtime
    resumed = _state(out, second)
    # from its checkpoint at 100 (or at its end, 200, when it finished while its Ray worker was going down)
    assert resumed["status"] == "done" and resumed["attempts"][-1]["resumed_from_agent_step"] in (100, 200)
    for name in names:
        assert rows(out / "trials" / name) == rows(tiny_sweep / "trials" / name), name
    assert (out / "summary.md").read_text().count("| cartpole-balance | torch |") == 2


def test_jax_trial_trains_its_seeds_in_one_program(ray_local, tmp_path: Path):
    """backend jax with seeds [1, 2]: one trial, one process (`train --seeds 1,2`), a run folder per seed."""
    from tdmpc_parity.app.sweep import run_sweep

    spec = expand({"config": "tiny", "steps": 50,
                   "set": {**TINY_SET, "mpc": False}, "tasks": ["cartpole-balance"], "backends": ["jax"],
                   "seeds": [1, 2]}, "jax.yaml", REPO, default_name="jax")
    assert run_sweep(spec, tmp_path / "jax") == 0
    (trial,) = spec.trials
    state = _state(tmp_path / "jax", trial.name)
    assert len(state["attempts"]) == 1 and "1,2" in state["attempts"][0]["command"]
    run_dir = tmp_path / "jax" / "trials" / trial.name
    assert sorted(p.name for p in run_dir.iterdir()) == ["seed_1", "seed_2"]
    log = (tmp_path / "jax" / "logs" / f"{trial.name}.log").read_text()
    assert log.count("run folder(s):") == 1 and "seed_1" in log and "seed_2" in log
    assert "| cartpole-balance | jax | – " in (tmp_path / "jax" / "summary.md").read_text()
    assert "| 2 (1, 2) |" in (tmp_path / "jax" / "summary.md").read_text()


# ----------------------------------------------------------------------------------------------------------
# Nothing outlives a killed driver (tdmpc_parity/app/sweep.py RayWatchdog)
# ----------------------------------------------------------------------------------------------------------

# A stand-in driver: a child from before (to be left alone), then a child ignoring SIGTERM that starts a grandchild
# (as the raylet starts its agents), then the watchdog; it prints the pids and either waits to be killed or closes
# the watchdog and exits.
_DRIVER = """
import subprocess, sys, time
from tdmpc_parity.app.sweep import RayWatchdog
old = subprocess.Popen(["sleep", "300"])
kid = subprocess.Popen([sys.executable, "-c", "import signal, subprocess, time; "
                        "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                        "print(subprocess.Popen(['sleep', '300']).pid, flush=True); time.sleep(300)"],
                       stdout=subprocess.PIPE, text=True)
grandkid = int(kid.stdout.readline())
dog = RayWatchdog.start(exclude=frozenset([old.pid]))
print(old.pid, kid.pid, grandkid, dog.proc.pid, flush=True)
if sys.argv[1] == "close":
    dog.close()
    print("closed", flush=True)
else:
    time.sleep(300)
"""


def _watchdog_pids() -> set[int]:
    from tdmpc_parity.app.sweep import WATCHDOG_TAG

    out = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and WATCHDOG_TAG in (proc / "cmdline").read_bytes().decode(errors="replace"):
                out.add(int(proc.name))
        except OSError:
            continue
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads /proc (Linux)")
@pytest.mark.parametrize("end", ["kill", "close"])
def test_the_watchdog_kills_what_the_driver_left(end: str):
    """SIGKILLed or closed after its work, the driver leaves no process behind: not even one ignoring SIGTERM
    whose parent is alive, nor its child; the watchdog exits too. A child from before the watchdog is spared."""
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, end], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        old, kid, grandkid, dog = map(int, driver.stdout.readline().split())
        assert not _gone(kid) and not _gone(grandkid) and not _gone(dog)
        if end == "kill":
            os.kill(driver.pid, signal.SIGKILL)
        else:
            assert driver.stdout.readline().strip() == "closed"
        driver.wait(timeout=30)
        _wait(lambda: _gone(kid) and _gone(grandkid) and _gone(dog), "the driver's processes to go", timeout=10)
        assert not _gone(old)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _session_alive(sid: int) -> list[str]:
    """Command lines of the live (not zombie) processes of session `sid`."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            stat = (proc / "stat").read_text()
            rest = stat[stat.rindex(")") + 2:].split()
            if int(rest[3]) == sid and rest[0] != "Z":
                out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80])
        except OSError:
            continue
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads /proc (Linux)")
def test_a_killed_sweep_driver_leaves_no_ray_process(tmp_path: Path):
    """`tdmpc-parity sweep sweeps/tiny.yaml` SIGKILLed while its first trial trains: within a few seconds no
    process it started is alive (Ray's GCS, raylet, workers, ray::DashboardAgent, ray::RuntimeEnvAgent, the
    trial, the watchdog)."""
    pytest.importorskip("ray")
    out = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "TDMPC_PARITY_KILL_AT"}
    driver = subprocess.Popen([sys.executable, "-m", "tdmpc_parity", "sweep", str(TINY_SWEEP), "--out", str(out),
                               "--num-cpus", "1"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        names = [t.name for t in load_sweep(TINY_SWEEP).trials]
        _wait(lambda: any((out / "state" / f"{n}.json").exists() for n in names), "a trial to start", timeout=240)
        before = _session_alive(driver.pid)
        assert any("ray::DashboardAgent" in c for c in before) and any("ray::RuntimeEnvAgent" in c for c in before)
        assert _watchdog_pids()
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        killed = time.time()
        _wait(lambda: not _session_alive(driver.pid) and not any(f" {driver.pid} " in _cmdline(p)
                                                                  for p in _watchdog_pids()),
              "the dead driver's processes and its watchdog to go", timeout=15)
        gone_after = time.time() - killed
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"the killed driver's processes were gone {gone_after:.2f} s after the SIGKILL")
    assert gone_after < 15


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace") + " "
    except OSError:
        return ""
