"""The official TD-MPC2 numbers (config.yaml and tdmpc2.py @ e9f5932), pinned in both backends."""

from __future__ import annotations

import numpy as np
import pytest

from tdmpc_parity.core.config import load_config

HOPPER_5M = {"encoder": 137_216, "dynamics": 793_088, "reward": 581_221, "policy": 531_464,
             "Q_ensemble": 5 * 581_221, "total": 4_949_094}


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_parameter_counts_hopper_5M(backend):
    from tdmpc_parity.app.backends import backend_module

    assert backend_module(backend, "train").param_counts(load_config(overrides=["task=hopper-hop"])) == HOPPER_5M


def _two_hot(backend, x):
    cfg = load_config()
    if backend == "torch":
        import torch

        from torch_ref.math import two_hot

        return two_hot(torch.tensor(x, dtype=torch.float32), cfg).numpy()
    from jax_impl.math import two_hot

    return np.asarray(two_hot(np.asarray(x, np.float32), cfg))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_two_hot_of_one(backend):
    th = _two_hot(backend, [[1.0], [22026.0], [0.0]])
    assert np.flatnonzero(th[0]).tolist() == [53, 54]
    assert th[0, 53] == pytest.approx(0.5343, abs=1e-4) and th[0, 54] == pytest.approx(0.4657, abs=1e-4)
    assert th[1, 100] == pytest.approx(1.0) and th[1].sum() == pytest.approx(1.0)  # saturates; the wrap writes 0
    assert th[2, 50] == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_running_scale_positions(backend):
    mod = __import__(f"{'torch_ref' if backend == 'torch' else 'jax_impl'}.scale", fromlist=["x"])
    fl, ce, wf, wc = mod.percentile_positions(256)
    pos = np.asarray(fl, float) + np.asarray(wc, float)
    np.testing.assert_allclose(pos, [12.75, 242.25])
    assert np.asarray(ce).tolist() == [13, 243]


def test_running_scale_clamp_and_ema():
    import torch

    from torch_ref.scale import scale_update

    v = scale_update(torch.ones(1), torch.zeros(256, 1), 0.01)  # range 0 -> clamped to 1 -> stays 1
    assert float(v) == 1.0
    x = torch.linspace(0, 100, 256).unsqueeze(1)  # P95 - P5 = 90 exactly at these positions
    assert float(scale_update(torch.ones(1), x, 0.01)) == pytest.approx(1 + 0.01 * (90 - 1), rel=1e-5)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_reward_and_q_logits_exactly_zero_at_init(backend):
    cfg = load_config(overrides=["model_size=1"])
    rng = np.random.default_rng(0)
    z = rng.random((6, cfg.latent_dim)).astype(np.float32)
    a = rng.uniform(-1, 1, (6, cfg.action_dim)).astype(np.float32)
    if backend == "torch":
        import torch

        from torch_ref.world_model import WorldModel

        m = WorldModel(cfg)
        with torch.no_grad():
            r = m.reward(torch.as_tensor(z), torch.as_tensor(a)).numpy()
            q = m.Q(torch.as_tensor(z), torch.as_tensor(a), "all").numpy()
            qt = m.Q(torch.as_tensor(z), torch.as_tensor(a), "all", target=True).numpy()
            w = m._pi[-1].weight.numpy()
    else:
        import jax

        from jax_impl.world_model import WorldModel

        m = WorldModel(cfg)
        p = m.init(jax.random.PRNGKey(0))
        r, q = np.asarray(m.reward(p, z, a)), np.asarray(m.Q(p, z, a, "all"))
        qt = np.asarray(m.Q(p, z, a, "all", target=True))
        w = np.asarray(p["_pi"]["2"]["kernel"])
    assert not r.any() and not q.any() and not qt.any()
    assert np.std(w) == pytest.approx(0.02, rel=0.1)  # the policy head is N(0, 0.02), not zeroed


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_q_pair_is_shared_across_batch_and_time(backend):
    """Q_min over a (time, batch) input uses ONE head pair for every element: min of heads (i, j)."""
    cfg = load_config(overrides=["model_size=1", "num_q=5", "dropout=0"])
    rng = np.random.default_rng(1)
    z = rng.random((3, 7, cfg.latent_dim)).astype(np.float32)
    a = rng.uniform(-1, 1, (3, 7, cfg.action_dim)).astype(np.float32)
    pair = np.array([1, 0])
    if backend == "torch":
        import torch

        from torch_ref import math as tm
        from torch_ref import weights
        from torch_ref.world_model import WorldModel

        m = WorldModel(cfg)
        canon = weights.to_canonical(m)
        canon["_Qs.params.2.weight"] = rng.standard_normal(canon["_Qs.params.2.weight"].shape).astype(np.float32)
        weights.load_canonical(m, canon)
        with torch.no_grad():
            allq = tm.two_hot_inv(m.Q(torch.as_tensor(z), torch.as_tensor(a), "all"), cfg).numpy()
            qmin = m.Q(torch.as_tensor(z), torch.as_tensor(a), "min", pair=torch.as_tensor(pair)).numpy()
    else:
        import jax

        from jax_impl import math as jm
        from jax_impl.world_model import WorldModel

        m = WorldModel(cfg)
        p = m.init(jax.random.PRNGKey(0))
        k = p["_Qs"]["heads"]["2"]["kernel"]
        p["_Qs"]["heads"]["2"]["kernel"] = rng.standard_normal(k.shape).astype(np.float32)
        allq = np.asarray(jm.two_hot_inv(m.Q(p, z, a, "all"), cfg))
        qmin = np.asarray(m.Q(p, z, a, "min", pair=pair))
    np.testing.assert_allclose(qmin, np.minimum(allq[1], allq[0]), rtol=1e-6, atol=1e-6)
    assert not np.allclose(qmin, np.minimum(allq[2], allq[3]))  # a different pair gives other values


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_planner_warm_start_is_a_shift(backend):
    """mean[0:H-1] = prev_mean[1:H], last row 0, unless t0; checked through a zero-iteration-free route:
    with std = max_std clamped samples, the first iteration's sample mean equals the warm start."""
    from tdmpc_parity.core.noise import draw_numpy, planner_noise

    cfg = load_config(overrides=["model_size=1", "num_pi_trajs=0", "num_samples=8", "num_elites=8",
                                 "temperature=1e-9", "iterations=1", "max_std=0.05", "min_std=0.05"])
    prev = np.tile(np.array([0.1, 0.2, 0.3], np.float32)[:, None], (1, cfg.action_dim))[None]
    noise = {k: np.zeros_like(v) for k, v in draw_numpy(planner_noise(cfg, 1), np.random.default_rng(0), cfg).items()}
    noise["value_q_pair"] = np.tile(np.array([0, 1]), (1, 1, 1))
    obs = np.zeros((1, cfg.obs_dim), np.float32)
    if backend == "torch":
        import torch

        from torch_ref.planner import plan
        from torch_ref.world_model import WorldModel

        res = plan(WorldModel(cfg), cfg, torch.as_tensor(obs), torch.as_tensor(prev), torch.tensor([False]),
                   {k: torch.as_tensor(v) for k, v in noise.items()})
        mean = res.mean.numpy()
    else:
        import jax

        from jax_impl.planner import plan
        from jax_impl.world_model import WorldModel

        m = WorldModel(cfg)
        mean = np.asarray(plan(m, m.init(jax.random.PRNGKey(0)), cfg, obs, prev, np.array([False]), noise).mean)
    # zero sampling noise: every sample equals the warm-started mean, so the weighted mean reproduces it
    np.testing.assert_allclose(mean[0, :, 0], [0.2, 0.3, 0.0], atol=1e-6)
