"""What a new user meets: no abbreviated options, `keys`, `tasks`, defaults said once, `--version`, `--debug`."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pytest

import tdmpc_parity.app.cli as cli_mod
from tdmpc_parity.core.config_keys import all_keys
from tdmpc_parity.core.tasks import TASKS, TORCH_ONLY, UNSUPPORTED

REPO = Path(__file__).resolve().parents[1]


def _parsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli_mod.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **action.choices}


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        cli_mod.main([command, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_no_parser_takes_abbreviations():
    for name, parser in _parsers().items():
        assert parser.allow_abbrev is False, name or "tdmpc-parity"


def test_an_abbreviated_option_is_refused_with_the_option_meant(monkeypatch, capsys):
    monkeypatch.setattr(cli_mod, "cmd_train", lambda args: pytest.fail(f"trained with {args}"))
    with pytest.raises(SystemExit) as exc:
        cli_mod.main(["train", "--step", "10"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "tdmpc-parity train: error: unrecognized arguments: --step" in err
    assert "did you mean --steps?" in err and "never abbreviated" in err
    with pytest.raises(SystemExit):
        cli_mod.main(["sweep", "sweeps/tiny.yaml", "--num-cpu", "2"])
    assert "did you mean --num-cpus?" in capsys.readouterr().err


def test_every_default_is_said_once(capsys):
    for name, parser in _parsers().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            text = formatter._expand_help(action) if action.help else ""
            assert text.count("(default") <= 1, f"{name} {action.option_strings}: {text}"
            assert "(default: False)" not in text  # a flag is off unless given
    profile = " ".join(_help("profile", capsys).split())
    assert profile.count("(default: 20)") == 1 and profile.count("(default: results/profile)") == 1


def test_tasks_are_listed_once_by_the_tasks_command(capsys):
    for command in ("train", "info", "profile", "eval"):
        out = _help(command, capsys)
        assert "dog-run" not in out and "cartpole-swingup " not in out, command  # no task table at the end
        assert "tdmpc-parity tasks" in " ".join(out.split()), command
    assert cli_mod.main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["task", "backends", "official", "results", "note"]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith("not supported")}
    assert sorted(rows) == sorted(TASKS)
    for name, spec in TASKS.items():
        backends = "torch, jax" if spec.playground is not None else "torch"
        official = "yes" if spec.official else "no"
        assert re.match(rf"{re.escape(name)}\s+{backends}\s+{official}(\s|$)", rows[name]), rows[name]
    assert TORCH_ONLY in rows["dog-run"] and "custom task of the official repository" in rows["cup-spin"]
    assert all(name in lines[-1] for name in UNSUPPORTED)


def test_keys_lists_every_key_and_filters(capsys):
    assert cli_mod.main(["keys"]) == 0
    out = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in out[1:] if line and not line.startswith(" ")]
    assert listed == [k.name for k in all_keys()] and len(listed) == 97
    assert cli_mod.main(["keys", "glass.*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in out[1:] if not line.startswith(" ")} == {
        k.name for k in all_keys() if k.name.startswith("glass.")}
    assert cli_mod.main(["keys", "eval_freq"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:3] == ["eval_freq", "int", "50000"]
    assert cli_mod.main(["keys", "horizn"]) == 2
    assert "no config key matches 'horizn'; did you mean horizon?" in capsys.readouterr().err


def test_version_names_the_commit_of_a_checkout(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_mod.main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out.strip()
    if (REPO / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        assert re.fullmatch(rf"tdmpc-parity \S+ \(commit {head}(, modified)?\)", out), out
    monkeypatch.setattr(cli_mod, "repo_root", lambda: tmp_path)  # e.g. an installed package, no checkout
    with pytest.raises(SystemExit):
        cli_mod.main(["--version"])
    assert capsys.readouterr().out.strip().endswith("(unknown commit)")
    (tmp_path / ".git").mkdir()  # a broken checkout: still no failure
    assert cli_mod.git_commit(tmp_path) == "unknown commit"


def test_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.delenv(cli_mod.DEBUG_ENV, raising=False)
    assert cli_mod.main(["info", "horizn=5"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line
    for argv in (["--debug", "info", "horizn=5"], ["info", "horizn=5", "--debug"]):
        with pytest.raises(ValueError, match="did you mean 'horizon'"):
            cli_mod.main(argv)
    monkeypatch.setenv(cli_mod.DEBUG_ENV, "1")
    with pytest.raises(ValueError, match="unknown config key"):
        cli_mod.main(["info", "horizn=5"])
    monkeypatch.setenv(cli_mod.DEBUG_ENV, "0")
    assert cli_mod.main(["info", "horizn=5"]) == 2
    # parity/bench hand --debug after the subcommand to pytest (which has its own)
    calls: list[list[str]] = []
    monkeypatch.setattr(cli_mod, "_pytest", lambda suite, argv: calls.append(argv) or 0)
    assert cli_mod.main(["parity", "--debug"]) == 0 and calls[-1][-1] == "--debug"
