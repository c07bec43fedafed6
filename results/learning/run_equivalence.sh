#!/usr/bin/env bash
# An equivalence study of results/learning/equivalence.md: TASK (default cartpole-balance) in the default physics
# (physics=dm_control in both backends), the shipped `tiny` config, STEPS agent steps (default 10,000), an eval of 10
# episodes every 1000 agent steps (step 0 = the untrained agent), SEEDS per backend (default 1-8). The margins
# were declared in results/learning/equivalence_plan.md before any of these runs existed; compare tests both.
# torch: one process per seed, two at a time, one thread each; JAX: all seeds vmapped in one program.
# Usage: TASK=cartpole-balance bash results/learning/run_equivalence.sh [OUT_DIR]
#        (default OUT_DIR results/learning/equivalence/TASK; ~45 min for 8+8 seeds on 2 cores)
set -euo pipefail
TASK="${TASK:-cartpole-balance}"
OUT="${1:-results/learning/equivalence/$TASK}"
STEPS="${STEPS:-10000}"
SEEDS="${SEEDS:-1 2 3 4 5 6 7 8}"
MARGINS="${MARGINS:-10% 5%}"
NEW=(--config tiny "task=$TASK" physics=dm_control eval_freq=1000 eval_episodes=10 save_every=0
     logger=none)
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
for margin in $MARGINS; do
  tdmpc-parity compare "$OUT"/torch_s* "$OUT/jax" --margin "$margin" --out "$OUT/compare_margin_${margin%\%}pct"
done
python results/learning/claims.py "$OUT" > "$OUT/claims.md"
