"""Where a JAX training iteration's time goes: the component programs of the compiled iteration, timed apart.

The trainer runs a whole episode of iterations as one compiled program (`Programs.train_chunk`), so its
stages cannot be timed from the host inside it. Each stage is compiled as its own program on the same state
(seed axis of 1, as the trainer) and timed warm; the chunk itself gives the real seconds per iteration:
  act     planning/acting: `TDMPC2.act` (MPPI or the `policy` collector) for the n_envs observations
  env     physics: `MJXEnv.step_batch` (action_repeat control steps of every env, no reset)
  buffer  `Buffer.add` once and `Buffer.sample` `updates_per_iteration` times
  update  `TDMPC2.update` `updates_per_iteration` times on a sampled batch
The chunk's iteration differs from the stages' sum by what XLA fuses or overlaps across stages and by the
per-program launch costs the separate programs pay (`other` in the table, negative when fusion wins).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jax_impl.train import Clock, Programs
from tdmpc_parity.core.config import Config
from tdmpc_parity.core.profile_stages import STAGES


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(first call incl. compile, median of `repeats` warm calls), in seconds."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        warm.append(time.perf_counter() - start)
    warm.sort()
    return first, warm[len(warm) // 2]


def profile(cfg: Config, iterations: int, progress: bool = True) -> dict[str, Any]:
    """Seconds per training iteration by stage, and of the compiled chunk's iteration (one seed)."""
    from tqdm import tqdm

    p = Programs(cfg)
    L, upi = cfg.episode_length, cfg.updates_per_iteration
    say = tqdm.write if progress else (lambda _: None)
    say("jax: compiling and running the seed phase...")
    state = p.init(jnp.asarray([cfg.seed], jnp.uint32))
    clock = Clock(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    for _ in range(cfg.seed_iterations // L):
        state, _ = p.seed_chunk(state, clock)
        clock = Clock(clock.iteration + L, clock.num_updates)
    ts = jax.tree.map(lambda x: x[0], state)
    env_steps = jnp.asarray(cfg.seed_iterations * cfg.n_envs * cfg.action_repeat, jnp.int32)
    t0 = jnp.zeros((cfg.n_envs,), bool)

    act = jax.jit(lambda ts: p.agent.act(ts.agent, ts.env.obs, t0))
    _, action = act(ts)
    step = jax.jit(lambda env, a: p.env.step_batch(env, a, reset=False))
    _, tr = step(ts.env, action)
    add = jax.jit(p.buffer.add)
    sample = jax.jit(p.buffer.sample)
    batch = sample(ts.buffer, ts.key)
    update = jax.jit(lambda agent, batch: p.agent.update(agent, batch, env_steps))

    def buffer_stage() -> Any:
        out = [add(ts.buffer, tr.next_obs, action, tr.reward)]
        out += [sample(ts.buffer, jax.random.fold_in(ts.key, i)) for i in range(upi)]
        return out

    stages: dict[str, Callable[[], Any]] = {
        "act": lambda: act(ts),
        "env": lambda: step(ts.env, action),
        "buffer": buffer_stage,
        "update": lambda: [update(ts.agent, batch) for _ in range(upi)],
    }
    stage_seconds, compile_seconds = {}, {}
    for name in tqdm(STAGES, desc="jax: stages (compile + time)", leave=False, disable=not progress):
        compile_seconds[name], stage_seconds[name] = _timed(stages[name], iterations)
    say("jax: compiling the training chunk (one episode of iterations)...")
    chunks = {"state": state}

    def chunk() -> Any:
        chunks["state"], out = p.train_chunk(chunks["state"], clock)
        return out

    compile_seconds["train_chunk"], chunk_seconds = _timed(chunk, max(1, -(-iterations // L)))
    return {"backend": "jax", "device": str(jax.devices()[0]), "iterations": iterations,
            "stage_seconds": stage_seconds, "iteration_seconds": chunk_seconds / L,
            "compile_seconds": compile_seconds}
