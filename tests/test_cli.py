"""`tdmpc-parity parity`, `bench` and `check` find the repository from the harness package, not the cwd."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tdmpc_parity.app.cli as cli_mod
from tdmpc_parity.core.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]


def _capture_pytest(monkeypatch) -> list[tuple[list[str], dict]]:
    calls: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(cli_mod.subprocess, "call", lambda argv, **kw: calls.append((argv, kw)) or 0)
    return calls


def test_parity_and_bench_run_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    calls = _capture_pytest(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert cli_mod.main(["parity", "--out", "res", "--", "-k", "math"]) == 0
    argv, kw = calls[-1]
    assert Path(kw["cwd"]) == REPO and argv[3] == str(REPO / "parity")
    assert argv[argv.index("--parity-report") + 1] == str(tmp_path / "res")  # relative to where it was typed
    assert argv[-2:] == ["-k", "math"]
    assert cli_mod.main(["bench", "--results", "res"]) == 0
    argv, kw = calls[-1]
    assert Path(kw["cwd"]) == REPO and argv[3] == str(REPO / "bench")
    assert argv[argv.index("--bench-results") + 1] == str(tmp_path / "res")


def test_a_missing_test_folder_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = _capture_pytest(monkeypatch)
    monkeypatch.setattr(cli_mod, "repo_root", lambda: tmp_path)  # e.g. a non-editable install
    for command in (["parity"], ["bench"], ["check"]):
        assert cli_mod.main(command) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / command[0].replace('check', 'parity')}" in err and "pip install -e" in err
    assert calls == []



# ----------------------------------------------------------------------------------------------------------
# Help texts, pytest pass-through, `python -m tdmpc_parity`
# ----------------------------------------------------------------------------------------------------------


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli_mod.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        cli_mod.main([command, "--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_every_option_of_every_subcommand_has_help() -> None:
    subs = _subparsers()
    assert set(subs) == {"train", "info", "plot", "compare", "report", "parity", "bench", "check", "eval", "profile",
                         "sweep", "keys", "tasks", "convert-checkpoint"}
    for name, sub in subs.items():
        for action in sub._actions:
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{label} has no help"


def test_help_shows_effective_defaults_never_none(capsys) -> None:
    for name in _subparsers():
        out = _help(name, capsys)
        assert "default: None" not in out and "default: []" not in out, name
    train = _help("train", capsys)
    for text in ("(default: hopper-hop", "(default: 10000000", "(default: 1,", "(default: official)",
                 "(default: torch", "(default: off", "(default: runs/"):
        assert text in train, text
    assert "(default: results)" in _help("parity", capsys) and "(default: cpu)" in _help("bench", capsys)


def test_the_tasks_command_lists_every_task_with_its_backends(capsys) -> None:
    for command in ("train", "info"):
        assert "`tdmpc-parity tasks` lists them" in _help(command, capsys)
    assert cli_mod.main(["tasks"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name, spec in TASKS.items():
        backends = "torch, jax" if spec.playground is not None else "torch"
        assert f"{name} {backends} {'yes' if spec.official else 'no'}" in out, name


def _capture_argv(monkeypatch) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(cli_mod, "_pytest", lambda suite, argv: calls.append((suite, argv)) or 0)
    return calls


def test_parity_and_bench_pass_unknown_arguments_to_pytest(monkeypatch) -> None:
    calls = _capture_argv(monkeypatch)
    assert cli_mod.main(["parity", "-k", "planner", "-x"]) == 0
    suite, argv = calls[-1]
    assert suite == "parity" and argv[-3:] == ["-k", "planner", "-x"] and "--" not in argv
    assert argv[argv.index("--parity-report") + 1] == str(Path("results").resolve())
    # own options anywhere among pytest's; `--` still works, and after it nothing is read as ours
    assert cli_mod.main(["parity", "-k", "planner", "--out", "res", "-x", "--", "--out", "y"]) == 0
    _, argv = calls[-1]
    assert argv[argv.index("--parity-report") + 1] == str(Path("res").resolve())
    assert argv[-5:] == ["-k", "planner", "-x", "--out", "y"] and "--" not in argv
    assert cli_mod.main(["parity", "--", "-k", "math"]) == 0
    assert calls[-1][1][-2:] == ["-k", "math"]
    assert cli_mod.main(["bench", "--profile", "gpu", "-k", "sps", "--maxfail=1", "tests_x"]) == 0
    suite, argv = calls[-1]
    assert suite == "bench"
    assert argv[argv.index("--bench-profile") + 1] == "gpu"
    assert argv[-4:] == ["-k", "sps", "--maxfail=1", "tests_x"]
    assert "-n" not in argv  # timed benchmarks run in one process (pytest-benchmark disables itself under xdist)
    parity_argv = next(a for s, a in calls if s == "parity")
    assert parity_argv[parity_argv.index("-n") + 1] == "auto" and "loadfile" in parity_argv  # parity: every core
    # no abbreviation: `--res` is pytest's, not --results
    assert cli_mod.main(["bench", "--res"]) == 0
    _, argv = calls[-1]
    assert argv[-1] == "--res" and argv[argv.index("--bench-results") + 1] == str(Path("results").resolve())


def test_other_commands_still_refuse_unknown_arguments(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli_mod, "cmd_info", lambda args: pytest.fail("ran with an unknown option"))
    with pytest.raises(SystemExit) as exc:
        cli_mod.main(["info", "--no-such-option"])
    assert exc.value.code == 2 and "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_python_dash_m_tdmpc_parity_is_the_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "tdmpc_parity", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: tdmpc-parity" in proc.stdout and "train" in proc.stdout


# ----------------------------------------------------------------------------------------------------------
# The start banner of `train`
# ----------------------------------------------------------------------------------------------------------


def _first_eval_by_schedule(cfg) -> int | None:
    """The first eval after step 0 as the training loop finds it: episode ends, Schedule.eval_due."""
    from tdmpc_parity.core.schedule import Schedule

    sched = Schedule(cfg)
    for done in range(cfg.episode_length, sched.total_iterations + 1, cfg.episode_length):
        if sched.eval_due(done, 0):
            return sched.agent_step(done)
    return None


@pytest.mark.parametrize("profile, overrides", [
    ("official", []),
    ("official", ["episode_length=50", "eval_freq=120", "steps=1000"]),
    ("official", ["episode_length=50", "eval_freq=2000", "steps=1000"]),  # no eval after step 0
    ("fast", ["n_envs=4", "episode_length=50", "eval_freq=1000", "steps=5000"]),
])
def test_the_first_eval_lands_where_the_loop_puts_it(profile, overrides) -> None:
    cfg = cli_mod.load_config(profile, None, ["task=cartpole-balance", *overrides])
    assert cli_mod.first_eval_step(cfg) == _first_eval_by_schedule(cfg)


def test_banner_says_what_the_run_does(tmp_path: Path) -> None:
    cfg = cli_mod.load_config("official", None, ["task=cartpole-balance", "episode_length=50", "eval_freq=120",
                                                 "steps=1000", "model_size=1"])
    text = "\n".join(cli_mod.train_banner(cfg, tmp_path / "run", "cpu"))
    assert text.startswith("tdmpc-parity train: torch on cpu, task cartpole-balance, physics dm_control, seed 1")
    assert "1M preset (model_size=1), 1.20M parameters" in text
    assert "1,000 agent steps = 2,000 env steps (action_repeat 2, 1 env)" in text
    assert "first at agent step 150 (env step 300), then every 120 agent steps" in text
    assert f"run folder: {tmp_path / 'run'}" in text and "days" not in text


def test_banner_warns_of_days_only_for_the_official_model_on_a_cpu() -> None:
    cfg = cli_mod.load_config("official", None, ["task=cartpole-balance"])  # 5M model, 10M steps
    warn = "takes days on a CPU; for a quick run use --config tiny and/or --steps"
    assert warn in cli_mod.train_banner(cfg, Path("r"), "cpu")[-1]
    assert "the 5M preset's architecture (the official default), 4.93M parameters" in cli_mod.train_banner(
        cfg, Path("r"), "cpu")[1]
    for device, overrides in (("cuda", []), ("cpu", ["steps=999999"]), ("cpu", ["model_size=1"]),
                              ("cpu", ["mlp_dim=256"])):
        cfg = cli_mod.load_config("official", None, ["task=cartpole-balance", *overrides])
        assert not any("days" in line for line in cli_mod.train_banner(cfg, Path("r"), device)), (device, overrides)


def test_train_prints_the_banner_even_without_progress(monkeypatch, tmp_path: Path, capsys) -> None:
    calls = []
    fake = argparse.Namespace(train=lambda cfg, run_dir, **kw: calls.append((cfg, run_dir, kw)) or 0)
    monkeypatch.setattr(cli_mod, "backend_module", lambda backend, name: fake)
    monkeypatch.setattr(cli_mod, "compute_device", lambda cfg: "cpu")
    run = tmp_path / "run"
    assert cli_mod.main(["train", "--task", "cartpole-balance", "--config", "tiny", "--steps", "200",
                         "--run-dir", str(run), "--no-progress", "episode_length=50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tdmpc-parity train: torch on cpu, task cartpole-balance")
    assert "200 agent steps = 400 env steps" in out and f"run folder: {run}" in out and "days" not in out
    (cfg, run_dir, kw), = calls
    assert run_dir == run and kw["progress"] is False and cfg.enc_dim == 32  # --config tiny: the shipped tiny config
    assert cli_mod.main(["train", "--task", "cartpole-balance", "--run-dir", str(run), "--no-progress"]) == 0
    assert "takes days on a CPU" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------
# `check` writes into its own folder
# ----------------------------------------------------------------------------------------------------------


def test_check_writes_into_a_new_folder_not_results(monkeypatch, tmp_path: Path, capsys) -> None:
    import tdmpc_parity.analysis.report as report_mod

    calls = _capture_pytest(monkeypatch)
    reports = []
    monkeypatch.setattr(report_mod, "build_report", lambda d, out, charts: reports.append((Path(d), out, charts))
                        or Path(d) / "REPORT.md")
    monkeypatch.chdir(tmp_path)
    assert cli_mod.main(["check"]) == 0
    assert cli_mod.main(["check"]) == 0  # a second check in the same second: its own folder
    folders = sorted((tmp_path / cli_mod.CHECK_ROOT).iterdir())
    assert len(folders) == 2 and not (tmp_path / "results").exists()
    assert re.fullmatch(r"\d{8}-\d{6}Z(-2)?", folders[0].name)
    parity, bench = [argv for argv, _ in calls if str(REPO / "parity") in argv], [
        argv for argv, _ in calls if str(REPO / "bench") in argv]
    for i, folder in enumerate(folders):
        assert parity[i][parity[i].index("--parity-report") + 1] == str(folder.resolve())
        assert bench[i][bench[i].index("--bench-results") + 1] == str(folder.resolve())
        assert reports[i] == (folder.relative_to(tmp_path), None, True)  # REPORT.md and charts: in the folder
    out = capsys.readouterr().out
    assert f"results in {folders[1].relative_to(tmp_path)}" in out
    assert cli_mod.main(["check", "--results", "results"]) == 0  # the tracked folder only when named
    parity_argv = calls[-2][0]
    assert parity_argv[parity_argv.index("--parity-report") + 1] == str(tmp_path / "results")
    assert reports[-1][0] == Path("results")
