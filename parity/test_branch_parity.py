"""Parity inputs that drive the branches the other parity tests never reach.

Each test states the branch it drives and asserts that the branch was really taken (in both backends), so a
twin that lacked it would have to produce the same numbers without it — and does not:
* gradient clipping active (norm above the limit) over several updates (Adam's first step is invariant to
  a global gradient scale, so one update would not show a missing clip);
* RunningScale above its floor of 1 inside full updates (the policy loss divides Q by it);
* MPPI std at its lower and at its upper clamp;
* a NaN sample value set to 0 before the elite selection;
* the `policy` collector's clamp to [-1, 1];
* the Glass schedule: the warm-up boundary and the `every_k_updates` alternation;
* episode boundaries: both envs end an episode after exactly `episode_length` agent steps, report the true
  final observation, and start the next episode from a reset.
The other "branches that change numbers" are reached elsewhere: RunningScale at its floor of 1 and above it
(test_planner_parity.py::test_running_scale_sequence), the replay FIFO's wrap-around and sampling across it
(test_buffer_parity.py), Glass active and inactive updates (test_update_parity.py::test_updates_with_glass).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jax_impl import agent as jagent
from parity.helpers import compare, make_config, make_pair, precision
from parity.test_planner_parity import _check, _plan_both
from parity.test_update_parity import compare_updates
from tdmpc_parity.core import noise as noise_specs
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.noise import draw_numpy
from torch_ref import agent as tagent


def test_gradient_clipping_active(dtype):
    """Three updates whose world-model and policy gradient norms are all above `grad_clip_norm`."""
    cfg = make_config(dtype, overrides=["grad_clip_norm=0.05"])
    rng = np.random.default_rng(40)
    with precision(dtype):
        mt, mj, _ = compare_updates(make_pair(cfg, seed=10), cfg, rng, 3, "clipped updates x3/tiny")
        for m in (*mt, *mj):  # the pre-clip norms: every update was clipped, in both backends
            assert float(m["grad_norm"]) > cfg.grad_clip_norm and float(m["pi_grad_norm"]) > cfg.grad_clip_norm


def _wide_q_heads(canon: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Q heads whose last layer is 40x larger: Q values spread over tens, so RunningScale leaves its floor."""
    last = max(int(k.split(".")[2]) for k in canon if k.startswith("_Qs.params.") and k.endswith(".weight"))
    return {k: v * 40.0 if k.startswith(f"_Qs.params.{last}.") or k.startswith(f"_target_Qs.params.{last}.") else v
            for k, v in canon.items()}


def test_updates_with_running_scale_above_one(dtype):
    """Three updates whose policy Q spread (P95 - P5) is above 1: RunningScale moves off its floor, so the
    policy loss's division by the new scale, and the scale's stop-gradient, change the numbers."""
    cfg = make_config(dtype)
    rng = np.random.default_rng(47)
    with precision(dtype):
        p = make_pair(cfg, seed=17, transform=_wide_q_heads)
        _, _, state = compare_updates(p, cfg, rng, 3, "updates x3, scale above 1/tiny")
        for scale in (p.torch.scale.value.numpy(), np.asarray(state.scale)):
            assert (scale > 1.0 + 1e-3).all(), f"RunningScale stayed at its floor: {scale}"


@pytest.mark.parametrize("bound", ["min", "max"])
def test_mppi_std_clamps(dtype, bound):
    """MPPI with the elite std below `min_std` (clamped up) or above `max_std` (clamped down; one iteration,
    where the policy trajectories among the elites spread them wider than the sampling std)."""
    std_range = {"min": ["min_std=0.9", "max_std=2.0"], "max": ["min_std=0.01", "max_std=0.05", "iterations=1"]}[bound]
    cfg = make_config(dtype, overrides=std_range)
    E = 2
    rng = np.random.default_rng(41)
    with precision(dtype):
        p = make_pair(cfg, seed=11)
        obs = rng.standard_normal((E, cfg.obs_dim))
        noise = draw_numpy(noise_specs.planner_noise(cfg, E), rng, cfg, np.float64)
        tr, jr = _plan_both(p, obs, np.zeros((E, cfg.horizon, cfg.action_dim)), np.array([True, True]), noise,
                            False)
        limit = cfg.min_std if bound == "min" else cfg.max_std
        for std in (tr.std.numpy(), np.asarray(jr.std)):
            assert np.isclose(std, limit, rtol=0, atol=1e-7).mean() > 0.25, f"std not at its {bound} clamp"
        _check(tr, jr, f"planner/std at its {bound} clamp", dtype)


def test_planner_sets_nan_values_to_zero(dtype):
    """One sample's actions are NaN in the last iteration: its value NaN -> 0, below every real elite value
    (rewards shifted up), so it is not an elite and the plan stays finite. Without the NaN -> 0 step top-k
    would rank the NaN first and the mean would turn NaN."""
    cfg = make_config(dtype)
    E, P = 2, cfg.num_pi_trajs
    rng = np.random.default_rng(42)
    with precision(dtype):
        p = make_pair(cfg, seed=12)
        obs = rng.standard_normal((E, cfg.obs_dim))
        noise = draw_numpy(noise_specs.planner_noise(cfg, E), rng, cfg, np.float64)
        last = cfg.plan_iterations - 1
        noise["sample_normals"][0, last, :, 3] = np.nan  # env 0, last iteration, sample 3 (index P + 3)
        tr, jr = _plan_both(p, obs, np.zeros((E, cfg.horizon, cfg.action_dim)), np.array([True, True]), noise,
                            False)
        for elites, value in ((tr.elite_idxs.numpy(), tr.elite_value.numpy()),
                              (np.asarray(jr.elite_idxs), np.asarray(jr.elite_value))):
            assert P + 3 not in elites[0] and (value[0] > 0).all(), "the NaN sample must rank below the elites"
        assert torch.isfinite(tr.mean).all() and np.isfinite(np.asarray(jr.mean)).all()
        _check(tr, jr, "planner/NaN sample value set to 0", dtype)


def test_policy_collector_clamps(dtype):
    """The seed's collector clamp(tanh(mu) + std * noise, -1, 1) with noise large enough to hit both bounds."""
    cfg = make_config(dtype, overrides=["collector=policy", "policy_noise_std=0.3"])
    rng = np.random.default_rng(43)
    with precision(dtype):
        p = make_pair(cfg, seed=13)
        obs = rng.standard_normal((64, cfg.obs_dim))
        noise = 4.0 * rng.standard_normal((64, cfg.action_dim))
        with torch.no_grad():
            ta = tagent.policy_act(p.torch.model, p.t(obs), cfg.policy_noise_std, p.t(noise))
        ja = jagent.policy_act(p.jax.model, p.jstate.params, p.j(obs), cfg.policy_noise_std, p.j(noise))
        a = ta.numpy()
        assert (a == 1).any() and (a == -1).any() and (np.abs(a) < 1).any()
        compare(ta, ja, "policy collector (clamped)", dtype)


def test_planner_without_policy_trajectories(dtype):
    """num_pi_trajs = 0: every MPPI sample comes from the Gaussian (the policy-trajectory branch is skipped)."""
    cfg = make_config(dtype, overrides=["num_pi_trajs=0"])
    rng = np.random.default_rng(45)
    with precision(dtype):
        p = make_pair(cfg, seed=15)
        obs = rng.standard_normal((2, cfg.obs_dim))
        noise = draw_numpy(noise_specs.planner_noise(cfg, 2), rng, cfg, np.float64)
        tr, jr = _plan_both(p, obs, np.zeros((2, cfg.horizon, cfg.action_dim)), np.array([True, True]), noise,
                            False)
        _check(tr, jr, "planner/no policy trajectories", dtype)


@pytest.mark.parametrize("eval_mode", [False, True])
def test_pi_act_without_planning(dtype, eval_mode):
    """The official act with mpc=False: tanh(mu) in eval mode, the sampled squashed action in training."""
    cfg = make_config(dtype, overrides=["mpc=false"])
    rng = np.random.default_rng(46)
    with precision(dtype):
        p = make_pair(cfg, seed=16)
        obs, eps = rng.standard_normal((8, cfg.obs_dim)), rng.standard_normal((8, cfg.action_dim))
        with torch.no_grad():
            ta = tagent.pi_act(p.torch.model, p.t(obs), p.t(eps), eval_mode)
        ja = jagent.pi_act(p.jax.model, p.jstate.params, p.j(obs), p.j(eps), eval_mode)
        compare(ta, ja, f"pi act (mpc=false, eval={eval_mode})", dtype)


@pytest.mark.parametrize("preset", ["off", "phase1", "phase1b"])
def test_glass_schedule(preset):
    """Glass is active when num_updates % every_k_updates == 0 and env_steps >= warmup_env_steps (never when
    Glass is off): the same decision in both backends on a grid around the warm-up boundary, every residue
    of every_k_updates."""
    sizes = ["glass.num_prototypes=8", "glass.num_clusters=4"] if preset != "off" else []
    cfg = make_config("float32", overrides=[f"glass={preset}", *sizes])
    g = cfg.glass
    p = make_pair(cfg, seed=14)
    env_grid = [0, g.warmup_env_steps - 1, g.warmup_env_steps, g.warmup_env_steps + 1, 2 * g.warmup_env_steps + 7]
    t_grid, j_grid = [], []
    for n in range(3 * g.every_k_updates):
        p.torch.num_updates = n
        t_grid.append([p.torch.glass_active(e) for e in env_grid])
        j_grid.append([bool(p.jax.glass_active(jnp.int32(n), jnp.int32(e))) for e in env_grid])
    assert t_grid == j_grid
    if preset == "off":
        assert not any(map(any, t_grid))
        return
    assert any(map(any, t_grid)) and not all(map(all, t_grid))
    assert not any(row[1] for row in t_grid) and t_grid[0][2], "the warm-up boundary is env_steps >= warmup"


@pytest.mark.parametrize("validate", [True, False])
def test_structural_entropy_entry_points(dtype, validate):
    """h1, h2 (glass and dsi forms) called on concrete arrays, with and without their input validation."""
    from jax_impl import structural_entropy as jse
    from torch_ref import structural_entropy as tse

    rng = np.random.default_rng(48)
    A = rng.uniform(0, 1, (6, 6))
    A = A + A.T
    S = rng.dirichlet(np.ones(3), 6)
    with precision(dtype):
        f = np.float64 if dtype == "float64" else np.float32
        ta, ts = torch.as_tensor(A.astype(f)), torch.as_tensor(S.astype(f))
        ja, js = jnp.asarray(A.astype(f)), jnp.asarray(S.astype(f))
        t_out = {"h1": tse.h1(ta, validate=validate), "glass": tse.h2(ta, ts, "glass", validate=validate),
                 "dsi": tse.h2(ta, ts, "dsi", validate=validate)}
        j_out = {"h1": jse.h1(ja, validate=validate), "glass": jse.h2(ja, js, "glass", validate=validate),
                 "dsi": jse.h2(ja, js, "dsi", validate=validate)}
        compare(t_out, j_out, f"structural entropy entry points (validate={validate})", dtype)


def test_episode_boundaries_in_both_envs():
    """dm_control (torch) and Playground (JAX): with episode_length 4, agent steps 4 and 8 end an episode
    (truncated / done, never terminated), the transition carries the true final observation, the next one
    starts from a reset (a new initial state, counters back at 0)."""
    from jax_impl.env import MJXEnv
    from torch_ref.env import make_env, make_vector_env

    L, steps = 4, 10
    cfg = load_config(overrides=["task=cartpole-balance", f"episode_length={L}"])
    actions = np.random.default_rng(44).uniform(-1, 1, (steps, cfg.action_dim)).astype(np.float32)
    tenv = make_env(cfg, seed=3)
    obs, _ = tenv.reset(seed=3)
    t_done, t_jump = [], []
    for i, a in enumerate(actions):
        next_obs, _, terminated, truncated, _ = tenv.step(a)
        assert not terminated and tenv.elapsed_steps == (i % L) + 1
        t_done.append(bool(truncated))
        if truncated:
            reset_obs, _ = tenv.reset()
            t_jump.append(not np.allclose(reset_obs, next_obs))
    jenv = MJXEnv(load_config(overrides=["task=cartpole-balance", f"episode_length={L}", "backend=jax"]))
    state = jax.jit(jenv.reset)(jax.random.PRNGKey(3))  # one program, not hundreds of eager op compiles
    step = jax.jit(jenv.step)
    j_done, j_jump, j_t = [], [], []
    for a in actions:
        state, tr = step(state, jnp.asarray(a))
        j_done.append(bool(tr.done))
        j_t.append(int(state.t))
        if tr.done:
            j_jump.append(not np.allclose(np.asarray(state.obs), np.asarray(tr.next_obs)))
    expected = [(i + 1) % L == 0 for i in range(steps)]
    assert t_done == j_done == expected
    assert j_t == [(i + 1) % L for i in range(steps)]
    assert t_jump == j_jump == [True, True]
    # the batched envs of the training loops (torch: gymnasium's vector env, reset together at the shared
    # episode end; JAX: one guarded reset per batch) end episodes on the same steps
    vec = make_vector_env(cfg, 2, seed=4)
    vec.reset(seed=4)
    states = jax.jit(jenv.reset_batch, static_argnums=1)(jax.random.PRNGKey(4), 2)
    step_batch = jax.jit(jenv.step_batch)
    # the trainer's chunks know the lockstep episode end statically: reset=False / reset=True, same numbers
    static_step = jax.jit(jenv.step_batch, static_argnums=2)
    static_states = states
    for i, a in enumerate(actions):
        batch = np.stack([a, -a])
        _, _, terminated, truncated, _ = vec.step(batch)
        assert not terminated.any() and truncated.tolist() == [expected[i]] * 2
        if truncated.all():
            vec.reset()
        before = np.asarray(states.obs)
        static_states, static_tr = static_step(static_states, jnp.asarray(batch), bool(expected[i]))
        states, tr = step_batch(states, jnp.asarray(batch))
        for got, want in zip(jax.tree.leaves((static_states, static_tr)), jax.tree.leaves((states, tr)), strict=True):
            np.testing.assert_array_equal(got, want)
        assert np.asarray(tr.done).tolist() == [expected[i]] * 2
        assert np.asarray(states.t).tolist() == [(i + 1) % L] * 2
        if expected[i]:  # the true final observation is reported; the state holds a fresh reset
            assert not np.allclose(np.asarray(states.obs), np.asarray(tr.next_obs))
        else:
            assert np.allclose(np.asarray(states.obs), np.asarray(tr.next_obs)) and not np.allclose(before, states.obs)
