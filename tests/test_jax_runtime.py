"""jax_impl/runtime.py: the persistent compilation cache (a second process loads what the first compiled); the
unrolled horizon scans give the numbers of the rolled ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jax_impl.runtime import CACHE_ENV, compilation_cache_dir

REPO = Path(__file__).resolve().parents[1]

# One act program of the tiny agent (compiles in seconds); prints the cache hits JAX reports.
PROGRAM = """
import json, jax, jax.numpy as jnp
hits = []
jax.monitoring.register_event_listener(lambda name, **kw: hits.append(name) if "cache_hits" in name else None)
from tdmpc_parity.core.config import load_config
from jax_impl.agent import TDMPC2
cfg = load_config(yaml_path="tiny", overrides=["task=cartpole-balance", "backend=jax"])
agent = TDMPC2(cfg, n_envs=1)
state = agent.init(jax.random.PRNGKey(0))
act = jax.jit(lambda s, o: agent.act(s, o, jnp.ones((1,), bool)))
jax.block_until_ready(act(state, jnp.zeros((1, cfg.obs_dim))))
print(json.dumps({"hits": len(hits), "dir": jax.config.jax_compilation_cache_dir}))
"""


def _run(cache: str) -> dict:
    env = {**os.environ, CACHE_ENV: cache, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_compiled_programs(tmp_path: Path):
    first = _run(str(tmp_path / "cache"))
    assert first["dir"] == str(tmp_path / "cache") and first["hits"] == 0
    assert any((tmp_path / "cache").iterdir())  # entries written
    assert _run(str(tmp_path / "cache"))["hits"] >= 1  # loaded, not compiled again


def test_cache_dir_from_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv(CACHE_ENV, "off")
    assert compilation_cache_dir() is None
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert compilation_cache_dir() == tmp_path
    monkeypatch.delenv(CACHE_ENV)
    assert compilation_cache_dir().parent == Path.home() / ".cache" / "tdmpc-parity"


def _update_and_act(cfg) -> tuple:
    """A jitted update (Glass on) and an MPPI act of the tiny agent on fixed random inputs, traced now."""
    import jax
    import jax.numpy as jnp

    from jax_impl.agent import TDMPC2

    agent = TDMPC2(cfg, n_envs=2)
    state = agent.init(jax.random.PRNGKey(0))
    H, B = cfg.horizon, cfg.batch_size
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    batch = (jax.random.normal(k[0], (H + 1, B, cfg.obs_dim)), jax.random.uniform(k[1], (H, B, cfg.action_dim)),
             jax.random.normal(k[2], (H, B, 1)))
    new_state, metrics = jax.jit(lambda s, b: agent.update(s, b, glass_active=jnp.asarray(True)))(state, batch)
    _, action = jax.jit(lambda s, o: agent.act(s, o, jnp.asarray([True, False])))(new_state, batch[0][0, :2])
    return jax.device_get((new_state.params, metrics, action))


def test_unrolled_horizon_scans_give_the_same_numbers(monkeypatch):
    """runtime.HORIZON_UNROLL: MPPI (value estimate, policy trajectories) traced with its horizon scans unrolled
    and rolled gives bit-identical actions (and the update, whose rollout stays rolled, identical parameters)."""
    import jax
    import numpy as np

    from jax_impl import runtime
    from tdmpc_parity.core.config import load_config

    cfg = load_config(yaml_path="tiny",
                      overrides=["task=cartpole-balance", "backend=jax", "glass=phase1b", "glass.num_prototypes=8",
                                 "glass.num_clusters=4", "num_samples=64", "batch_size=16"])
    unrolled = _update_and_act(cfg)
    monkeypatch.setattr(runtime, "HORIZON_UNROLL", False)
    rolled = _update_and_act(cfg)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(unrolled), jax.tree.leaves(rolled), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
