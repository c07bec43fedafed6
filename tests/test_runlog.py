"""tdmpc_parity.core.runlog: the CSV files carry every key of metrics.jsonl; a train row's update metrics (Glass
included)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.runlog import RunLog, read_metrics


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_widens_its_header_when_later_rows_bring_new_keys(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "run", load_config())
    log.log("train", {"agent_step": 50, "env_step": 100, "episode_reward": 1.5})  # seed phase: no update yet
    log.log("train", {"agent_step": 100, "env_step": 200, "episode_reward": 2.5, "total_loss": 0.25})
    log.log("train", {"agent_step": 150, "env_step": 300, "episode_reward": 3.5, "total_loss": 0.125,
                      "pi_loss": -1.0})
    rows = _csv(tmp_path / "run" / "metrics.csv")
    assert list(rows[0]) == ["agent_step", "env_step", "episode_reward", "total_loss", "pi_loss"]
    assert [r["total_loss"] for r in rows] == ["", "0.25", "0.125"]
    assert [r["pi_loss"] for r in rows] == ["", "", "-1.0"]
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]  # no temporary file left
    resumed = RunLog(tmp_path / "run", load_config(), resume=True)  # a resumed run keeps the wide header
    resumed.log("train", {"agent_step": 200, "env_step": 400, "episode_reward": 4.5, "total_loss": 0.5,
                          "pi_loss": -2.0, "grad_norm": 3.0})
    rows = _csv(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 4 and rows[-1]["grad_norm"] == "3.0" and rows[0]["grad_norm"] == ""
    jsonl = read_metrics(tmp_path / "run", "train")
    assert [{k: v for k, v in r.items() if k != "kind"} for r in jsonl] == \
        [{k: float(v) if "." in v else int(v) for k, v in r.items() if v != ""} for r in rows]


def test_update_row_sorts_and_averages_glass_over_active_updates() -> None:
    from tdmpc_parity.core.runlog import update_row

    # means over 4 updates of which 1 ran Glass (glass_loss 0.8 there, 0 on the 3 inactive ones)
    row = update_row({"total_loss": 2.0, "glass_loss": 0.2, "glass_active": 0.25, "consistency_loss": 1.0})
    assert list(row) == ["consistency_loss", "glass_active", "glass_loss", "total_loss"]
    assert row["glass_loss"] == pytest.approx(0.8) and row["glass_active"] == 0.25
    never = update_row({"glass_loss": 0.0, "glass_active": 0.0, "total_loss": 1.0})
    assert never == {"glass_active": 0.0, "glass_loss": 0.0, "total_loss": 1.0}  # zeros marked by glass_active 0
    assert update_row({"total_loss": 1.0}) == {"total_loss": 1.0}  # Glass off: no Glass keys at all
