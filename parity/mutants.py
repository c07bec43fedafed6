"""Mutation testing of the parity suite: would it catch a divergence in either backend?

Each `Mutant` in `MUTANTS` is one small, deliberate bug in `jax_impl/` or `torch_ref/`: an exact substring
`old` of one line (it must occur exactly once in its file) replaced by `new`. For every selected mutant the
tool copies the repository's sources into a fresh temporary folder, applies the replacement there (the
working tree is never touched), and runs the tests named in `tests` (cheapest first: parity tests, or for the
random wrappers, which parity cannot compare, the distribution tests of tests/test_random_draws.py) with
`-x -q -p no:cacheprovider`, cwd = the copy and PYTHONPATH = the copy, so the copy's packages shadow the
editable install (checked before every run: `tdmpc_parity`, `jax_impl`, `torch_ref` and `parity` must import
from the copy). Outcomes:

* killed     pytest exit code 1 (a test failed); the first `FAILED <nodeid>` line is the killing test
* survived   exit code 0: no listed test noticed the bug ("SURVIVED — needs a test")
* equivalent exit code 0 for a mutant marked `equivalent="reason"` (it cannot change any result)
* error      exit code 2/3/4/5 (collection or usage error, no tests run): not a kill
* timeout    the tests ran past `--timeout` seconds: not a kill

Run (from the repository root, with the project's virtualenv):

    python -m parity.mutants --list                        # the mutants, nothing run
    python -m parity.mutants                               # all of them (hours on a small CPU machine)
    python -m parity.mutants --backend jax --jobs 2        # one backend, two mutants at a time
    python -m parity.mutants --only jax-math-log-sqrt-2pi,torch-math-log-sqrt-2pi --out /tmp/m.md

Before the first mutant the tests of the first selected mutant run once on the unmutated copy (baseline);
the run aborts if they do not pass. The sources are snapshotted once per run, so edits made to the working
tree during a long run do not leak into later mutants.

Results: every finished mutant is written at once to a JSON file beside the markdown (`--out X.md` ->
`X.json`), keyed by mutant id, and the markdown is re-rendered from the JSON; both writes are atomic
(tdmpc_parity/core/fsutil.py). A later run (e.g. `--only ID`) replaces only the rows it runs and keeps the others,
so an interrupted run keeps what finished. Rows whose mutant no longer exists or whose definition changed
are dropped. The markdown has the last run's command, date and machine, counts per backend, one row per
mutant run (file:line of `old` in the original file) and a table of survivors with their explanation.

Exit status: 0 when every mutant run was killed or equivalent, 1 when one survived, errored or timed
out, 2 for a usage problem, a mutant whose `old` is not found exactly once, or a failing baseline.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tdmpc_parity.app.pytest_env import child_pytest_env
from tdmpc_parity.core.fsutil import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "mutation.md"
DEFAULT_TIMEOUT = 600.0
BACKENDS = ("jax", "torch")
PACKAGES = {"jax": "jax_impl", "torch": "torch_ref"}
KINDS = ("constant", "off-by-one", "dropped-term", "swapped", "reduction", "stop-gradient", "clamp")
RESULTS = ("killed", "survived", "equivalent", "error", "timeout")
PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider")
IMPORT_CHECK = ("tdmpc_parity", "jax_impl", "torch_ref", "parity")


class MutantError(ValueError):
    """A mutant that cannot be applied (its `old` text is missing or ambiguous), or a bad selection."""


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: replace the exact substring `old` (one line or a fragment of one) by `new`.

    `tests`: parity test node ids or files expected to kill it, cheapest first (tests/test_random_draws.py ids
    for the random wrappers). `equivalent`: why the
    mutant cannot change any result (then surviving is expected), None for a real bug.
    """

    id: str
    backend: str  # "jax" | "torch"
    path: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]
    kind: str
    equivalent: str | None = None


# ----------------------------------------------------------------------------------------------------------
# The parity tests the mutants point at (node ids; the parametrised ones cheapest first)
# ----------------------------------------------------------------------------------------------------------


def _ids(test: str, *params: str) -> tuple[str, ...]:
    return tuple(f"{test}[{p}]" for p in params) if params else (test,)


_MATH = "parity/test_math_parity.py::"
_MOD = "parity/test_modules_parity.py::test_module_forwards"
_UPD = "parity/test_update_parity.py::"
_PLAN = "parity/test_planner_parity.py::"
_BR = "parity/test_branch_parity.py::"
_GL = "parity/test_glass_parity.py::"
_ENV = "parity/test_env_parity.py::"

SYMLOG = _ids(_MATH + "test_symlog_symexp")
TWO_HOT = _ids(_MATH + "test_two_hot_and_inverse")
SOFT_CE = _ids(_MATH + "test_soft_ce")
SIMNORM = _ids(_MATH + "test_simnorm")
POLICY_MATH = _ids(_MATH + "test_policy_math")
MODULES = _ids(_MOD, "float32-batch1-tiny", "float64-batch1-tiny")
MODULES64 = _ids(_MOD, "float64-batch1-tiny")  # effects below the float32 tolerance
LOSSES = _ids(_UPD + "test_loss_gradients_leaf_by_leaf", "float32-tiny", "float64-tiny")
UPDATE = _ids(_UPD + "test_one_full_update", "float32-tiny", "float64-tiny")
UPDATE64 = _ids(_UPD + "test_one_full_update", "float64-tiny")
PLAN = _ids(_PLAN + "test_plan_and_warm_start", "float32-False", "float64-False")
SCALE = _ids(_PLAN + "test_running_scale_sequence")
CLIP = _ids(_BR + "test_gradient_clipping_active", "float32", "float64")
SCALE_UPD = _ids(_BR + "test_updates_with_running_scale_above_one", "float32", "float64")
CLIP64 = _ids(_BR + "test_gradient_clipping_active", "float64")
STD_MIN = _ids(_BR + "test_mppi_std_clamps", "float32-min", "float64-min")
STD_MAX = _ids(_BR + "test_mppi_std_clamps", "float32-max", "float64-max")
NAN_PLAN = _ids(_BR + "test_planner_sets_nan_values_to_zero", "float32", "float64")
COLLECTOR = _ids(_BR + "test_policy_collector_clamps", "float32", "float64")
GLASS_SCHEDULE = _ids(_BR + "test_glass_schedule")
EPISODES = _ids(_BR + "test_episode_boundaries_in_both_envs")
BUFFER = _ids("parity/test_buffer_parity.py::test_buffer_sampling_matches_and_respects_episodes")
SE = _ids(_GL + "test_structural_entropy_parity")
GLASS_LOSS = _ids(_GL + "test_glass_loss_parity")
ENV_FNS = _ids(_ENV + "test_obs_and_reward_functions_agree_on_same_states")
ENV_STEP = _ids(_ENV + "test_mjx_step_matches_mujoco_c_on_playground_model")
ENV_CTRL = _ids(_ENV + "test_actions_map_onto_asymmetric_ctrlranges_as_dm_controls_action_scale")
TASK_FNS = _ENV + "test_task_obs_layout_and_reward_functions_match_dm_control"  # [task]
STARTS = "parity/test_initial_states.py::test_initial_states"  # [task]
# the random wrappers are not compared by parity (each backend draws with its own RNG): their distributions are
# tested against tdmpc_parity/core/noise.py in tests/test_random_draws.py, per backend ([jax] / [torch])
_RD = "tests/test_random_draws.py::"
CONTINUOUS = _RD + "test_continuous_kinds_follow_their_distributions"  # [backend]
INDEX = _RD + "test_index_kind_is_uniform_on_its_range"  # [backend]
PAIR = _RD + "test_q_pair_is_uniform_over_the_ten_pairs_never_one_head_twice"  # [backend]
KEEP = _RD + "test_keep_masks_drop_at_the_rate_independently_per_head"  # [backend]
BUFFER_DRAWS = _RD + "test_buffer_draws_every_stored_episode_and_start_uniformly"  # [episodes-backend]
SEED_ACTIONS_JAX = _ids(_RD + "test_jax_seed_phase_actions_are_uniform")


# ----------------------------------------------------------------------------------------------------------
# The mutants
# ----------------------------------------------------------------------------------------------------------


def _m(backend: str, module: str, name: str, kind: str, old: str, new: str, tests: tuple[str, ...],
       equivalent: str | None = None) -> Mutant:
    stem = module.removesuffix(".py").replace("_", "-")
    return Mutant(f"{backend}-{stem}-{name}", backend, f"{PACKAGES[backend]}/{module}", old, new, tests, kind,
                  equivalent)


def _twin(module: str, name: str, kind: str, tests: tuple[str, ...], jax: tuple[str, str],
          torch: tuple[str, str]) -> list[Mutant]:
    """The same mutation in both backends (each twin checked on its own)."""
    return [_m("jax", module, name, kind, *jax, tests), _m("torch", module, name, kind, *torch, tests)]


def _same(module: str, name: str, kind: str, tests: tuple[str, ...], old: str, new: str) -> list[Mutant]:
    """The same mutation where both backends spell the line identically."""
    return _twin(module, name, kind, tests, (old, new), (old, new))


_MATH_MUTANTS = [
    *_same("math.py", "log-sqrt-2pi", "constant", POLICY_MATH,
           "LOG_SQRT_2PI = 0.9189385175704956", "LOG_SQRT_2PI = 1.8378770664093453"),
    *_twin("math.py", "squash-eps", "dropped-term", POLICY_MATH,
           ("jnp.log(jax.nn.relu(1 - pi**2) + 1e-6)", "jnp.log(jax.nn.relu(1 - pi**2))"),
           ("torch.log(F.relu(1 - pi.pow(2)) + 1e-6)", "torch.log(F.relu(1 - pi.pow(2)))")),
    *_twin("math.py", "symlog-sign", "dropped-term", SYMLOG,
           ("return jnp.sign(x) * jnp.log(1 + jnp.abs(x))", "return jnp.log(1 + jnp.abs(x))"),
           ("return torch.sign(x) * torch.log(1 + torch.abs(x))", "return torch.log(1 + torch.abs(x))")),
    *_twin("math.py", "two-hot-vmax", "clamp", TWO_HOT,
           ("jnp.clip(symlog(x), cfg.vmin, cfg.vmax)", "jnp.clip(symlog(x), cfg.vmin, cfg.vmax - 1)"),
           ("torch.clamp(symlog(x), cfg.vmin, cfg.vmax)", "torch.clamp(symlog(x), cfg.vmin, cfg.vmax - 1)")),
    *_twin("math.py", "two-hot-upper-bin", "off-by-one", TWO_HOT,
           ("jax.nn.one_hot((k + 1) % cfg.num_bins", "jax.nn.one_hot((k + 2) % cfg.num_bins"),
           ("(bin_idx + 1) % cfg.num_bins", "(bin_idx + 2) % cfg.num_bins")),
    *_twin("math.py", "bin-centres", "off-by-one", TWO_HOT,
           ("jnp.linspace(cfg.vmin, cfg.vmax, cfg.num_bins, dtype=dtype)",
            "jnp.linspace(cfg.vmin, cfg.vmax, cfg.num_bins + 1, dtype=dtype)[:-1]"),
           ("torch.linspace(cfg.vmin, cfg.vmax, cfg.num_bins, device=like.device, dtype=like.dtype)",
            "torch.linspace(cfg.vmin, cfg.vmax, cfg.num_bins + 1, device=like.device, dtype=like.dtype)[:-1]")),
    *_twin("math.py", "two-hot-inv-softmax-axis", "reduction", TWO_HOT,
           ("probs = jax.nn.softmax(logits, axis=-1)", "probs = jax.nn.softmax(logits, axis=0)"),
           ("probs = F.softmax(logits, dim=-1)", "probs = F.softmax(logits, dim=0)")),
    *_twin("math.py", "soft-ce-mean", "reduction", SOFT_CE,
           ("jax.nn.log_softmax(pred, axis=-1)).sum(-1, keepdims=True)",
            "jax.nn.log_softmax(pred, axis=-1)).mean(-1, keepdims=True)"),
           ("F.log_softmax(pred, dim=-1)).sum(-1, keepdim=True)",
            "F.log_softmax(pred, dim=-1)).mean(-1, keepdim=True)")),
    *_twin("math.py", "log-std-half", "constant", POLICY_MATH,
           ("low + 0.5 * dif * (jnp.tanh(x) + 1)", "low + dif * (jnp.tanh(x) + 1)"),
           ("low + 0.5 * dif * (torch.tanh(x) + 1)", "low + dif * (torch.tanh(x) + 1)")),
    *_twin("math.py", "gumbel-log-p", "dropped-term", POLICY_MATH + PLAN[:1],
           ("jax.nn.softmax(jnp.log(p) + gumbel, axis=axis)", "jax.nn.softmax(p + gumbel, axis=axis)"),
           ("torch.softmax(p.log() + gumbel, dim=dim)", "torch.softmax(p + gumbel, dim=dim)")),
]

_LAYER_MUTANTS = [
    *_same("layers.py", "ln-eps", "constant", MODULES64, "LN_EPS = 1e-5", "LN_EPS = 1e-6"),
    *_twin("layers.py", "simnorm-axis", "reduction", SIMNORM,
           ("jax.nn.softmax(x.reshape(*shp[:-1], -1, dim), axis=-1)",
            "jax.nn.softmax(x.reshape(*shp[:-1], -1, dim), axis=-2)"),
           ("F.softmax(x, dim=-1).view(*shp)", "F.softmax(x, dim=-2).view(*shp)")),
    *_twin("layers.py", "dropout-rescale", "dropped-term", MODULES,
           ("x = x * keep_mask * (1.0 / (1.0 - self.dropout))", "x = x * keep_mask"),
           ("h = h * keep_mask.reshape(n, -1, h.shape[-1]) * (1.0 / (1.0 - self.dropout))",
            "h = h * keep_mask.reshape(n, -1, h.shape[-1])")),
    *_twin("layers.py", "dropout-layer", "off-by-one", MODULES,
           ("keep_mask if i == 0 else None", "keep_mask if i == 1 else None"),
           ("if i == 0 and keep_mask is not None:", "if i == 1 and keep_mask is not None:")),
    _m("torch", "layers.py", "q-detach", "stop-gradient",
       "w, b = w.detach(), b.detach()", "w, b = w, b", LOSSES),
]

_WORLD_MODEL_MUTANTS = [
    *_twin("world_model.py", "simnorm-dim", "constant", MODULES,
           ("sim = partial(layers.simnorm, dim=cfg.simnorm_dim)",
            "sim = partial(layers.simnorm, dim=2 * cfg.simnorm_dim)"),
           ("act=layers.SimNorm(cfg.simnorm_dim), precision=mm)}",
            "act=layers.SimNorm(2 * cfg.simnorm_dim), precision=mm)}")),
    *_twin("world_model.py", "polyak-tau", "constant", UPDATE,
           ("tau = self.cfg.tau", "tau = 2 * self.cfg.tau"),
           ("tgt.lerp_(src, self.cfg.tau)", "tgt.lerp_(src, 2 * self.cfg.tau)")),
    *_twin("world_model.py", "q-min-avg", "swapped", MODULES,
           ('return q.min(0) if return_type == "min" else q.sum(0) / 2',
            'return q.sum(0) / 2 if return_type == "min" else q.min(0)'),
           ('return q.min(0).values if return_type == "min" else q.sum(0) / 2',
            'return q.sum(0) / 2 if return_type == "min" else q.min(0).values')),
    *_twin("world_model.py", "q-target-online", "swapped", MODULES,
           ('q_params = params["_target_Qs"] if target else params["_Qs"]',
            'q_params = params["_Qs"] if target else params["_target_Qs"]'),
           ("net = self._target_Qs if target else self._Qs", "net = self._Qs if target else self._target_Qs")),
    *_twin("world_model.py", "q-pair-ignored", "swapped", MODULES + UPDATE[:1],
           ("            logits = out[pair]", "            logits = out[:2]"),
           ("        return out[pair]", "        return out[:2]")),
    _m("torch", "world_model.py", "q-pair-per-env", "swapped",
       "idx = pair.t().reshape(2, -1,", "idx = pair.reshape(2, -1,", PLAN),
    *_same("world_model.py", "entropy-scale", "off-by-one", MODULES,
           "scaled_log_prob = log_prob * eps.shape[-1]", "scaled_log_prob = log_prob * (eps.shape[-1] - 1)"),
    _m("jax", "world_model.py", "q-stop-gradient", "stop-gradient",
       "q_params = jax.lax.stop_gradient(q_params)", "q_params = q_params", LOSSES,
       equivalent="jax.grad differentiates the policy loss w.r.t. params['_pi'] only (update_core and the "
                  "parity test alike), so the Q parameters get no gradient with or without the stop-gradient"),
]

_SCALE_MUTANTS = [
    *_same("scale.py", "percentile", "constant", SCALE, "PERCENTILES = (5.0, 95.0)", "PERCENTILES = (5.0, 96.0)"),
    *_twin("scale.py", "floor-of-one", "clamp", SCALE,
           ("jnp.maximum(pct[1] - pct[0], 1.0)", "(pct[1] - pct[0])"),
           ("torch.clamp(pct[1] - pct[0], min=1.0)", "(pct[1] - pct[0])")),
    *_twin("scale.py", "tau", "constant", SCALE,
           ("return value + tau * (r - value)", "return value + 2 * tau * (r - value)"),
           ("r.reshape(value.shape).to(value.dtype), tau)", "r.reshape(value.shape).to(value.dtype), 2 * tau)")),
    *_twin("scale.py", "positions", "off-by-one", SCALE,
           ("positions = p * np.float32(batch - 1) / np.float32(100)",
            "positions = p * np.float32(batch) / np.float32(100)"),
           ("positions = p * (batch - 1) / 100", "positions = p * batch / 100")),
    *_twin("scale.py", "stop-gradient", "stop-gradient", SCALE_UPD,
           ("pct = percentiles_of(jax.lax.stop_gradient(x))", "pct = percentiles_of(x)"),
           ("pct = percentiles_of(x.detach())", "pct = percentiles_of(x)")),
]

_PLANNER_MUTANTS = [
    *_twin("planner.py", "temperature", "constant", PLAN,
           ("jnp.exp(cfg.temperature * (elite_value - max_value))",
            "jnp.exp(2 * cfg.temperature * (elite_value - max_value))"),
           ("torch.exp(cfg.temperature * (elite_value - max_value))",
            "torch.exp(2 * cfg.temperature * (elite_value - max_value))")),
    *_twin("planner.py", "denominator-eps", "constant", PLAN,
           ("denom = score.sum(0) + 1e-9", "denom = score.sum(0) + 1e-3"),
           ("denom = score.sum(1, keepdim=True) + 1e-9", "denom = score.sum(1, keepdim=True) + 1e-3")),
    *_twin("planner.py", "min-std", "clamp", STD_MIN,
           ("std = jnp.clip(std, cfg.min_std, cfg.max_std)", "std = jnp.minimum(std, cfg.max_std)"),
           ("std = std.clamp(cfg.min_std, cfg.max_std)", "std = std.clamp(max=cfg.max_std)")),
    *_twin("planner.py", "max-std", "clamp", STD_MAX,
           ("std = jnp.clip(std, cfg.min_std, cfg.max_std)", "std = jnp.maximum(std, cfg.min_std)"),
           ("std = std.clamp(cfg.min_std, cfg.max_std)", "std = std.clamp(min=cfg.min_std)")),
    *_twin("planner.py", "nan-to-num", "dropped-term", NAN_PLAN,
           ("value = jnp.nan_to_num(value, nan=0.0)[:, 0]", "value = value[:, 0]"),
           ("value = value.nan_to_num(0).squeeze(-1)", "value = value.squeeze(-1)")),
    *_twin("planner.py", "warm-start-shift", "off-by-one", PLAN,
           ("jnp.concatenate([prev_mean[1:],", "jnp.concatenate([prev_mean[:-1],"),
           ("mean[:, :-1], prev_mean[:, 1:])", "mean[:, :-1], prev_mean[:, :-1])")),
    *_twin("planner.py", "pi-traj-eps", "off-by-one", STD_MAX + PLAN[:1],
           ('noise["pi_traj_eps"][: H - 1]', 'noise["pi_traj_eps"][1:H]'),
           ('noise["pi_traj_eps"][:, t])', 'noise["pi_traj_eps"][:, t + 1])')),
    *_twin("planner.py", "discount", "dropped-term", PLAN,
           ("return (z, G, discount * cfg.discount), None", "return (z, G, discount), None"),
           ("discount = discount * cfg.discount", "discount = discount")),
    *_twin("planner.py", "value-q-avg", "swapped", PLAN,
           ('model.Q(params, z, action, return_type="avg", pair=q_pair)',
            'model.Q(params, z, action, return_type="min", pair=q_pair)'),
           ('model.Q(z, action, return_type="avg", pair=q_pair)',
            'model.Q(z, action, return_type="min", pair=q_pair)')),
    *_twin("planner.py", "action-noise-std", "off-by-one", PLAN,
           ('a = a + std[0] * noise["action_noise"]', 'a = a + std[1] * noise["action_noise"]'),
           ('a = a + std[:, 0] * noise["action_noise"]', 'a = a + std[:, 1] * noise["action_noise"]')),
]

_AGENT_MUTANTS = [
    *_twin("agent.py", "rho-exponent", "off-by-one", LOSSES,
           ("[cfg.rho**t for t in range(H)]", "[cfg.rho**(t + 1) for t in range(H)]"),
           ("F.mse_loss(z, next_z[t]) * cfg.rho**t", "F.mse_loss(z, next_z[t]) * cfg.rho**(t + 1)")),
    *_twin("agent.py", "pi-rho-exponent", "off-by-one", LOSSES,
           ("jnp.arange(qs.shape[0], dtype=zs.dtype)", "jnp.arange(1, qs.shape[0] + 1, dtype=zs.dtype)"),
           ("torch.arange(len(qs), device=zs.device, dtype=zs.dtype)",
            "torch.arange(1, len(qs) + 1, device=zs.device, dtype=zs.dtype)")),
    *_same("agent.py", "entropy-term", "dropped-term", LOSSES,
           '-(cfg.entropy_coef * info["scaled_entropy"] + qs)', "-(qs)"),
    *_same("agent.py", "entropy-unscaled", "swapped", LOSSES,
           'cfg.entropy_coef * info["scaled_entropy"]', 'cfg.entropy_coef * info["entropy"]'),
    *_same("agent.py", "entropy-coef", "constant", LOSSES,
           'cfg.entropy_coef * info["scaled_entropy"]', '2 * cfg.entropy_coef * info["scaled_entropy"]'),
    *_twin("agent.py", "td-min-avg", "swapped", LOSSES,
           ('action, return_type="min", pair=q_pair,', 'action, return_type="avg", pair=q_pair,'),
           ('return_type="min", pair=q_pair, target=True,', 'return_type="avg", pair=q_pair, target=True,')),
    *_twin("agent.py", "td-target-online", "swapped", LOSSES,
           ("target=True, heads_first=True))", "target=False, heads_first=True))"),
           ("pair=q_pair, target=True,", "pair=q_pair, target=False,")),
    _m("jax", "agent.py", "td-stop-gradient", "stop-gradient",
       "return sg(reward + cfg.discount *", "return (reward + cfg.discount *", LOSSES,
       equivalent="td is computed outside the differentiated function (update_core and the parity test pass "
                  "it in as a constant), so the stop-gradient changes no gradient"),
    _m("jax", "agent.py", "next-z-stop-gradient", "stop-gradient",
       "next_z = sg(model.encode(params, obs[1:]))", "next_z = model.encode(params, obs[1:])", UPDATE,
       equivalent="next_z is computed from `params` outside wm_loss(p), the function jax.grad differentiates, "
                  "so it is a constant either way"),
    _m("torch", "agent.py", "next-z-no-grad", "stop-gradient",
       "with torch.no_grad():", "with torch.enable_grad():", UPDATE),
    *_twin("agent.py", "next-z-obs-slice", "off-by-one", UPDATE,
           ("encode(params, obs[1:])", "encode(params, obs[:-1])"),
           ("next_z = model.encode(obs[1:])", "next_z = model.encode(obs[:-1])")),
    *_twin("agent.py", "value-loss-num-q", "reduction", LOSSES,
           ("value_loss = (value_ce * rho).sum() / (H * cfg.num_q)", "value_loss = (value_ce * rho).sum() / H"),
           ("value_loss = value_loss / (H * cfg.num_q)", "value_loss = value_loss / H")),
    *_twin("agent.py", "consistency-sum", "reduction", LOSSES,
           ("jnp.mean((z_rest - next_z) ** 2, axis=(1, 2))", "jnp.sum((z_rest - next_z) ** 2, axis=(1, 2))"),
           ("F.mse_loss(z, next_z[t])", 'F.mse_loss(z, next_z[t], reduction="sum")')),
    *_same("agent.py", "zs-slice", "off-by-one", LOSSES, "_zs = zs[:-1]", "_zs = zs[1:]"),
    *_twin("agent.py", "scale-order", "swapped", SCALE_UPD,
           ("qs = qs * (1 / new_scale)", "qs = qs * (1 / scale_value)"),
           ("qs = qs * (1 / new_scale)", "qs = qs * (1 / scale_value)")),
    *_twin("agent.py", "pi-adam-eps", "constant", UPDATE64,
           ("optax.adam(cfg.lr, eps=1e-5)", "optax.adam(cfg.lr, eps=1e-8)"),
           ("lr=cfg.lr, eps=1e-5)", "lr=cfg.lr, eps=1e-8)")),
    *_twin("agent.py", "enc-lr-scale", "constant", UPDATE,
           ('{"encoder": optax.adam(cfg.lr * cfg.enc_lr_scale)', '{"encoder": optax.adam(cfg.lr)'),
           ('"lr": cfg.lr * cfg.enc_lr_scale}', '"lr": cfg.lr}')),
    *_twin("agent.py", "collector-clamp", "clamp", COLLECTOR,
           ('return jnp.clip(info["mean"] + noise_std * noise, -1, 1)', 'return info["mean"] + noise_std * noise'),
           ('return (info["mean"] + noise_std * noise).clamp(-1, 1)', 'return (info["mean"] + noise_std * noise)')),
    *_twin("agent.py", "glass-warmup", "off-by-one", GLASS_SCHEDULE,
           ("(env_steps >= g.warmup_env_steps)", "(env_steps > g.warmup_env_steps)"),
           ("env_steps >= g.warmup_env_steps and", "env_steps > g.warmup_env_steps and")),
    *_twin("agent.py", "no-grad-clip", "dropped-term", CLIP,
           ('clip_grad_norm(grads, cfg.grad_clip_norm)', 'clip_grad_norm(grads, jnp.inf)'),
           ("clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)",
            'clip_grad_norm_(model.parameters(), float("inf"))')),
    *_twin("agent.py", "no-pi-grad-clip", "dropped-term", CLIP,
           ("clip_grad_norm(pi_grads, cfg.grad_clip_norm)", "clip_grad_norm(pi_grads, jnp.inf)"),
           ("clip_grad_norm_(model._pi.parameters(), cfg.grad_clip_norm)",
            'clip_grad_norm_(model._pi.parameters(), float("inf"))')),
    # torch's own clip_grad_norm_ holds the +1e-6 of the torch twin (library code): JAX only
    _m("jax", "agent.py", "grad-clip-eps", "constant",
       "max_norm / (norm + 1e-6)", "max_norm / (norm + 1e-2)", CLIP64),
]

_BUFFER_MUTANTS = [
    *_twin("buffer.py", "slot-modulus", "off-by-one", BUFFER,
           ("episode // self.n_envs) % (self.slots + 1)", "episode // self.n_envs) % self.slots"),
           ('rounding_mode="floor")) % (self.slots + 1)', 'rounding_mode="floor")) % self.slots')),
    *_twin("buffer.py", "action-rows", "off-by-one", BUFFER,
           ("action = state.action[slot[1:], env[1:], rows[1:]]",
            "action = state.action[slot[1:], env[1:], rows[:-1]]"),
           ("action = self.action[slot[1:], env[1:], rows[1:]]", "action = self.action[slot[1:], env[1:], rows[:-1]]")),
]

_GLASS_MUTANTS = [
    *_twin("glass.py", "hinge-threshold", "constant", GLASS_LOSS,
           ("(jax.nn.relu(s_bar - 2.0 / K) ** 2).sum()", "(jax.nn.relu(s_bar - 1.0 / K) ** 2).sum()"),
           ("(F.relu(s_bar - 2.0 / K) ** 2).sum()", "(F.relu(s_bar - 1.0 / K) ** 2).sum()")),
    *_twin("glass.py", "row-normaliser-axis", "reduction", GLASS_LOSS,
           ("counts.sum(axis=-1, keepdims=True)", "counts.sum(axis=0, keepdims=True)"),
           ("counts.sum(dim=-1, keepdim=True)", "counts.sum(dim=0, keepdim=True)")),
    *_same("glass.py", "symmetrise", "dropped-term", GLASS_LOSS, "return P, 0.5 * (P + P.T)", "return P, P"),
    *_twin("glass.py", "assign-softmax-axis", "reduction", GLASS_LOSS,
           ("jax.nn.softmax(logits / gcfg.t_proto, axis=-1)", "jax.nn.softmax(logits / gcfg.t_proto, axis=0)"),
           ("torch.softmax(logits / gcfg.t_proto, dim=-1)", "torch.softmax(logits / gcfg.t_proto, dim=0)")),
    *_twin("glass.py", "temporal-stop-gradient", "stop-gradient", GLASS_LOSS,
           ("jax.lax.stop_gradient(c_next @ S)", "(c_next @ S)"),
           ("(c_next @ S).detach()", "(c_next @ S)")),
    *_same("glass.py", "stopgrad-graph", "stop-gradient", GLASS_LOSS,
           "if gcfg.stopgrad_graph:", "if not gcfg.stopgrad_graph:"),
    *_same("glass.py", "lambda-tmp", "constant", GLASS_LOSS,
           "gcfg.lambda_tmp * tmp", "0.5 * gcfg.lambda_tmp * tmp"),
    *_twin("structural_entropy.py", "log-eps", "constant", SE,
           ("return jnp.log2(_clamp(x, eps, 1.0))", "return jnp.log2(_clamp(x, 1e3 * eps, 1.0))"),
           ("return torch.log2(_clamp(x, eps, 1.0))", "return torch.log2(_clamp(x, 1e3 * eps, 1.0))")),
    *_twin("structural_entropy.py", "degree-axis", "reduction", SE,
           ("d = A.sum(axis=-1)", "d = A.sum(axis=0)"),
           ("d = A.sum(dim=-1)", "d = A.sum(dim=0)")),
    *_same("structural_entropy.py", "volume-term-sign", "swapped", SE,
           "+ _h1(A, eps) + (v * log_v).sum()", "+ _h1(A, eps) - (v * log_v).sum()"),
]

_ENV_MUTANTS = [
    *_twin("env.py", "episode-end", "off-by-one", EPISODES,
           ("done = t >= self.episode_length", "done = t > self.episode_length"),
           ("truncated = self._t >= self.episode_length", "truncated = self._t > self.episode_length")),
    _m("jax", "env.py", "auto-reset-swapped", "swapped",
       "lambda: self._playground_reset(sub), lambda: stepped)", "lambda: stepped, lambda: self._playground_reset(sub))",
       EPISODES),
    _m("jax", "env.py", "no-kinematics-sync", "dropped-term",
       "return sync_kinematics(self.mjx_model, data)", "return data", ENV_STEP),
    _m("jax", "env.py", "ctrl-sign", "swapped",
       "return self._center + self._half * _f32(action)", "return self._center - self._half * _f32(action)",
       ENV_STEP),
    _m("jax", "env.py", "ctrl-centre", "dropped-term",
       "return self._center + self._half * _f32(action)", "return self._half * _f32(action)", ENV_CTRL),
    _m("torch", "env.py", "reset-step-count", "off-by-one", "self._t = 0", "self._t = 1", EPISODES),
    _m("torch", "env.py", "obs-order", "swapped",
       "for v in obs.values()]", "for v in reversed(obs.values())]", ENV_FNS),
]

# the tasks' own code: the official custom rewards, dm_control's starts, the jax backend's own envs and
# observation maps (each killed by its task's parametrisation of a default-suite parity test)
_TASK_MUTANTS = [
    _m("jax", "custom_tasks.py", "backwards-bound-sign", "swapped",
       "return _linear(_torso_vx(pg_env, data), (-INF, -speed), speed, 0.0)",
       "return _linear(_torso_vx(pg_env, data), (-INF, speed), speed, 0.0)", _ids(TASK_FNS, "cheetah-run-backwards")),
    _m("jax", "custom_tasks.py", "run-front-foot", "swapped",
       'cheetah_run_one_foot_reward(e, d, "bfoot"', 'cheetah_run_one_foot_reward(e, d, "ffoot"',
       _ids(TASK_FNS, "cheetah-run-front")),
    _m("jax", "custom_tasks.py", "walker-speed-margin", "constant",
       "(-INF, -speed), speed / 2, 0.5)", "(-INF, -speed), speed, 0.5)", _ids(TASK_FNS, "walker-walk-backwards")),
    _m("jax", "custom_tasks.py", "cup-ball-size", "dropped-term",
       "< pg_env._target_size - pg_env._ball_size", "< pg_env._target_size", _ids(TASK_FNS, "cup-spin")),
    _m("torch", "custom_tasks.py", "cup-spin-distance", "constant",
       "_CUP_SPIN_DISTANCE, _CUP_SPIN_SPEED = 0.5, 6.0", "_CUP_SPIN_DISTANCE, _CUP_SPIN_SPEED = 0.6, 6.0",
       _ids(TASK_FNS, "cup-spin")),
    _m("torch", "custom_tasks.py", "hopper-backwards-sign", "swapped",
       "(-INF, -_HOPPER_HOP_SPEED / 2)", "(_HOPPER_HOP_SPEED / 2, INF)", _ids(TASK_FNS, "hopper-hop-backwards")),
    _m("jax", "initial_states.py", "pendulum-half-circle", "constant",
       "minval=-jnp.pi, maxval=jnp.pi)))", "minval=0.0, maxval=jnp.pi)))", _ids(STARTS, "pendulum-swingup")),
    _m("jax", "initial_states.py", "swingup-pole-up", "dropped-term",
       "jnp.pi + 0.01 * jax.random.normal(k2, ())", "0.01 * jax.random.normal(k2, ())",
       _ids(STARTS, "cartpole-swingup")),
    _m("jax", "initial_states.py", "cup-spin-anywhere", "constant",
       "jax.random.uniform(k_anywhere, ()) < 0.1", "jax.random.uniform(k_anywhere, ()) < 0.5",
       _ids(STARTS, "cup-spin")),
    _m("jax", "initial_states.py", "no-redraw", "constant",
       "lambda c: ~c[3] & (c[2] < MAX_DRAWS)", "lambda c: ~c[3] & (c[2] < 1)", _ids(STARTS, "finger-turn-easy")),
    _m("jax", "env.py", "pendulum-obs-order", "swapped",
       '"PendulumSwingup": _reorder([1, 0, 2])', '"PendulumSwingup": _reorder([0, 1, 2])',
       _ids(TASK_FNS, "pendulum-swingup")),
    _m("jax", "quadruped.py", "force-arcsinh", "dropped-term",
       "jnp.arcsinh(data.sensordata[self._force_torque])", "data.sensordata[self._force_torque]",
       _ids(TASK_FNS, "quadruped-walk")),
    _m("jax", "quadruped.py", "move-margin", "constant",
       "margin=self._desired_speed, value_at_margin=0.5", "margin=2 * self._desired_speed, value_at_margin=0.5",
       _ids(TASK_FNS, "quadruped-run")),
    _m("jax", "reacher_three.py", "target-radius", "constant",
       "minval=0.05, maxval=0.20)", "minval=0.05, maxval=0.25)", _ids(STARTS, "reacher-three-hard")),
]

# the random wrappers: one wrong distribution per noise kind and per buffer bound, in each backend's wrapper
# (killed by tests/test_random_draws.py, not by parity: the parity tests feed both backends the same noise)
_NOISE_MUTANTS = [
    _m("jax", "noise.py", "normal-scale", "constant", "jax.random.normal(k, spec.shape, dtype)",
       "1.1 * jax.random.normal(k, spec.shape, dtype)", _ids(CONTINUOUS, "jax")),
    _m("torch", "noise.py", "normal-scale", "constant", "torch.randn(spec.shape,", "1.1 * torch.randn(spec.shape,",
       _ids(CONTINUOUS, "torch")),
    _m("jax", "noise.py", "gumbel-sign", "dropped-term", "-jnp.log(jax.random.exponential(",
       "jnp.log(jax.random.exponential(", _ids(CONTINUOUS, "jax")),
    _m("torch", "noise.py", "gumbel-sign", "dropped-term", "out[name] = -e.log()", "out[name] = e.log()",
       _ids(CONTINUOUS, "torch")),
    _m("jax", "noise.py", "uniform-low", "constant", "dtype, -1.0, 1.0)", "dtype, 0.0, 1.0)", _ids(CONTINUOUS, "jax")),
    _m("torch", "noise.py", "uniform-low", "dropped-term", "dtype=dtype) * 2 - 1", "dtype=dtype)",
       _ids(CONTINUOUS, "torch")),
    _m("jax", "noise.py", "keep-rate", "constant", "dtype) >= cfg.dropout)", "dtype) >= 2 * cfg.dropout)",
       _ids(KEEP, "jax")),
    _m("torch", "noise.py", "keep-rate", "constant", "(u >= cfg.dropout)", "(u >= 2 * cfg.dropout)",
       _ids(KEEP, "torch")),
    _m("jax", "noise.py", "pair-fixed-heads", "constant", "jax.random.permutation(k, num_q)[:2]",
       "jnp.arange(num_q)[:2]", _ids(PAIR, "jax")),
    _m("torch", "noise.py", "pair-first-two-heads", "swapped", "u.argsort(dim=1)[:, :2]", "u[:, :2].argsort(dim=1)",
       _ids(PAIR, "torch")),
    _m("jax", "noise.py", "index-low", "off-by-one", "jax.random.randint(k, spec.shape, 0,",
       "jax.random.randint(k, spec.shape, 1,", _ids(INDEX, "jax")),
    _m("torch", "noise.py", "index-high", "off-by-one", "torch.randint(0, high, spec.shape",
       "torch.randint(0, high - 1, spec.shape", _ids(INDEX, "torch")),
    _m("jax", "buffer.py", "never-newest-episode", "off-by-one", "jnp.maximum(self.num_episodes(state), 1))",
       "jnp.maximum(self.num_episodes(state) - self.n_envs, 1))", _ids(BUFFER_DRAWS, "5-jax", "2-jax")),
    _m("torch", "buffer.py", "never-newest-episode", "off-by-one", "buffer_noise(self.cfg, self.num_episodes)",
       "buffer_noise(self.cfg, self.num_episodes - self.n_envs)", _ids(BUFFER_DRAWS, "5-torch", "2-torch")),
    _m("jax", "buffer.py", "never-last-start", "off-by-one", 'int(specs["start"].kind[6:]))',
       'int(specs["start"].kind[6:]) - 1)', _ids(BUFFER_DRAWS, "5-jax", "2-jax")),
    _m("torch", "buffer.py", "never-last-start", "off-by-one", 'self.sample_core(idx["episode"], idx["start"])',
       'self.sample_core(idx["episode"], idx["start"] % (self.cfg.episode_length - self.cfg.horizon))',
       _ids(BUFFER_DRAWS, "5-torch", "2-torch")),
    _m("jax", "train.py", "seed-actions-low", "constant", "self.dtype, -1.0, 1.0)", "self.dtype, 0.0, 1.0)",
       SEED_ACTIONS_JAX),
]

MUTANTS: tuple[Mutant, ...] = tuple(
    _MATH_MUTANTS + _LAYER_MUTANTS + _WORLD_MODEL_MUTANTS + _SCALE_MUTANTS + _PLANNER_MUTANTS + _AGENT_MUTANTS
    + _BUFFER_MUTANTS + _GLASS_MUTANTS + _ENV_MUTANTS + _TASK_MUTANTS + _NOISE_MUTANTS
)


# ----------------------------------------------------------------------------------------------------------
# Pure parts: selection, applying, line numbers, outcome parsing, rendering
# ----------------------------------------------------------------------------------------------------------


def select(mutants: Sequence[Mutant], backend: str = "both", only: Iterable[str] = ()) -> list[Mutant]:
    """Mutants of `backend` ("jax", "torch", "both"), restricted to the ids in `only` when given."""
    wanted = [i for i in only if i]
    known = {m.id for m in mutants}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise MutantError(f"unknown mutant id(s): {', '.join(unknown)} (see --list)")
    return [m for m in mutants if (backend == "both" or m.backend == backend) and (not wanted or m.id in wanted)]


def occurrences(m: Mutant, root: Path) -> int:
    return (root / m.path).read_text().count(m.old)


def check_applicable(mutants: Iterable[Mutant], root: Path) -> None:
    """Raise MutantError naming every mutant whose `old` does not occur exactly once in its file."""
    bad = []
    for m in mutants:
        if not (root / m.path).is_file():
            bad.append(f"{m.id}: {m.path} does not exist")
        elif (n := occurrences(m, root)) != 1:
            bad.append(f"{m.id}: `old` occurs {n} times in {m.path} (must be exactly once): {m.old!r}")
    if bad:
        raise MutantError("mutants that cannot be applied:\n  " + "\n  ".join(bad))


def apply_mutant(m: Mutant, tree: Path) -> None:
    """Replace `old` by `new` in the copy `tree`; MutantError unless `old` occurs exactly once."""
    f = tree / m.path
    text = f.read_text()
    n = text.count(m.old)
    if n != 1:
        raise MutantError(f"{m.id}: `old` occurs {n} times in {m.path} (must be exactly once): {m.old!r}")
    f.write_text(text.replace(m.old, m.new, 1))


def line_of(m: Mutant, root: Path) -> int | None:
    """1-based line number of `old` in the (unmutated) file under `root`, None if not found."""
    path = root / m.path
    if not path.is_file():
        return None
    text = path.read_text()
    i = text.find(m.old)
    return None if i < 0 else text.count("\n", 0, i) + 1


_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$", re.MULTILINE)


def first_failure(output: str) -> tuple[str | None, str]:
    """(node id, message) of the first FAILED line of pytest's short summary (else the first ERROR line,
    as "ERROR <nodeid>"), (None, "") when there is none."""
    found = _SUMMARY.findall(output)
    for kind in ("FAILED", "ERROR"):
        for k, node, msg in found:
            if k == kind:
                return (node if kind == "FAILED" else f"ERROR {node}"), msg.strip()
    return None, ""


def classify(returncode: int | None, output: str, equivalent: str | None) -> tuple[str, str | None, str]:
    """(result, killing test, detail) from pytest's exit code (None = timed out) and output."""
    if returncode is None:
        return "timeout", None, ""
    if returncode == 1:
        node, msg = first_failure(output)
        return "killed", node or "(no FAILED line)", msg
    if returncode == 0:
        return ("equivalent" if equivalent else "survived"), None, ""
    tail = [ln for ln in output.strip().splitlines() if ln.strip()][-1:] or [""]
    return "error", None, f"pytest exit code {returncode}: {tail[0][:200]}"


def shorten_mutation(old: str, new: str, width: int = 56, context: int = 14) -> tuple[str, str]:
    """`old` and `new` for display: whole when both fit in `width`, else cut to the changed part with `context`
    characters around it, each at most `width`."""
    if len(old.strip()) <= width and len(new.strip()) <= width:
        return old.strip(), new.strip()
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    start = max(0, p - context)

    def cut(text: str) -> str:
        end = len(text) - max(0, s - context)
        out = ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")
        return out if len(out) <= width else out[: width - 1] + "…"

    return cut(old), cut(new)


def _code(text: str) -> str:
    if not text:
        return "(nothing)"
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def mutation_cell(m: Mutant) -> str:
    old, new = shorten_mutation(m.old, m.new)
    return f"{_code(old)} → {_code(new)}"


def explanation(m: Mutant, row: dict[str, Any]) -> str:
    if row["result"] == "equivalent":
        return f"equivalent: {m.equivalent}"
    if row["result"] == "survived":
        return "SURVIVED — needs a test"
    return f"{row['result']}: {row.get('detail') or 'see mutation.json'}"


def counts(mutants: Sequence[Mutant], rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{backend: {result: n, "mutants": n, "not run": n}} for both backends and "total"."""
    table: dict[str, dict[str, int]] = {}
    for b in (*BACKENDS, "total"):
        ms = [m for m in mutants if b in ("total", m.backend)]
        c = {"mutants": len(ms), **dict.fromkeys(RESULTS, 0), "not run": 0}
        for m in ms:
            c[rows[m.id]["result"] if m.id in rows else "not run"] += 1
        table[b] = c
    return table


def render_markdown(mutants: Sequence[Mutant], store: dict[str, Any], root: Path) -> str:
    """The report: last run's command/date/machine, counts per backend, all rows, the survivors."""
    rows: dict[str, dict[str, Any]] = store.get("results", {})
    runs = store.get("runs", [])
    last = runs[-1] if runs else {}
    by_id = {m.id: m for m in mutants}
    lines = ["# Mutation testing of the parity suite", "",
             "Each mutant is one deliberate bug in one backend (`parity/mutants.py`); killed = a test it names failed "
             "(a parity test; for the random wrappers, which parity cannot compare, a distribution test of "
             "`tests/test_random_draws.py`).",
             "", f"- Command: `{last.get('command', '?')}`", f"- Date: {last.get('date', '?')}",
             f"- Machine: {last.get('machine', '?')}"]
    older = sum(1 for r in rows.values() if last and r.get("run") != last.get("date"))
    if older:
        lines.append(f"- {older} row(s) come from earlier runs (their dates are in the JSON beside this file).")
    lines += ["", "## Counts", "", "| backend | mutants | killed | survived | equivalent | error | timeout | not run |",
              "|---|---|---|---|---|---|---|---|"]
    for b, c in counts(mutants, rows).items():
        lines.append(f"| {b} | {c['mutants']} | " + " | ".join(str(c[k]) for k in (*RESULTS, "not run")) + " |")
    lines += ["", "## Mutants run", "", "| id | backend | file:line | kind | mutation | result | killing test | s |",
              "|---|---|---|---|---|---|---|---|"]
    for m in mutants:
        if m.id in rows:
            r = rows[m.id]
            line = line_of(m, root)
            lines.append(f"| {m.id} | {m.backend} | {m.path}:{line} | {m.kind} | {mutation_cell(m)} | {r['result']} "
                         f"| {_code(r['killing_test']) if r.get('killing_test') else '—'} | {r['seconds']:.0f} |")
    not_killed = [(by_id[i], r) for i, r in rows.items() if i in by_id and r["result"] != "killed"]
    lines += ["", "## Survivors and other non-kills", ""]
    if not not_killed:
        lines.append("None: every mutant run was killed.")
    else:
        lines += ["| id | backend | file:line | mutation | result | explanation |", "|---|---|---|---|---|---|"]
        for m, r in sorted(not_killed, key=lambda mr: [x.id for x in mutants].index(mr[0].id)):
            lines.append(f"| {m.id} | {m.backend} | {m.path}:{line_of(m, root)} | {mutation_cell(m)} | {r['result']} "
                         f"| {explanation(m, r).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def load_store(path: Path, mutants: Sequence[Mutant]) -> dict[str, Any]:
    """The JSON results; rows of mutants that no longer exist or whose definition changed are dropped."""
    if not path.is_file():
        return {"runs": [], "results": {}}
    store = json.loads(path.read_text())
    current = {m.id: m for m in mutants}
    store["results"] = {i: r for i, r in store.get("results", {}).items()
                        if i in current and r.get("mutant") == _definition(current[i])}
    return store


def _definition(m: Mutant) -> dict[str, Any]:
    d = asdict(m)
    d["tests"] = list(d["tests"])
    return d


# ----------------------------------------------------------------------------------------------------------
# Running: snapshot, copy, mutate, pytest
# ----------------------------------------------------------------------------------------------------------


def source_files(root: Path) -> list[str]:
    """Tracked files plus untracked, non-ignored ones (`git ls-files`), relative to `root`."""
    files: set[str] = set()
    for extra in ((), ("--others", "--exclude-standard")):
        out = subprocess.run(["git", "ls-files", "-z", *extra], cwd=root, capture_output=True, check=True).stdout
        files.update(p for p in out.decode().split("\0") if p)
    return sorted(files)


def copy_sources(root: Path, dest: Path, files: Iterable[str]) -> None:
    """Copy `files` (paths relative to `root`) into `dest`; tracked files deleted from the work tree are skipped."""
    for rel in files:
        src, dst = root / rel, dest / rel
        if src.is_symlink():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dst)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def subprocess_env(tree: Path) -> dict[str, str]:
    env = child_pytest_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MUJOCO_GL", "disable")
    env["COLUMNS"] = "400"  # pytest cuts the short-summary message to the terminal width (80 without a tty)
    return env


def check_imports_from(tree: Path) -> None:
    """Fail unless the project's packages import from `tree` (not from the editable install's /work tree)."""
    names = list(IMPORT_CHECK)
    code = f"import importlib, json; print(json.dumps({{n: importlib.import_module(n).__file__ for n in {names!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=subprocess_env(tree), capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"import check failed in {tree}:\n{out.stderr[-2000:]}")
    where = json.loads(out.stdout.strip().splitlines()[-1])
    stray = {n: f for n, f in where.items() if not Path(f).resolve().is_relative_to(tree.resolve())}
    if stray:
        raise RuntimeError(f"packages import from outside the copy {tree}: {stray}")


_RUNNING: set[subprocess.Popen] = set()  # pytest processes started by this tool (own process groups)
_RUNNING_LOCK = threading.Lock()


def _kill_group(proc: subprocess.Popen) -> None:
    """End a pytest this tool started (and anything it started), by its process group id."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_running() -> None:
    with _RUNNING_LOCK:
        for proc in list(_RUNNING):
            _kill_group(proc)


def run_pytest(tree: Path, tests: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """(exit code or None on timeout, combined output) of pytest on `tests` in `tree`."""
    cmd = [sys.executable, "-m", "pytest", *tests, *PYTEST_FLAGS]
    proc = subprocess.Popen(cmd, cwd=tree, env=subprocess_env(tree), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        return None, out
    finally:
        _kill_group(proc)  # only if still running (an interrupt)
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)


@dataclass
class Outcome:
    id: str
    backend: str
    result: str
    killing_test: str | None
    detail: str
    seconds: float
    returncode: int | None
    tail: str


def run_mutant(m: Mutant | None, snapshot: Path, tests: Sequence[str], timeout: float) -> Outcome:
    """Copy the snapshot, apply `m` (None: the baseline), run `tests` there; the copy is removed afterwards."""
    name, backend = (m.id, m.backend) if m else ("baseline", "-")
    work = Path(tempfile.mkdtemp(prefix=f"mutant-{name}-"))
    tree = work / "repo"
    t0 = time.monotonic()
    try:
        shutil.copytree(snapshot, tree, symlinks=True)
        if m is not None:
            apply_mutant(m, tree)
        check_imports_from(tree)
        t0 = time.monotonic()
        rc, out = run_pytest(tree, tests, timeout)
    except (MutantError, RuntimeError, OSError, subprocess.SubprocessError) as exc:  # setup, not a test result
        return Outcome(name, backend, "error", None, f"{type(exc).__name__}: {exc}"[:300], time.monotonic() - t0,
                       None, "")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - t0
    result, killer, detail = classify(rc, out, m.equivalent if m else None)
    tail = "" if result == "killed" else out[-3000:]
    return Outcome(name, backend, result, killer, detail[:300], seconds, rc, tail)


def machine_description() -> str:
    from tdmpc_parity.core.machine import cpu_info, load_average

    cpu = cpu_info()
    load = load_average()
    return (f"{platform.platform()}, Python {platform.python_version()}, {cpu['cpu_model']}, "
            f"{cpu['cpu_logical_cores']} logical CPUs" + (f", load average {load}" if load else ""))


class Recorder:
    """Writes every finished mutant into the JSON store and re-renders the markdown (atomically, thread-safe)."""

    def __init__(self, out_md: Path, mutants: Sequence[Mutant], run_info: dict[str, str], root: Path):
        self.out_md, self.out_json = out_md, out_md.with_suffix(".json")
        self.mutants, self.root = mutants, root
        self.store = load_store(self.out_json, mutants)
        self.store["runs"].append(run_info)
        self.run_date = run_info["date"]
        self.lock = threading.Lock()

    def record(self, m: Mutant, o: Outcome) -> None:
        with self.lock:
            self.store["results"][m.id] = {
                "result": o.result, "killing_test": o.killing_test, "detail": o.detail, "seconds": round(o.seconds, 1),
                "returncode": o.returncode, "run": self.run_date, "tail": o.tail, "mutant": _definition(m),
            }
            self.flush()

    def flush(self) -> None:
        atomic_write_text(self.out_json, json.dumps(self.store, indent=1, sort_keys=True) + "\n")
        atomic_write_text(self.out_md, render_markdown(self.mutants, self.store, self.root))


def list_mutants(mutants: Sequence[Mutant], root: Path) -> None:
    for m in mutants:
        old, new = shorten_mutation(m.old, m.new, width=44)
        eq = "  [equivalent]" if m.equivalent else ""
        print(f"{m.id:<40} {m.kind:<13} {m.path}:{line_of(m, root)}  {old!r} -> {new!r}  "
              f"({len(m.tests)} test id(s)){eq}")
    by = {b: sum(m.backend == b for m in mutants) for b in BACKENDS}
    print(f"{len(mutants)} mutants: " + ", ".join(f"{n} {b}" for b, n in by.items()))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m parity.mutants", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("jax", "torch", "both"), default="both")
    p.add_argument("--only", action="append", default=[], metavar="ID[,ID...]", help="run only these mutant ids")
    p.add_argument("--list", action="store_true", help="print the selected mutants and exit")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report (JSON beside it)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per mutant's pytest run")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at the same time")
    p.add_argument("--skip-equivalent", action="store_true", help="do not run mutants marked equivalent")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    only = [i.strip() for chunk in args.only for i in chunk.split(",")]
    try:
        chosen = select(MUTANTS, args.backend, only)
        if args.skip_equivalent:
            chosen = [m for m in chosen if not m.equivalent]
        if args.list:
            list_mutants(chosen, ROOT)
            return 0
        if not chosen:
            raise MutantError("no mutant selected")
        if args.jobs < 1:
            raise MutantError("--jobs must be >= 1")
        return run(chosen, args, argv)
    except MutantError as exc:
        print(f"parity.mutants: {exc}", file=sys.stderr, flush=True)
        return 2


def run(chosen: list[Mutant], args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    shown = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    info = {"command": f"python -m parity.mutants {shown}".strip(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_description()}
    with tempfile.TemporaryDirectory(prefix="mutants-snapshot-") as tmp:
        snapshot = Path(tmp) / "repo"
        copy_sources(ROOT, snapshot, source_files(ROOT))
        check_applicable(chosen, snapshot)
        print(f"{len(chosen)} mutant(s); baseline: {' '.join(chosen[0].tests)}", flush=True)
        base = run_mutant(None, snapshot, chosen[0].tests, args.timeout)
        if base.returncode != 0:
            print(f"baseline FAILED ({base.result}, exit code {base.returncode}, {base.seconds:.0f} s): the parity "
                  f"tests do not pass unmutated; aborting.\n{base.tail}", file=sys.stderr, flush=True)
            return 2
        print(f"baseline passed in {base.seconds:.0f} s", flush=True)
        rec = Recorder(args.out.resolve(), MUTANTS, info, snapshot)
        rec.flush()
        bad = 0
        pool = ThreadPoolExecutor(max_workers=args.jobs)
        try:
            futures = {pool.submit(run_mutant, m, snapshot, m.tests, args.timeout): m for m in chosen}
            for n, fut in enumerate(as_completed(futures), 1):
                m, o = futures[fut], fut.result()
                rec.record(m, o)
                bad += o.result not in ("killed", "equivalent")
                note = o.killing_test or o.detail or ""
                print(f"[{n}/{len(chosen)}] {m.id:<40} {o.result:<10} {note:<70} {o.seconds:6.0f} s", flush=True)
        except BaseException:  # Ctrl-C or a bug: stop the queue and the pytest runs this tool started
            pool.shutdown(wait=False, cancel_futures=True)
            kill_running()
            raise
        pool.shutdown()
    print(f"wrote {rec.out_md} and {rec.out_json}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
