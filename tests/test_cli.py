"""`tdmpc-parity parity`, `bench` and `check` find the repository from the harness package, not the cwd."""

from __future__ import annotations

from pathlib import Path

import harness.cli as cli_mod

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
