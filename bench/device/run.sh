#!/usr/bin/env bash
# The one-shot GPU run: install the device bundle offline, then facts, smoke and the budgeted benchmark.
#
#   bash bench/device/run.sh [--bundle DIR] [--out DIR] [--target DIR] [--commit ID] [--python PY]
#                            [--profile gpu|cpu] [--stage all|probe|train] [--probe FILE]
#                            [--budget SECONDS] [--case-seconds S] [--total S] [--no-torch] [-- PYTEST_ARGS]
#
# On a GPU lease, two commands (each well inside the 600 s a command may run):
#   --stage probe                 facts, GPU check, smoke, the cheap cases; returns probe.json (about 4-5 min)
#   --stage train --probe FILE    the training cases that the probe's measurements say fit (about 9 min)
#   bash bench/device/run.sh --learning MINUTES [--bundle DIR] [--out DIR] ... [-- DEVICE_LEARNING_ARGS]
#
# --no-torch: a JAX-only run, for the CPU rehearsal whose Python has no torch (.ci/gpu_run_rehearsal.sh): the smoke
# and the benchmark leave torch out, saying so; without it (the GPU machine has torch) a missing torch fails.
# --learning MINUTES: after the install, the learning protocol's shortened mode instead of the benchmark
# (python -m bench.device.learning: hopper-hop, 5 seeds per backend, trained for MINUTES, curves + projection).
#
# Run from anywhere; it works in the repository root. Needs only the bundle (python -m bench.device.bundle),
# never a package index. Everything it writes goes to --out (default $OUT, else device_out/): the log
# (device_run.log, written as it goes, so a killed run still returns it), device_run.json (machine facts,
# smoke and attempts), smoke.json, <machine-slug>/<date>-<commit>.json (pytest-benchmark) and REPORT.md.
set -uo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-python3}
OUT_DIR=${OUT:-device_out}
BUNDLE=.device_bundle
TARGET=${TMPDIR:-/tmp}/tdmpc-device-site
COMMIT=${TDMPC_COMMIT:-}
RUN_ARGS=()
LEARNING=
NO_TORCH=
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE=$2; shift 2 ;;
    --out) OUT_DIR=$2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    --commit) COMMIT=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --profile|--budget|--case-seconds|--smoke-timeout|--total|--stage|--probe) RUN_ARGS+=("$1" "$2"); shift 2 ;;
    --no-torch) NO_TORCH=1; RUN_ARGS+=("$1"); shift ;;
    --learning) LEARNING=$2; shift 2 ;;
    --) RUN_ARGS+=("$@"); break ;;
    *) echo "bench/device/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -n "$LEARNING" ] && [ -n "$NO_TORCH" ]; then
  echo "bench/device/run.sh: --no-torch is for the benchmark run; --learning trains both backends" >&2
  exit 2
fi

export TDMPC_RUN_START=$(date +%s)  # bench/device/run.py ends the whole run within --total seconds of this
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
exec > >(tee -a "$OUT_DIR/device_run.log") 2>&1
echo "== bench/device/run.sh $(date -u +%FT%TZ) in $(pwd)"

# Records are named by commit: from git where the tree has its history (bench/conftest.py adds -dirty),
# else (the GPU machine gets a copy without .git) from --commit or the commit the bundle was built from.
if [ -z "$COMMIT" ] && ! git rev-parse --git-dir >/dev/null 2>&1; then
  COMMIT=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1])).get('source_commit') or '')" \
           "$BUNDLE/manifest.json" 2>/dev/null)
  COMMIT=${COMMIT:-nogit}
fi
[ -n "$COMMIT" ] && export TDMPC_COMMIT=$COMMIT
export PYTHONUNBUFFERED=1 MUJOCO_GL=${MUJOCO_GL:-disable}
# JAX would take 75 % of the GPU at its first use and starve the torch cases: allocate on demand instead.
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-${TMPDIR:-/tmp}/tdmpc-jax-cache}
echo "commit ${TDMPC_COMMIT:-from git}; python $("$PY" -c 'import sys; print(sys.version.split()[0], sys.executable)')"

if ! ls "$BUNDLE"/wheels/*.whl >/dev/null 2>&1; then
  echo "bench/device/run.sh: no wheels in $BUNDLE/wheels: build the bundle first (python -m bench.device.bundle)" >&2
  exit 2
fi
echo "== installing $(ls "$BUNDLE"/wheels/*.whl | wc -l) wheels offline into $TARGET"
rm -rf "$TARGET"
t0=$(date +%s)
if ! "$PY" -m pip install --no-index --no-deps --disable-pip-version-check --no-warn-script-location -q \
     --target "$TARGET" "$BUNDLE"/wheels/*.whl; then
  echo "bench/device/run.sh: installing the bundle failed (wrong Python version for the bundle? see above)" >&2
  exit 2
fi
echo "installed in $(( $(date +%s) - t0 )) s"
export PYTHONPATH="$TARGET:$(pwd)${PYTHONPATH:+:$PYTHONPATH}"

if [ -n "$LEARNING" ]; then
  [ "${RUN_ARGS[0]:-}" = "--" ] && RUN_ARGS=("${RUN_ARGS[@]:1}")  # what follows -- goes to bench/device/learning.py
  "$PY" -m bench.device.learning --out "$OUT_DIR" --minutes "$LEARNING" "${RUN_ARGS[@]}"
else
  "$PY" -m bench.device.run --out "$OUT_DIR" "${RUN_ARGS[@]}"
fi
rc=$?
echo "== bench/device/run.sh: exit $rc"
exit $rc
