"""The TD-MPC2 losses, their gradients leaf by leaf, one full update and 10 updates, on shared weights/noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jax_impl import agent as jagent
from jax_impl import weights as jweights
from parity.helpers import SATURATED_ENTROPY_F32, compare, make_config, make_pair, precision
from tdmpc_parity.core import noise as noise_specs
from tdmpc_parity.core.noise import draw_numpy
from tdmpc_parity.core.weights import canonical_from_tree
from torch_ref import agent as tagent
from torch_ref import weights as tweights


def _batch(cfg, rng):
    H, B = cfg.horizon, cfg.batch_size
    return (rng.standard_normal((H + 1, B, cfg.obs_dim)), rng.uniform(-1, 1, (H, B, cfg.action_dim)),
            rng.uniform(-3, 8, (H, B, 1)))


def _noise(cfg, rng):
    return draw_numpy(noise_specs.update_noise(cfg), rng, cfg, np.float64)


def _tol(dtype):
    return SATURATED_ENTROPY_F32 if dtype == "float32" else None


@pytest.mark.parametrize("size", ["tiny", "5M"])
def test_loss_gradients_leaf_by_leaf(dtype, size):
    """World-model loss, policy loss and their gradients w.r.t. every parameter."""
    cfg = make_config(dtype, size)
    rng = np.random.default_rng(30)
    with precision(dtype):
        p = make_pair(cfg, seed=4)
        obs, act, rew = _batch(cfg, rng)
        n = _noise(cfg, rng)
        tm, jm, jp = p.torch.model, p.jax.model, p.jstate.params
        # torch: forward + backward exactly as update_core does
        with torch.no_grad():
            t_next = tm.encode(p.t(obs)[1:])
            t_td = tagent.td_target(tm, cfg, t_next, p.t(rew), p.t(n["td_pi_eps"]), p.t(n["td_q_pair"]))
        tm.zero_grad()
        t_total, t_zs, t_metrics = tagent.world_model_loss(tm, cfg, p.t(obs), p.t(act), p.t(rew), t_next, t_td,
                                                           p.t(n["q_dropout"]))
        t_total.backward()
        t_grads = {k: v.grad.numpy().copy() for k, v in tm.named_parameters() if v.grad is not None}
        tm.zero_grad()
        t_pi, _, t_pi_metrics = tagent.policy_loss(tm, cfg, p.torch.scale.value, t_zs.detach(), p.t(n["pi_eps"]),
                                                   p.t(n["pi_q_pair"]), p.t(n["pi_q_dropout"]))
        t_pi.backward()
        t_pi_grads = {k: v.grad.numpy().copy() for k, v in tm.named_parameters() if v.grad is not None}
        # jax
        j_next = jm.encode(jp, p.j(obs)[1:])
        j_td = jagent.td_target(jm, jp, cfg, j_next, p.j(rew), p.j(n["td_pi_eps"]), p.j(n["td_q_pair"]))

        def wm(params):
            total, zs, m = jagent.world_model_loss(jm, params, cfg, p.j(obs), p.j(act), p.j(rew), j_next, j_td,
                                                   p.j(n["q_dropout"]))
            return total, (zs, m)

        import jax

        (j_total, (j_zs, j_metrics)), j_g = jax.jit(jax.value_and_grad(wm, has_aux=True))(jp)

        def pl(pi_params):
            loss, _, m = jagent.policy_loss(jm, {**jp, "_pi": pi_params}, cfg, p.jstate.scale, j_zs,
                                            p.j(n["pi_eps"]), p.j(n["pi_q_pair"]), p.j(n["pi_q_dropout"]))
            return loss, m

        (j_pi, j_pi_metrics), j_pi_g = jax.jit(jax.value_and_grad(pl, has_aux=True))(jp["_pi"])
        j_grads = {k: v for k, v in canonical_from_tree(jax.tree.map(np.asarray, j_g)).items() if k in t_grads}
        j_pi_grads = canonical_from_tree({"_pi": jax.tree.map(np.asarray, j_pi_g)})
        # gradients that torch leaves as None must be exactly zero in JAX (pi, target Qs)
        zero = canonical_from_tree(jax.tree.map(np.asarray, j_g))
        assert all(not np.any(zero[k]) for k in zero if k.startswith(("_pi.", "_target_Qs.")))
        compare({"td": t_td, "zs": t_zs, "metrics": t_metrics, "pi_metrics": t_pi_metrics},
                {"td": j_td, "zs": j_zs, "metrics": j_metrics, "pi_metrics": j_pi_metrics},
                f"losses/{size}", dtype, leaf_tol=_tol(dtype))
        compare(t_grads, j_grads, f"world-model gradients/{size}", dtype)
        compare(t_pi_grads, j_pi_grads, f"policy gradients/{size}", dtype)


def _run_updates(p, batches, noises, glass_active=False):
    import jax

    metrics_t, metrics_j = [], []
    state = p.jstate
    update = jax.jit(p.jax.update_core)  # one compiled update (eager op-by-op dispatch is slow on CPU)
    for (obs, act, rew), n in zip(batches, noises, strict=True):
        metrics_t.append(p.torch.update_core(p.t(obs), p.t(act), p.t(rew), p.tn(n), glass_active=glass_active))
        state, m = update(state, p.j(obs), p.j(act), p.j(rew), p.jn(n), glass_active)
        metrics_j.append(m)
    return metrics_t, metrics_j, state


def _params(p, state):
    return (tweights.to_canonical(p.torch.model), jweights.to_canonical(p.jax.model, state.params),
            p.torch.scale.value, state.scale)


@pytest.mark.parametrize("size", ["tiny", "5M"])
def test_one_full_update(dtype, size):
    """World-model step, policy step and Polyak from identical parameters and fresh optimiser states."""
    cfg = make_config(dtype, size)
    rng = np.random.default_rng(31)
    with precision(dtype):
        p = make_pair(cfg, seed=5)
        mt, mj, state = _run_updates(p, [_batch(cfg, rng)], [_noise(cfg, rng)])
        tw, jw, ts, js = _params(p, state)
        compare(mt, mj, f"update x1/{size} metrics", dtype, leaf_tol=_tol(dtype))
        # float32 parameters after one Adam step: atol lr/10. Adam's first step is lr * g / (|g| + 1e-8), so a
        # gradient entry near 1e-8 turns float32 rounding noise in g (compared above at 1e-5) into a visible
        # share of lr (seen: 1e-5 on a 5M dynamics weight).
        atol = cfg.lr / 10 if dtype == "float32" else None
        compare({"weights": tw, "scale": ts}, {"weights": jw, "scale": js}, f"update x1/{size} parameters", dtype,
                atol=atol)


# 10 updates: differences compound through Adam's normalisation (a 1e-7 gradient difference on a
# near-zero second moment becomes a visible step difference), so the stated tolerance is looser:
# float32 rtol/atol 1e-4, float64 1e-8.
TEN_STEP_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-8, 1e-8)}


def compare_updates(p, cfg, rng, n: int, label: str):
    """`n` updates on fresh batches and noise in both backends; metrics and parameters compared at
    TEN_STEP_TOL (components "<label> metrics" / "<label> parameters"); returns (torch metrics, JAX metrics,
    JAX state)."""
    dtype = cfg.dtype
    batches = [_batch(cfg, rng) for _ in range(n)]
    noises = [_noise(cfg, rng) for _ in range(n)]
    mt, mj, state = _run_updates(p, batches, noises)
    tw, jw, ts, js = _params(p, state)
    rtol, atol = TEN_STEP_TOL[dtype]
    tol = SATURATED_ENTROPY_F32 if dtype == "float32" else None
    compare(mt, mj, f"{label} metrics", dtype, rtol=rtol, atol=atol, leaf_tol=tol)
    compare({"weights": tw, "scale": ts}, {"weights": jw, "scale": js}, f"{label} parameters", dtype,
            rtol=rtol, atol=atol)
    return mt, mj, state


def test_ten_updates(dtype):
    cfg = make_config(dtype, "tiny")
    rng = np.random.default_rng(32)
    with precision(dtype):
        compare_updates(make_pair(cfg, seed=6), cfg, rng, 10, "update x10/tiny")


@pytest.mark.parametrize("preset", ["phase1b", "phase2"])
def test_updates_with_glass(dtype, preset):
    """Four full updates with Glass on (phase2 also sends its gradient into the encoder): active on the 1st
    and 3rd, inactive on the others, so the Adam-skip of the Glass parameters is compared too."""
    cfg = make_config(dtype, overrides=[f"glass={preset}", "glass.num_prototypes=8", "glass.num_clusters=4"])
    rng = np.random.default_rng(33)
    with precision(dtype):
        p = make_pair(cfg, seed=9)
        state = p.jstate
        import jax

        update = jax.jit(p.jax.update_core)
        mt, mj = [], []
        for i in range(4):
            obs, act, rew = _batch(cfg, rng)
            n = _noise(cfg, rng)
            active = i % 2 == 0
            mt.append(p.torch.update_core(p.t(obs), p.t(act), p.t(rew), p.tn(n), glass_active=active))
            state, m = update(state, p.j(obs), p.j(act), p.j(rew), p.jn(n), active)
            mj.append(m)
        tw, jw, ts, js = _params(p, state)
        assert any(k.startswith("_glass.") for k in tw)
        compare(mt, mj, f"update x4 with Glass {preset}/tiny metrics", dtype, leaf_tol=_tol(dtype))
        atol = cfg.lr / 10 if dtype == "float32" else None  # the Adam first-step argument of test_one_full_update
        compare({"weights": tw, "scale": ts}, {"weights": jw, "scale": js},
                f"update x4 with Glass {preset}/tiny parameters", dtype, atol=atol)
