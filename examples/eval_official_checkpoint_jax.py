"""Evaluate an official TD-MPC2 checkpoint in the JAX backend.

    python examples/eval_official_checkpoint_jax.py tdmpc2_hopper.pt --task hopper-hop --episodes 10

The checkpoint is a file of the official code (nicklashansen/tdmpc2: its released single-task models or one you
trained with it). It is a torch file, so reading it needs torch installed beside JAX; its weights go through the
canonical format (tdmpc_parity/core/weights.py) into the JAX agent. A model other than the default 5M one needs
`--model-size N` (or `--config` for a custom one such as the shipped `tiny`).
"""

from __future__ import annotations

import argparse

import tdmpc_parity as tp


def main() -> None:
    p = argparse.ArgumentParser(description="Evaluate an official TD-MPC2 checkpoint in the JAX backend.")
    p.add_argument("checkpoint", help="an official TD-MPC2 checkpoint file (.pt)")
    p.add_argument("--task", required=True, help="the checkpoint's task, e.g. hopper-hop")
    p.add_argument("--model-size", type=int, default=None, help="1, 5, 19, 48 or 317 (default: 5)")
    p.add_argument("--config", default=None, help="a config file or a shipped config's name, e.g. tiny")
    p.add_argument("--episode-length", type=int, default=None, help="agent steps per episode (default: the task's)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    settings = {k: v for k, v in (("model_size", args.model_size), ("episode_length", args.episode_length))
                if v is not None}
    agent = tp.load_agent(args.checkpoint, backend="jax", task=args.task, config=args.config, **settings)
    print(f"loaded: {agent.loaded}")

    result = tp.evaluate(agent, episodes=args.episodes, seed=args.seed)
    for i, ret in enumerate(result.returns):
        print(f"episode {i}: return {ret:.2f}")
    print(f"mean return over {len(result.returns)} episode(s): {result.mean:.2f}")


if __name__ == "__main__":
    main()
