"""tdmpc_parity/analysis/flops.py: hand-checked FLOP and parameter counts for a tiny config, the 5M counts of the
notes."""

from __future__ import annotations

import pytest

from tdmpc_parity.analysis import flops
from tdmpc_parity.analysis.benchmeta import make_extra_info
from tdmpc_parity.core.config import load_config

# obs 3, A 1 (pendulum), enc 4 x 2 layers, latent 8, mlp 4, bins 5, 2 Q heads, H 2, B 2, N 4, P 1, 1 iteration
TINY = dict(task="pendulum-swingup", enc_dim=4, num_enc_layers=2, latent_dim=8, mlp_dim=4, num_bins=5,
            num_q=2, horizon=2, batch_size=2, num_samples=4, num_pi_trajs=1, num_elites=2, iterations=1)


def tiny(profile: str = "official", **extra):
    return load_config(profile, values={**TINY, **extra})


def test_forward_flops_tiny_by_hand():
    # encoder 3->4->8: 2(12+32) = 88; dynamics 9->4->4->8: 2(36+16+32) = 168;
    # reward / one Q head 9->4->4->5: 2(36+16+20) = 144; pi 8->4->4->2: 2(32+16+8) = 112
    assert flops.forward_flops(tiny()) == {"encoder": 88, "dynamics": 168, "reward": 144, "pi": 112,
                                           "q_head": 144}


def test_plan_flops_tiny_by_hand():
    # encode 88; pi trajectories P(H pi + (H-1) dyn) = 1(224 + 168) = 392;
    # estimate_value I N (H(rew + dyn) + pi + num_q q) = 1 * 4 * (2*312 + 112 + 2*144) = 4096
    assert flops.plan_breakdown(tiny()) == {"encode": 88, "pi_trajectories": 392, "estimate_value": 4096,
                                            "total": 4576}


def test_update_flops_tiny_by_hand():
    # td target H B (enc + pi + 2 heads) = 4 (88 + 112 + 288) = 1952
    # world model 3 (B enc + H B (dyn + 2 heads + rew)) = 3 (176 + 4 * 600) = 7728
    # policy (H+1) B (3 pi + 2 * 2 heads) = 6 (336 + 576) = 5472
    assert flops.update_breakdown(tiny()) == {"td_target": 1952, "world_model": 7728, "policy": 5472,
                                              "total": 15152}


def test_per_env_step_official_and_fast_by_hand():
    # official: MPPI act / action_repeat 2 = 2288; 1 update per agent step / 2 = 7576
    assert flops.flops_per_env_step(tiny("official")) == {"collect": 2288, "update": 7576, "total": 9864}
    # fast: policy act (enc + pi = 200) / 2 = 100; 0.25 updates per agent step: 15152 / 4 / 2 = 1894
    assert flops.flops_per_env_step(tiny("fast")) == {"collect": 100, "update": 1894, "total": 1994}
    # random actions cost no model FLOPs
    fc = flops.flop_config({**make_extra_info(tiny(), bench="env_step", device="cpu", compile_seconds=0.0,
                                              agent_steps_per_call=1, updates_per_call=0)})
    assert fc.collector == "random" and flops.collect_flops_per_agent_step(fc) == 0


def test_every_q_head_is_counted_in_planning():
    two, five = flops.plan_flops(tiny(num_q=2)), flops.plan_flops(tiny(num_q=5))
    assert five - two == 3 * 1 * 4 * 144  # 3 more heads x iterations x samples x one head


def test_td_target_and_policy_loss_count_only_their_two_heads():
    two, five = flops.update_breakdown(tiny(num_q=2)), flops.update_breakdown(tiny(num_q=5))
    assert five["td_target"] == two["td_target"] and five["policy"] == two["policy"]
    assert five["world_model"] - two["world_model"] == 3 * 2 * 2 * 3 * 144  # fwd+bwd x H x B x 3 more heads


def test_flops_per_call():
    cfg = tiny()
    assert flops.flops_per_call(cfg, agent_steps_per_call=3, updates_per_call=2) == 3 * 4576 + 2 * 15152


def test_param_counts_tiny_by_hand():
    # encoder (12+4+8) + (32+8+16) = 80; dynamics (36+4+8) + (16+4+8) + (32+8+16) = 132;
    # reward 48 + 28 + 25 = 101; pi 44 + 28 + 10 = 82; Q 2 x 101 = 202
    assert flops.param_counts(tiny()) == {"encoder": 80, "dynamics": 132, "reward": 101, "policy": 82,
                                          "Q_ensemble": 202, "total": 597}


def test_param_counts_5m_hopper_match_notes():
    # the parameter counts of the official model (nicklashansen/tdmpc2 @ e9f5932) instantiated at model_size=5
    assert flops.param_counts(load_config("official", values={"task": "hopper-hop"})) == {
        "encoder": 137_216, "dynamics": 793_088, "reward": 581_221, "policy": 531_464,
        "Q_ensemble": 2_906_105, "total": 4_949_094}


def test_param_counts_match_torch_model():
    pytest.importorskip("torch")
    from torch_ref.world_model import WorldModel

    for cfg in (tiny(), tiny(num_q=5, latent_dim=16, enc_dim=6, num_enc_layers=3)):
        assert flops.param_counts(cfg) == WorldModel(cfg).param_counts()


def test_extra_info_gives_the_same_counts_as_the_config():
    cfg = tiny("fast")
    info = make_extra_info(cfg, bench="train_iteration", device="cpu", compile_seconds=1.0,
                           agent_steps_per_call=256, updates_per_call=64)
    assert flops.flop_config(info) == flops.flop_config(cfg)
    del info["num_bins"]
    with pytest.raises(ValueError, match="num_bins"):
        flops.flop_config(info)


def test_profile_flops_reference_rows():
    ref = flops.profile_flops("hopper-hop", 5)
    assert ref["official"]["collector"] == "mppi" and ref["fast"]["collector"] == "policy"
    assert ref["official"]["per_update"] == ref["fast"]["per_update"]  # same update, different UTD
    assert ref["fast"]["update_per_env_step"] == pytest.approx(ref["official"]["update_per_env_step"] / 4)
