"""`tdmpc-parity parity`, `bench` and `check` find the repository from the harness package, not the cwd."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import harness.cli as cli_mod
from harness.tasks import TASKS

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
# Help texts, pytest pass-through, `python -m harness`
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
                         "sweep"}
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


def test_train_and_info_help_list_every_task_with_its_backends(capsys) -> None:
    for command in ("train", "info"):
        out = _help(command, capsys)
        for name, spec in TASKS.items():
            backends = "torch, jax" if spec.playground is not None else "torch only"
            assert f"{name} {backends}" in out, (command, name)


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


def test_python_dash_m_harness_is_the_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: tdmpc-parity" in proc.stdout and "train" in proc.stdout
