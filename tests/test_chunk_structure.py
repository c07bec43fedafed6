"""The compiled training chunk does no work the algorithm does not need.

Under the seed vmap, a `lax.cond` whose predicate depends on the (batched) state becomes a select computing both
branches: a full Playground reset for every env and a replay-buffer copy at every iteration. The trainer's chunks
start at an episode start, so their episode end is static: the scan of iterations must hold no reset at all, and
the one reset of the episode sits after it. Found by the named scopes `playground_reset` / `buffer_add_reset`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl.train import Clock, Programs
from tests.train_helpers import tiny_config

RESETS = ("playground_reset", "buffer_add_reset")


def _sub_jaxprs(value):
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _sub_jaxprs(v)


def reset_counts(jaxpr, scan_length: int) -> tuple[int, int]:
    """(reset equations inside the scans of `scan_length` iterations, reset equations elsewhere)."""
    inside = outside = 0

    def walk(jx, in_chunk_scan: bool) -> None:
        nonlocal inside, outside
        for eqn in jx.eqns:
            if any(name in str(eqn.source_info.name_stack) for name in RESETS):
                if in_chunk_scan:
                    inside += 1
                else:
                    outside += 1
            is_chunk = eqn.primitive.name == "scan" and eqn.params.get("length") == scan_length
            for value in eqn.params.values():
                for sub in _sub_jaxprs(value):
                    walk(sub, in_chunk_scan or is_chunk)

    walk(jaxpr.jaxpr, False)
    return inside, outside


@pytest.fixture(scope="module")
def programs() -> Programs:
    # a fresh (uncached) Programs: tracing here must not count as a retrace of the training tests' programs
    return Programs(tiny_config("jax", 250, "n_envs=2", "updates_per_step=0.5"))


def _abstract_state(programs: Programs, seeds: int):
    return jax.eval_shape(programs.init, jnp.zeros((seeds,), jnp.uint32))


def test_trainer_chunk_has_no_reset_in_its_iteration_scan(programs: Programs):
    L = programs.cfg.episode_length
    state = _abstract_state(programs, 2)
    clock = Clock(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    inside, outside = reset_counts(jax.make_jaxpr(programs.train_chunk)(state, clock), L - 1)
    assert inside == 0, f"{inside} reset equations in the per-iteration body"
    assert outside > 0  # the episode's one reset, after the scan
    # the run-time decision (end=None) under the seed vmap: the resets sit in the body (this test can fail)
    dynamic = jax.vmap(lambda ts, c: programs.run_iterations(ts, L, True, c), in_axes=(0, None))
    inside, _ = reset_counts(jax.make_jaxpr(dynamic)(state, clock), L)
    assert inside > 0


@pytest.mark.slow  # 4 compiles of the env scan, ~85 s on 2 cores; tests/test_branch_parity.py checks
# step_batch(reset=True/False) against the guarded step in the default suite
def test_static_episode_end_equals_the_run_time_decision(programs: Programs):
    """Same numbers: the static episode end changes no value. Seed-phase chunks (the reset logic of the train
    chunks without compiling MPPI and the updates again): half an episode that does not end it (ends=False),
    then the half that does (ends=True), twice, against the same halves decided at run time."""
    L = programs.cfg.episode_length
    halves = (L // 2, L - L // 2)
    clock = Clock(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    results = []
    for static in (True, False):
        fns = [jax.jit(jax.vmap(lambda ts, c, n=n, e=e: programs.run_iterations(ts, n, True, c, ends=e),
                                in_axes=(0, None)))
               for n, e in zip(halves, (False, True) if static else (None, None), strict=True)]
        state = programs.init(jnp.asarray([1, 2], jnp.uint32))
        outs = []
        for _ in range(2):  # two episodes: the second starts from the first's reset
            for fn in fns:
                state, out = fn(state, clock)
                outs.append(out)
        results.append(jax.device_get((state, outs)))
    for got, want in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1]), strict=True):
        np.testing.assert_array_equal(got, want)
