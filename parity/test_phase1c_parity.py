"""The Phase 1c knobs (docs/glass.md) in both backends: the annealed `policy` collector noise and the periodic
Q reset (config `policy_noise_end`, `q_reset_every_env_steps`; tdmpc_parity/core/schedule.py decides both from the
step).

* the anneal: tdmpc_parity.core.schedule.policy_noise_std_at on Python ints (torch) and on a traced int32 counter
inside a
  jitted `lax.scan` (JAX, as in the compiled training loop), and the collector's actions with it;
* the reset (online Q <- target Q, a fresh Adam state of the Q ensemble) in a compiled JAX loop (lax.scan over
  training iterations, the reset decided from the traced iteration) against the torch loop over six iterations
  that cross two resets: parameters, metrics, and the Adam moments and step counts of the Q ensemble (a JAX
  reset that kept the step count shared with the other world-model parameters would change the bias
  correction of the updates after it).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jax_impl import agent as jagent
from parity.helpers import compare, make_config, make_pair, precision
from parity.test_update_parity import TEN_STEP_TOL, _batch, _noise, _params
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.schedule import policy_noise_std_at, q_reset_due
from tdmpc_parity.core.weights import canonical_from_tree
from torch_ref import agent as tagent

ANNEAL = ["collector=policy", "policy_noise_std=0.3", "policy_noise_end=0.1", "policy_noise_anneal_env_steps=1000"]
STEPS = [0, 1, 250, 499, 500, 999, 1000, 1001, 5000]


def test_anneal_schedule_values():
    """0.30 at step 0, linear to 0.10 at the anneal's end, then constant; off (no end): constant."""
    cfg = make_config("float32", overrides=ANNEAL)
    vals = [policy_noise_std_at(cfg, s) for s in STEPS]
    assert vals[0] == 0.3 and vals[6:] == [0.1, 0.1, 0.1]
    assert abs(vals[2] - 0.25) < 1e-15 and abs(vals[4] - 0.2) < 1e-15
    assert all(a > b for a, b in zip(vals[:6], vals[1:7], strict=True))
    off = make_config("float32", overrides=["collector=policy", "policy_noise_std=0.3"])
    assert {policy_noise_std_at(off, s) for s in STEPS} == {0.3}
    assert jagent.TDMPC2(off).collector_std(jnp.int32(5000)) == 0.3  # no anneal: the constant, nothing traced


def test_collector_with_annealed_noise(dtype):
    """The std from a traced step inside a compiled scan (JAX) vs Python ints (torch), and the actions with it."""
    cfg = make_config(dtype, overrides=ANNEAL)
    rng = np.random.default_rng(60)
    with precision(dtype):
        p = make_pair(cfg, seed=20)
        obs = rng.standard_normal((8, cfg.obs_dim))
        noise = rng.standard_normal((len(STEPS), 8, cfg.action_dim))
        jobs, jparams = p.j(obs), p.jstate.params

        def body(_, xs):
            step, n = xs
            std = p.jax.collector_std(step)  # tdmpc_parity.core.schedule.policy_noise_std_at on the traced step
            return None, (std, jagent.policy_act(p.jax.model, jparams, jobs, std, n))

        _, (j_std, j_act) = jax.jit(lambda s, n: jax.lax.scan(body, None, (s, n)))(
            jnp.asarray(STEPS, jnp.int32), p.j(noise))
        t_std = np.array([policy_noise_std_at(cfg, s) for s in STEPS])
        with torch.no_grad():
            t_act = torch.stack([tagent.policy_act(p.torch.model, p.t(obs), float(std), p.t(n))
                                 for std, n in zip(t_std, noise, strict=True)])
        compare(t_std, j_std, "phase1c: annealed collector noise std", dtype)
        compare(t_act, j_act, "phase1c: collector actions with the annealed std", dtype)
        # each backend's random `act` wrapper takes the step's std: the same noise draw at env steps 0 and
        # 1000 moves the unclamped actions 0.3 and 0.1 times the noise away from tanh(mu)
        obs2, t0 = p.t(0.1 * obs[:2]), np.array([True, True])
        gen_state = p.torch.generator.get_state()
        with torch.no_grad():
            mean = tagent.policy_act(p.torch.model, obs2, 0.0, torch.zeros(2, cfg.action_dim))
            a0 = p.torch.act(obs2, torch.as_tensor(t0), env_step=0)
            p.torch.generator.set_state(gen_state)
            a1 = p.torch.act(obs2, torch.as_tensor(t0), env_step=1000)
        jobs2 = p.j(0.1 * obs[:2])
        jm = jagent.policy_act(p.jax.model, jparams, jobs2, 0.0, jnp.zeros((2, cfg.action_dim)))
        _, j0 = p.jax.act(p.jstate, jobs2, jnp.asarray(t0), env_step=jnp.int32(0))
        _, j1 = p.jax.act(p.jstate, jobs2, jnp.asarray(t0), env_step=jnp.int32(1000))
        for m, b0, b1 in ((mean.numpy(), a0.numpy(), a1.numpy()), (np.asarray(jm), np.asarray(j0), np.asarray(j1))):
            inside = np.abs(b0) < 0.999  # not clamped to +-1
            assert inside.sum() >= 2
            np.testing.assert_allclose((b0 - m)[inside], 3.0 * (b1 - m)[inside], rtol=1e-4, atol=1e-6)


def _q_adam(p, jstate) -> tuple[dict, dict]:
    """The Adam state of the Q ensemble, canonical names: torch {name: {step, exp_avg, exp_avg_sq}} and JAX
    {name: {step, exp_avg, exp_avg_sq}} (optax's count is one for the group)."""
    t_out = {}
    for name, param in p.torch.model.named_parameters():
        if name.startswith("_Qs.") and param in p.torch.optim.state:
            st = p.torch.optim.state[param]
            t_out[name] = {"step": st["step"], "exp_avg": st["exp_avg"], "exp_avg_sq": st["exp_avg_sq"]}
    adam = jstate.opt_state.inner_states["q"].inner_state[0]
    mu = canonical_from_tree({"_Qs": jax.tree.map(np.asarray, adam.mu["_Qs"])})
    nu = canonical_from_tree({"_Qs": jax.tree.map(np.asarray, adam.nu["_Qs"])})
    j_out = {k: {"step": np.asarray(adam.count, np.float64), "exp_avg": mu[k], "exp_avg_sq": nu[k]} for k in mu}
    return t_out, j_out


@pytest.mark.parametrize("dtype", ["float64"])  # float64 only: its 1e-8 tolerance sees an Adam step-count slip
def test_q_reset_in_a_compiled_loop(dtype):
    """Six training iterations (one update each) crossing two resets: JAX decides each reset from the traced
    iteration counter inside one jitted lax.scan (as jax_impl/train.py's chunks), torch from Python ints;
    parameters, metrics and the Q Adam state compared. Then one more reset in each backend, checked exactly:
    online Q == target Q, the Q Adam state empty (torch) / zero with count 0 (JAX), the rest's Adam kept."""
    cfg = load_config(overrides=["task=hopper-hop", f"dtype={dtype}", "enc_dim=32", "mlp_dim=32", "latent_dim=32",
                                 "batch_size=16", "q_reset_every_env_steps=6"])
    rng = np.random.default_rng(63)
    # 2 env steps per iteration: resets before iterations 2501 and 2504 (they reach env steps 5004 and 5010);
    # 2499, the last seed iteration, is never reset (no update has run before it)
    its = list(range(cfg.seed_iterations - 1, cfg.seed_iterations + 5))
    due = [bool(q_reset_due(cfg, it)) for it in its]
    assert due == [False, False, True, False, False, True]
    batches = [_batch(cfg, rng) for _ in its]
    noises = [_noise(cfg, rng) for _ in its]
    with precision(dtype):
        p = make_pair(cfg, seed=23)
        t_metrics = []
        for it, (obs, act, rew), n in zip(its, batches, noises, strict=True):
            if q_reset_due(cfg, it):
                p.torch.reset_q()
            t_metrics.append(p.torch.update_core(p.t(obs), p.t(act), p.t(rew), p.tn(n)))

        def body(state, xs):
            it, obs, act, rew, n = xs
            flag = q_reset_due(cfg, it)
            state = p.jax.maybe_reset_q(state, flag)
            state, m = p.jax.update_core(state, obs, act, rew, n)
            return state, (flag, m)

        stack = [p.j(np.stack(x)) for x in zip(*batches, strict=True)]
        jn = {k: p.j(np.stack([n[k] for n in noises])) for k in noises[0]}
        state, (flags, j_metrics) = jax.jit(lambda s, xs: jax.lax.scan(body, s, xs))(
            p.jstate, (jnp.asarray(its, jnp.int32), *stack, jn))
        assert [bool(f) for f in np.asarray(flags)] == due
        j_metrics = [jax.tree.map(lambda x, i=i: x[i], j_metrics) for i in range(len(its))]
        rtol, atol = TEN_STEP_TOL[dtype]
        tol = {".pi_entropy": (1e-3, 1e-2)} if dtype == "float32" else None
        compare(t_metrics, j_metrics, "phase1c: compiled loop across 2 Q resets metrics", dtype, rtol=rtol,
                atol=atol, leaf_tol=tol)
        tw, jw, ts, js = _params(p, state)
        compare({"weights": tw, "scale": ts}, {"weights": jw, "scale": js},
                "phase1c: compiled loop across 2 Q resets parameters", dtype, rtol=rtol, atol=atol)
        t_adam, j_adam = _q_adam(p, state)
        assert {float(v["step"]) for v in t_adam.values()} == {1.0}  # the last reset was before the last update
        compare(t_adam, j_adam, "phase1c: compiled loop across 2 Q resets Q Adam state", dtype, rtol=rtol, atol=atol)

        assert all(not np.array_equal(w[k], w["_target" + k]) for w in (tw, jw) for k in w if k.startswith("_Qs."))
        p.torch.reset_q()
        state = p.jax.reset_q(state)
        tw, jw, _, _ = _params(p, state)
        for w in (tw, jw):
            assert all(np.array_equal(w[k], w["_target" + k]) for k in w if k.startswith("_Qs."))
        assert _q_adam(p, state)[0] == {}, "torch keeps Adam state of the Q parameters after the reset"
        adam = state.opt_state.inner_states["q"].inner_state[0]
        assert int(adam.count) == 0 and not any(np.any(np.asarray(x)) for x in jax.tree.leaves((adam.mu, adam.nu)))
        other = next(q for n, q in p.torch.model.named_parameters() if n.startswith("_dynamics."))
        assert float(p.torch.optim.state[other]["step"]) == 6.0
        assert int(state.opt_state.inner_states["model"].inner_state[0].count) == 6


@pytest.mark.slow
def test_jax_training_loop_applies_both_knobs(tmp_path):
    """The compiled JAX training loop (jax_impl/train.py) with each knob, against the same run without it (tiny
    cartpole, 200 agent steps, `policy` collector): the Q reset every 300 env steps leaves every row up to agent
    step 100 unchanged and changes the later ones (it happens before the updates of the 150th step); the anneal
    changes the rows from the first collected episode on (the seed phase and pre-training are unchanged); an
    anneal from 0.3 to 0.3 (a traced std instead of a constant) gives the first collected episode's row of the
    run without one to float32 rounding (XLA fuses a constant and a traced factor differently: the rows then
    drift apart at the last digits). Minutes on 2 cores: four compiled configs."""
    from jax_impl.train import train
    from tests.train_helpers import rows, tiny_config

    def run(name, *extra):
        cfg = tiny_config("jax", 200, "collector=policy", "policy_noise_std=0.3", *extra)
        assert train(cfg, tmp_path / name, progress=False) == 0
        return rows(tmp_path / name)

    base = run("base")
    reset = run("reset", "q_reset_every_env_steps=300")
    anneal = run("anneal", "policy_noise_end=0.1", "policy_noise_anneal_env_steps=400")
    flat = run("flat", "policy_noise_end=0.3", "policy_noise_anneal_env_steps=400")
    assert [r for r in flat if r["agent_step"] <= 100] == [r for r in base if r["agent_step"] <= 100]
    (f150,), (b150,) = ([r for r in x if r["agent_step"] == 150 and r["kind"] == "train"] for x in (flat, base))
    assert f150.keys() == b150.keys()
    np.testing.assert_allclose([f150[k] for k in b150 if k != "kind"], [b150[k] for k in b150 if k != "kind"],
                               rtol=1e-5, atol=1e-7)
    for other, first_changed in ((reset, 150), (anneal, 150)):
        assert [r for r in other if r["agent_step"] <= 100] == [r for r in base if r["agent_step"] <= 100]
        later = [(a, b) for a, b in zip(other, base, strict=True) if a["agent_step"] >= first_changed]
        assert len(later) == 3 and all(a != b for a, b in later)
