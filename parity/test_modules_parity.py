"""World-model modules on shared weights: every forward, pi with injected eps, Q with injected masks/pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from parity.helpers import SATURATED_ENTROPY_F32, compare, make_config, make_pair, precision
from tdmpc_parity.core.noise import draw_numpy


@pytest.mark.parametrize("size", ["tiny", "5M"])
@pytest.mark.parametrize("batch", [(1,), (5,), (2, 3)])
def test_module_forwards(dtype, size, batch):
    cfg = make_config(dtype, size)
    rng = np.random.default_rng(10)
    with precision(dtype):
        p = make_pair(cfg, seed=1)
        tm, jm, jp = p.torch.model, p.jax.model, p.jstate.params
        obs = rng.standard_normal((*batch, cfg.obs_dim))
        act = rng.uniform(-1, 1, (*batch, cfg.action_dim))
        eps = rng.standard_normal((*batch, cfg.action_dim))
        keep = (rng.random((cfg.num_q, *batch, cfg.mlp_dim)) >= 0.3).astype(float)  # p=0.3 masks: visible
        pair = rng.permutation(cfg.num_q)[:2]
        with torch.no_grad():
            tz = tm.encode(p.t(obs))
            ta, tinfo = tm.pi(tz, p.t(eps))
            t_out = {
                "encode": tz, "next": tm.next(tz, p.t(act)), "reward": tm.reward(tz, p.t(act)),
                "pi_action": ta, "pi_info": tinfo,
                "Q_all": tm.Q(tz, p.t(act), "all"),
                "Q_all_dropout": tm.Q(tz, p.t(act), "all", keep_mask=p.t(keep)),
                "Q_min": tm.Q(tz, p.t(act), "min", pair=p.t(pair)),
                "Q_avg": tm.Q(tz, p.t(act), "avg", pair=p.t(pair)),
                "Q_target_min": tm.Q(tz, p.t(act), "min", pair=p.t(pair), target=True),
            }
        jz = jm.encode(jp, p.j(obs))
        ja, jinfo = jm.pi(jp, jz, p.j(eps))
        j_out = {
            "encode": jz, "next": jm.next(jp, jz, p.j(act)), "reward": jm.reward(jp, jz, p.j(act)),
            "pi_action": ja, "pi_info": jinfo,
            "Q_all": jm.Q(jp, jz, p.j(act), "all"),
            "Q_all_dropout": jm.Q(jp, jz, p.j(act), "all", keep_mask=p.j(keep)),
            "Q_min": jm.Q(jp, jz, p.j(act), "min", pair=p.j(pair)),
            "Q_avg": jm.Q(jp, jz, p.j(act), "avg", pair=p.j(pair)),
            "Q_target_min": jm.Q(jp, jz, p.j(act), "min", pair=p.j(pair), target=True),
        }
        # the keep-mask must matter, and the target ensemble must differ from the online one
        assert not np.allclose(t_out["Q_all"].numpy(), t_out["Q_all_dropout"].numpy())
        assert not np.allclose(t_out["Q_min"].numpy(), t_out["Q_target_min"].numpy())
        compare(t_out, j_out, f"modules/{size}", dtype,
                leaf_tol=SATURATED_ENTROPY_F32 if dtype == "float32" else None)


def test_dropout_masks_are_per_head_and_drawn_independently(dtype):
    """The random wrappers draw an independent keep-mask per head (shape (num_q, ..., mlp_dim))."""
    cfg = make_config(dtype, overrides=["dropout=0.5"])
    masks = draw_numpy({"m": __import__("tdmpc_parity.core.noise", fromlist=["NoiseSpec"]).NoiseSpec(
        (cfg.num_q, 4, cfg.mlp_dim), "keep")}, np.random.default_rng(0), cfg)["m"]
    assert masks.shape == (cfg.num_q, 4, cfg.mlp_dim)
    assert not np.array_equal(masks[0], masks[1])
