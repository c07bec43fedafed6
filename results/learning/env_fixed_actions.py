"""Is the env the cause of a backend difference? cartpole-balance returns under fixed action sequences.

The same action sequences (zeros; uniform in [-1, 1], one sequence per episode) drive N episodes of the torch
backend's env (dm_control) and of the JAX backend's env (Playground/MJX), each from its own reset distribution;
prints the mean return +- its standard error per env, and the mean/std of the initial observations.

    python results/learning/env_fixed_actions.py [N]   (default 200 episodes)
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from jax_impl.env import make_env
from tdmpc_parity.core.config import load_config
from torch_ref.env import make_vector_env


def main(n: int) -> None:
    cfg = load_config("official", "tiny", ["task=cartpole-balance"])
    steps = cfg.episode_length
    rng = np.random.default_rng(0)
    sequences = {"zero": np.zeros((steps, n, cfg.action_dim), np.float32),
                 "uniform": rng.uniform(-1, 1, (steps, n, cfg.action_dim)).astype(np.float32)}
    dm_env = make_vector_env(cfg, n, 123)
    mjx_env = make_env(cfg)
    step = jax.jit(lambda s, a: mjx_env.step_batch(s, a, reset=False))
    for name, actions in sequences.items():
        obs, _ = dm_env.reset()
        first_dm, ret_dm = obs.copy(), np.zeros(n)
        for t in range(steps):
            obs, reward, *_ = dm_env.step(actions[t])
            ret_dm += reward
        state = mjx_env.reset_batch(jax.random.PRNGKey(123), n)
        first_mjx, ret_mjx = np.asarray(state.obs), np.zeros(n)
        for t in range(steps):
            state, tr = step(state, jnp.asarray(actions[t]))
            ret_mjx += np.asarray(tr.reward)
        sem = lambda x: x.std(ddof=1) / np.sqrt(len(x))  # noqa: E731
        print(f"{name} actions, {n} episodes: dm_control {ret_dm.mean():.1f} +- {sem(ret_dm):.1f}, "
              f"Playground {ret_mjx.mean():.1f} +- {sem(ret_mjx):.1f}")
    print("initial observation mean / std, dm_control:", first_dm.mean(0).round(3), first_dm.std(0).round(3))
    print("initial observation mean / std, Playground:", first_mjx.mean(0).round(3), first_mjx.std(0).round(3))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
