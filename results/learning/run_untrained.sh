#!/usr/bin/env bash
# The untrained agent's eval return (agent step 0: 10 episodes) in both backends over many seeds, for a step-0
# difference seen in an equivalence study: TASK in the default physics, the shipped `tiny` config, seeds 1..SEEDS
# (default 40). Each run stops after one agent step, so its only eval is the untrained agent's.
# torch: one process per seed; JAX: all seeds vmapped in one program (about 6 minutes for 40 + 40 on 2 cores).
# Usage: TASK=reacher-easy bash results/learning/run_untrained.sh [OUT_DIR]   (then untrained_returns.py OUT_DIR)
set -euo pipefail
TASK="${TASK:-reacher-easy}"
SEEDS="${SEEDS:-40}"
OUT="${1:-results/learning/equivalence/$TASK/untrained}"
COMMON=(--config tiny "task=$TASK" physics=dm_control eval_freq=1000 eval_episodes=10 save_every=0 logger=none
        --steps 1 --no-progress)
export MUJOCO_GL=disable
mkdir -p "$OUT"
tdmpc-parity train --backend jax --seeds "$(seq -s, 1 "$SEEDS")" --run-dir "$OUT/jax" "${COMMON[@]}" > "$OUT/jax.log" 2>&1 &
for s in $(seq 1 "$SEEDS"); do
  OMP_NUM_THREADS=1 tdmpc-parity train --backend torch --seed "$s" --run-dir "$OUT/torch_s$s" "${COMMON[@]}" > /dev/null
done
wait
python results/learning/untrained_returns.py "$OUT" > "$OUT/untrained.md"
