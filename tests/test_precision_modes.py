"""Matmul precision modes (config `matmul_precision`) are per computation, never a process-wide setting.

Building or running an agent of any mode leaves the process defaults as they were (JAX's
`jax_default_matmul_precision`, torch's TF32 flags); the modes live in the programs: JAX's traced update
carries the mode on every dot, torch's computations run inside the mode's flags; the MJX physics is traced at
its own precision (`PHYSICS_PRECISION`) whatever the default around it. The report never forms a speedup
across modes. Cross-backend numbers per mode: parity/test_precision_parity.py.
"""

from __future__ import annotations

import collections
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jax_impl import agent as jagent
from jax_impl import noise as jnoise
from jax_impl import runtime as jruntime
from tdmpc_parity.analysis import report
from tdmpc_parity.core import noise as noise_specs
from tdmpc_parity.core.config import load_config
from torch_ref import agent as tagent
from torch_ref import runtime as truntime

TINY = ["enc_dim=32", "mlp_dim=32", "latent_dim=32", "num_samples=16", "num_elites=4", "num_pi_trajs=4",
        "batch_size=4", "iterations=2", "task=cartpole-balance"]
GLASS = ["glass=phase1b", "glass.num_prototypes=8", "glass.num_clusters=4"]


def _defaults() -> tuple[Any, ...]:
    return (jax.config.jax_default_matmul_precision, torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())


def dot_precisions(jaxpr: Any) -> collections.Counter:
    """Counter of (precision, lhs dtype) over every dot_general of a closed jaxpr, sub-jaxprs included."""
    out: collections.Counter = collections.Counter()

    def walk(jx: Any) -> None:
        for eqn in jx.eqns:
            if eqn.primitive.name == "dot_general":
                prec = eqn.params["precision"]
                out[(getattr(prec[0], "name", str(prec[0])) if prec else "None", str(eqn.invars[0].aval.dtype))] += 1
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    if hasattr(sub, "jaxpr") and hasattr(sub.jaxpr, "eqns"):
                        walk(sub.jaxpr)
                    elif hasattr(sub, "eqns"):
                        walk(sub)

    walk(jaxpr.jaxpr)
    return out


def _update_jaxpr(mode: str) -> Any:
    cfg = load_config(overrides=[*TINY, *GLASS, "backend=jax", f"matmul_precision={mode}"])
    agent = jagent.TDMPC2(cfg, n_envs=1)
    state = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
    H, B = cfg.horizon, cfg.batch_size
    batch = (jnp.zeros((H + 1, B, cfg.obs_dim)), jnp.zeros((H, B, cfg.action_dim)), jnp.zeros((H, B, 1)))
    noise = jax.eval_shape(lambda k: jnoise.draw(noise_specs.update_noise(cfg), k, cfg, jnp.float32),
                           jax.random.PRNGKey(1))
    return jax.make_jaxpr(agent.update_core)(state, *batch, noise, True)


HI, HIGH, BF = ("HIGHEST", "float32"), ("HIGH", "float32"), ("DEFAULT", "bfloat16")


@pytest.mark.parametrize("mode, expected", [("highest", {HI}), ("high", {HIGH}), ("bf16", {BF, HI})])
def test_jax_update_carries_its_mode_on_every_dot(mode, expected):
    """The traced update (Glass on), under a different process default: every dot at the mode; in bf16 the
    linear layers' dots (forward and backward) take bfloat16 operands and Glass's stay float32 at HIGHEST."""
    before = _defaults()
    with jax.default_matmul_precision("bfloat16"):  # a different default around the trace must not leak in
        dots = dot_precisions(_update_jaxpr(mode))
    assert _defaults() == before
    assert set(dots) == expected
    if mode == "bf16":  # encoder, dynamics, reward, pi, Q forward + 2 backward dots each; Glass fwd + bwd
        assert dots[BF] >= 30 and dots[HI] >= 4


@pytest.mark.parametrize("mode", ["highest", "high", "bf16"])
def test_torch_agent_runs_inside_its_mode_and_restores_the_flags(mode):
    """TF32 is allowed exactly while a `high` agent computes (update forward/backward, act), then restored."""
    before = _defaults()
    cfg = load_config(overrides=[*TINY, f"matmul_precision={mode}"])
    agent = tagent.TDMPC2(cfg, n_envs=1)
    assert _defaults() == before
    seen: list[bool] = []
    flag = lambda *_: seen.append(torch.backends.cuda.matmul.allow_tf32)  # noqa: E731
    agent.model._encoder["state"].register_forward_hook(flag)
    agent.model._dynamics.register_full_backward_hook(flag)  # the backward pass too
    rng = np.random.default_rng(0)
    H, B = cfg.horizon, cfg.batch_size
    batch = tuple(torch.as_tensor(rng.standard_normal(s), dtype=torch.float32)
                  for s in ((H + 1, B, cfg.obs_dim), (H, B, cfg.action_dim), (H, B, 1)))
    agent.update(batch)
    agent.act(torch.zeros(1, cfg.obs_dim), torch.tensor([True]))
    assert len(seen) >= 3 and set(seen) == {mode == "high"}  # update forward, backward, act
    assert _defaults() == before


def test_modes_and_their_checks():
    """Each runtime names the modes; an unknown one is an error; bf16 needs float32 parameters."""
    assert jruntime.MODES == truntime.MODES == ("highest", "high", "bf16")
    for check in (jruntime.check_mode, truntime.check_mode):
        with pytest.raises(ValueError, match="'tf32' is not one of"):
            check("tf32")
    with pytest.raises(ValueError, match="matmul_precision.*needs dtype=float32"):
        load_config(overrides=["matmul_precision=bf16", "dtype=float64"])
    with pytest.raises(ValueError, match="matmul_precision"):
        load_config(overrides=["matmul_precision=fp8"])


def test_env_physics_is_traced_at_its_own_precision():
    """The MJX step traced before any agent exists, and under another default, is the same program with every
    dot at PHYSICS_PRECISION (what the env benchmark and the trainer's chunk both run)."""
    from jax_impl.env import MJXEnv

    env = MJXEnv(load_config(overrides=["task=cartpole-balance", "backend=jax"]))
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    action = jnp.zeros((env.action_dim,))
    plain = jax.make_jaxpr(env.step)(state, action)
    with jax.default_matmul_precision("bfloat16"):
        other = jax.make_jaxpr(env.step)(state, action)
    dots = dot_precisions(plain)
    assert jruntime.PHYSICS_PRECISION == "highest"
    assert set(dots) == {HI} and sum(dots.values()) > 10
    assert str(plain) == str(other)


def _record(backend: str, **info: Any) -> report.Record:
    base = {"bench": "train_iteration", "task": "hopper-hop", "n_envs": 1, "action_repeat": 2,
            "collector": "mppi", "updates_per_agent_step": 1.0, "glass": False, "dtype": "float32",
            "matmul_precision": "highest", "model_size": "tiny", "obs_dim": 15, "action_dim": 4, "enc_dim": 64,
            "num_enc_layers": 2, "latent_dim": 64, "mlp_dim": 64, "num_bins": 101, "num_q": 5, "horizon": 3,
            "num_samples": 512, "num_pi_trajs": 24, "iterations": 6, "batch_size": 256, "profile": "official",
            "physics": "dm_control", "env_steps_per_call": 2, "agent_steps_per_call": 1, "updates_per_call": 1}
    stats = {"median": 1.0, "q1": 0.9, "q3": 1.1, "data": [1.0, 0.9, 1.1]}
    return report.Record(None, "m", "x", {**base, "backend": backend, **info}, stats, "2026-01-01", 0)


def test_report_never_pairs_across_modes():
    """Matched pairs and the seed's official-vs-fast pairs only join records of one precision mode."""
    t_hi, j_bf = _record("torch"), _record("jax", matmul_precision="bf16")
    assert report.matched_pairs([t_hi, j_bf]) == []
    assert len(report.matched_pairs([t_hi, _record("jax")])) == 1
    j_fast_bf = _record("jax", matmul_precision="bf16", profile="fast", n_envs=256)
    j_fast = _record("jax", profile="fast", n_envs=256)
    assert report.seed_pairs([t_hi, j_fast_bf]) == []
    assert [p.jax for p in report.seed_pairs([t_hi, j_fast, j_fast_bf])] == [j_fast]
