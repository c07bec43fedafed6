"""Short CPU runs with `--glass phase1b` in each backend: diagnostics rows, S/P/A dumps, and `plot` PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tdmpc_parity.app.cli import main as cli
from tests.train_helpers import cli_args, rows

# warm-up 300 env steps: the pre-training updates (at env step 200) and the next episode's (202-300; the one at 300
# is not a 4th update) run without Glass, the last episode's run it on every 4th update (12 of 50)
GLASS = ["--glass", "phase1b", "glass.warmup_env_steps=300", "glass.diag_every=50", "glass.num_prototypes=8",
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
    train_rows = rows(run_dir, "train")
    assert [r.get("glass_active") for r in train_rows] == [None, 0.0, 0.0, pytest.approx(12 / 50)]
    for r in train_rows[1:3]:  # no active update: the Glass metrics are zeros, marked by glass_active 0
        assert all(r[k] == 0.0 for k in r if k.startswith("glass_"))
    assert train["glass_loss"] > 0 and train["glass_H_cm"] > 0  # the mean over the 12 active updates
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


def test_jax_training_program_skips_glass_when_inactive(monkeypatch):
    """In the compiled (seed-vmapped) training chunk the Glass loss sits inside a lax.cond whose flag is one
    decision for all seeds, so an inactive update computes no Glass (a per-seed flag would turn the cond into a
    select that computes both branches)."""
    import jax
    import jax.numpy as jnp

    from jax_impl.train import Clock, programs_for
    from tests.test_glass import mark_jax_glass_loss, primitives_outside_and_inside_cond
    from tests.train_helpers import tiny_config

    mark_jax_glass_loss(monkeypatch)
    # a config of its own (6 prototypes), so these programs are traced here, with the marked loss
    cfg = tiny_config("jax", 200, "glass=phase1b", "glass.num_prototypes=6", "glass.num_clusters=3")
    programs = programs_for(cfg)
    state = jax.eval_shape(programs.init, jnp.asarray([1, 2], jnp.uint32))
    clock = Clock(jnp.asarray(100, jnp.int32), jnp.asarray(100, jnp.int32))
    for fn in (programs.train_chunk, programs.pretrain):
        outside, inside = primitives_outside_and_inside_cond(jax.make_jaxpr(fn)(state, clock))
        assert "optimization_barrier" in inside and "optimization_barrier" not in outside
