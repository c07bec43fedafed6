"""How often a reacher-easy episode starts with the finger inside the target, in each backend's env.

The untrained agent barely moves the arm (its policy's actions are near 0), so its return is set by how often an
episode starts with the finger already inside the target. This draws N resets of each backend's env (dm_control's
own for torch; the JAX env in the default physics), takes one agent step with a zero action and counts the starts
whose reward is > 0; Fisher's exact test compares the two proportions.
Usage: python results/learning/reacher_start_in_target.py [N]   (default 2000; about a minute on 2 cores)
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jax_impl.env import make_env as make_jax_env
from tdmpc_parity.app.api import load_config
from torch_ref.env import make_env as make_torch_env


def main(n: int) -> None:
    cfg = load_config(task="reacher-easy", backend="jax", config="tiny")
    zero = np.zeros(cfg.action_dim, np.float32)
    torch_env = make_torch_env(cfg, seed=0)
    torch_rewards = []
    for _ in range(n):
        torch_env.reset()
        torch_rewards.append(torch_env.step(zero)[1])
    jax_env = make_jax_env(cfg)
    states = jax_env.reset_batch(jax.random.PRNGKey(0), n)
    _, transition = jax.jit(jax_env.step_batch)(states, jnp.zeros((n, cfg.action_dim)))
    inside = {"torch (dm_control)": np.asarray(torch_rewards) > 0, "jax": np.asarray(transition.reward) > 0}
    for name, hit in inside.items():
        print(f"{name}: the finger starts inside the target in {hit.mean():.4f} of {n} episodes")
    table = [[int(h.sum()), int(n - h.sum())] for h in inside.values()]
    print(f"Fisher's exact test (two-sided): p = {stats.fisher_exact(table)[1]:.3g}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
