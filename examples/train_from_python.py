"""Train a TD-MPC2 agent from Python and print its last evaluation.

    python examples/train_from_python.py                          # torch, cartpole-balance, 2000 agent steps
    python examples/train_from_python.py --backend jax --steps 20000 --run-dir runs/demo

The model is the shipped `tiny` config (a 0.04M-parameter model, 100-step episodes): minutes on a CPU. The run
folder is the one `tdmpc-parity train` writes: `tdmpc-parity eval`, `plot` and `compare` read it.
"""

from __future__ import annotations

import argparse

import tdmpc_parity as tp


def main() -> None:
    p = argparse.ArgumentParser(description="Train a TD-MPC2 agent from Python.")
    p.add_argument("--backend", default="torch", choices=("torch", "jax"))
    p.add_argument("--task", default="cartpole-balance", help="`tdmpc-parity tasks` lists them")
    p.add_argument("--steps", type=int, default=2000, help="agent steps to train")
    p.add_argument("--episode-length", type=int, default=100, help="agent steps per episode")
    p.add_argument("--eval-freq", type=int, default=500, help="agent steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=2, help="episodes per evaluation")
    p.add_argument("--run-dir", default=None, help="the run folder (default: runs/<task>-<backend>-s1-<time>)")
    args = p.parse_args()

    cfg = tp.load_config(task=args.task, backend=args.backend, config="tiny", episode_length=args.episode_length,
                         eval_freq=args.eval_freq, eval_episodes=args.eval_episodes)
    run = tp.train(cfg, run_dir=args.run_dir, steps=args.steps, progress=True)

    last = run.final_eval  # the last row of the run's eval.csv
    print(f"run folder: {run.run_dir}")
    print(f"final eval: mean return {last.mean_return:.2f} over {cfg.eval_episodes} episode(s) at env step "
          f"{last.env_step} (agent step {last.agent_step})")


if __name__ == "__main__":
    main()
