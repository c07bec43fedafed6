#!/usr/bin/env bash
# The CPU learning study of results/learning/learning.md: cartpole-balance, the shipped `tiny` config (the official
# algorithm and profile with a small model and 100-step episodes), STEPS agent steps (default 10,000 = 20,000 env
# steps), an eval of 10 episodes every 1000 agent steps (step 0 = the untrained agent), seeds 1-5 per backend.
# torch: one process per seed, two at a time, one thread each; JAX: the 5 seeds vmapped in one program. Then
# `compare --official` (results/learning/compare/) and the claims (results/learning/claims.py). A folder that
# already holds a run is extended with `--resume DIR --steps STEPS` (on CPU, N steps + resume to M reproduce an
# uninterrupted M-step run exactly).
# Usage: bash results/learning/run_study.sh [OUT_DIR]   (default results/learning/study; ~30 min on 2 cores)
set -euo pipefail
OUT="${1:-results/learning/study}"
STEPS="${STEPS:-10000}"
SEEDS="1 2 3 4 5"
NEW=(--config tiny task=cartpole-balance eval_freq=1000 eval_episodes=10 save_every=0 logger=none)
mkdir -p "$OUT/logs"
export MUJOCO_GL=disable

train() {  # train DIR BACKEND SEED_FLAGS...: a new run, or the run in DIR extended to STEPS
  local dir=$1 backend=$2; shift 2
  if [ -f "$dir/config.json" ] || [ -f "$dir/seed_1/config.json" ]; then
    tdmpc-parity train --resume "$dir" --steps "$STEPS" --no-progress
  else
    tdmpc-parity train --backend "$backend" "$@" --run-dir "$dir" --steps "$STEPS" --no-progress "${NEW[@]}"
  fi
}
export -f train; export STEPS; export NEW_ARGS="${NEW[*]}"

for s in $SEEDS; do echo "$s"; done | OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 xargs -P 2 -I{} bash -c \
  "NEW=(\$NEW_ARGS); train '$OUT/torch_s{}' torch --seed {} >> '$OUT/logs/torch_s{}.log' 2>&1" &
TORCH=$!
train "$OUT/jax" jax --seeds "$(echo $SEEDS | tr ' ' ',')" >> "$OUT/logs/jax.log" 2>&1
wait "$TORCH"
tdmpc-parity compare "$OUT"/torch_s* "$OUT/jax" --official --out results/learning/compare
python results/learning/claims.py "$OUT"
