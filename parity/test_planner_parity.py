"""MPPI planning and RunningScale on shared weights and shared noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jax_impl import planner as jplanner
from jax_impl import scale as jscale
from parity.helpers import compare, make_config, make_pair, precision
from tdmpc_parity.core import noise as noise_specs
from tdmpc_parity.core.noise import draw_numpy
from torch_ref import planner as tplanner
from torch_ref import scale as tscale


def _plan_both(p, obs, prev_mean, t0, noise, eval_mode):
    with torch.no_grad():
        tr = tplanner.plan(p.torch.model, p.cfg, p.t(obs), p.t(prev_mean), torch.as_tensor(t0), p.tn(noise),
                           eval_mode=eval_mode)
    jr = jplanner.plan(p.jax.model, p.jstate.params, p.cfg, p.j(obs), p.j(prev_mean), np.asarray(t0), p.jn(noise),
                       eval_mode=eval_mode)
    return tr, jr


def _check(tr, jr, component, dtype):
    # the elites in the same order (ties by index in both backends), then every output
    assert tr.elite_idxs.tolist() == np.asarray(jr.elite_idxs).tolist(), f"{component}: elite indices"
    assert tr.elite_choice.tolist() == np.asarray(jr.elite_choice).tolist(), f"{component}: chosen elite"
    compare({"action": tr.action, "mean": tr.mean, "std": tr.std, "elite_value": tr.elite_value,
             "score": tr.score},
            {"action": jr.action, "mean": jr.mean, "std": jr.std, "elite_value": jr.elite_value,
             "score": jr.score},
            component, dtype)


def _zero_value_heads(canon: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The official init of the reward and Q output layers (zeros): every value estimate of the untrained
    agent is the same number, so the K elites are picked among exact ties."""
    out = dict(canon)
    for head in ("_reward.2", "_Qs.params.2"):
        for part in ("weight", "bias"):
            out[f"{head}.{part}"] = np.zeros_like(canon[f"{head}.{part}"])
    return out


@pytest.mark.parametrize("eval_mode", [False, True])
def test_plan_with_tied_values_picks_the_same_elites(dtype, eval_mode):
    """The untrained agent (official zero-init value heads, as at the step-0 eval): all values tie; both backends
    take the first K samples (the policy trajectories first), so they act alike. With torch.topk's unspecified
    tie order the torch reference picked other elites and its untrained agent returned 100 vs 122 (JAX) on
    cartpole-balance (results/learning/learning.md)."""
    cfg = make_config(dtype)
    E = 2
    rng = np.random.default_rng(23)
    with precision(dtype):
        p = make_pair(cfg, seed=4, transform=_zero_value_heads)
        obs = rng.standard_normal((E, cfg.obs_dim))
        noise = draw_numpy(noise_specs.planner_noise(cfg, E), rng, cfg, np.float64)
        tr, jr = _plan_both(p, obs, np.zeros((E, cfg.horizon, cfg.action_dim)), np.array([True, True]), noise,
                            eval_mode)
        assert torch.unique(tr.elite_value).numel() == 1, "the input must tie every value"
        assert tr.elite_idxs.tolist() == [list(range(cfg.num_elites))] * E
        _check(tr, jr, f"planner/tied values (eval={eval_mode})", dtype)


@pytest.mark.parametrize("eval_mode", [False, True])
def test_plan_and_warm_start(dtype, eval_mode):
    """Two consecutive plan calls for 2 envs: the second warm-starts from the first's mean (t0 False)."""
    cfg = make_config(dtype)
    E = 2
    rng = np.random.default_rng(20)
    with precision(dtype):
        p = make_pair(cfg, seed=2)
        obs = rng.standard_normal((E, cfg.obs_dim))
        n1 = draw_numpy(noise_specs.planner_noise(cfg, E), rng, cfg, np.float64)
        t1, j1 = _plan_both(p, obs, np.zeros((E, cfg.horizon, cfg.action_dim)), np.array([True, True]), n1,
                            eval_mode)
        _check(t1, j1, f"planner/first call (eval={eval_mode})", dtype)
        n2 = draw_numpy(noise_specs.planner_noise(cfg, E), rng, cfg, np.float64)
        obs2 = rng.standard_normal((E, cfg.obs_dim))
        t2, j2 = _plan_both(p, obs2, t1.mean.numpy(), np.array([False, True]), n2, eval_mode)
        _check(t2, j2, f"planner/warm-started call (eval={eval_mode})", dtype)
        # the warm start matters: env 0 (t0 False) differs from a cold start with the same noise
        t_cold, _ = _plan_both(p, obs2, t1.mean.numpy(), np.array([True, True]), n2, eval_mode)
        assert not torch.allclose(t_cold.mean[0], t2.mean[0])


def test_plan_5M(dtype):
    """The official planning sizes (512 samples, 64 elites, 24 policy trajectories, 6 iterations), 1 env."""
    cfg = make_config(dtype, "5M")
    rng = np.random.default_rng(21)
    with precision(dtype):
        p = make_pair(cfg, seed=3)
        obs = rng.standard_normal((1, cfg.obs_dim))
        noise = draw_numpy(noise_specs.planner_noise(cfg, 1), rng, cfg, np.float64)
        tr, jr = _plan_both(p, obs, np.zeros((1, cfg.horizon, cfg.action_dim)), np.array([True]), noise, False)
        _check(tr, jr, "planner/5M", dtype)


def test_running_scale_sequence(dtype):
    """RunningScale over a sequence of batches of different spreads (some below the clamp at 1)."""
    f = np.float64 if dtype == "float64" else np.float32
    rng = np.random.default_rng(22)
    with precision(dtype):
        tv, jv = torch.ones(1, dtype=torch.float64 if dtype == "float64" else torch.float32), jscale.init_scale(f)
        seq_t, seq_j = [], []
        for i in range(12):
            x = (rng.standard_normal((256, 1)) * (0.2 if i % 3 == 0 else 5.0 * (i + 1)) + i).astype(f)
            tv = tscale.scale_update(tv, torch.as_tensor(x), 0.01)
            jv = jscale.scale_update(jv, x, 0.01)
            seq_t.append(tv.clone())
            seq_j.append(jv)
        compare(seq_t, seq_j, "RunningScale/12 batches", dtype)
        pos = tscale.percentile_positions(256)
        assert pos[2].tolist() == pytest.approx([0.25, 0.75]) and pos[0].tolist() == [12, 242]
