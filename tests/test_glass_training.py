"""Short CPU runs with `--glass phase1b` in each backend: diagnostics rows, S/P/A dumps, and `plot` PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.cli import main as cli
from tests.train_helpers import cli_args, rows

GLASS = ["--glass", "phase1b", "glass.warmup_env_steps=0", "glass.diag_every=50", "glass.num_prototypes=8",
         "glass.num_clusters=4"]
DIAG = ("glass_H_cm", "glass_active_clusters", "glass_max_cluster_mass", "glass_cut_mass")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_glass_run_writes_diagnostics_and_plots(backend: str, tmp_path: Path, capsys):
    run_dir = tmp_path / backend
    assert cli(cli_args(backend, 200, run_dir, *GLASS)) == 0
    glass_rows = rows(run_dir, "glass")
    assert [r["agent_step"] for r in glass_rows] == [100, 150, 200]  # after the seed phase, every 50 steps
    for r in glass_rows:
        assert all(np.isfinite(r[k]) for k in DIAG)
        assert 0 < r["glass_H_cm"] <= np.log(4) + 1e-6 and 1 <= r["glass_active_clusters"] <= 4
    train = rows(run_dir, "train")[-1]
    assert np.isfinite(train["glass_loss"]) and train["glass_se"] >= 0
    dumps = sorted((run_dir / "glass").glob("step_*.npz"))
    assert len(dumps) == 3
    with np.load(dumps[-1]) as m:
        assert m["S"].shape == (8, 4) and m["P"].shape == (8, 8) and m["A"].shape == (8, 8)
        np.testing.assert_allclose(m["P"].sum(1), 1.0, rtol=1e-5)
    capsys.readouterr()
    assert cli(["plot", str(run_dir), "--out", str(tmp_path / "plots")]) == 0
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert "glass_diagnostics.png" in pngs and "eval_return.png" in pngs
    assert all((tmp_path / "plots" / p).stat().st_size > 1000 for p in pngs)


def test_info_shows_glass(capsys):
    import json

    assert cli(["info", "--backend", "torch", "--task", "hopper-hop", "--glass", "phase1b"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["glass"]["t_proto"] == 0.7 and out["glass"]["assign_logits_init_scale"] == 0.5
    assert out["param_counts"]["glass"] == 16 * 512 + 16 * 8
    assert out["param_counts"]["total"] == 4_949_094 + 16 * 512 + 16 * 8
