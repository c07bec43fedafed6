#!/usr/bin/env bash
# Rehearse the one-shot GPU run (docs/benchmarks.md, "GPU") on a CPU, closer to the GPU machine than the dry run of
# tests/test_device_run.py (which borrows this machine's Python and packages):
#   1. a Python 3.12 virtualenv holding only what the GPU machine has preinstalled (bench/device/bundle.py's
#      DEVICE_PREINSTALLED), from the package index at the newest versions it serves, jax and jaxlib at the GPU
#      machine's version (JAX_VERSION) -- but no torch, a multi-GB CUDA build: the rehearsal is JAX-only and says so;
#   2. the bundle built for Python 3.12 (python -m bench.device.bundle --python-version 3.12);
#   3. bash bench/device/run.sh --stage probe --no-torch with that Python and no package index (PIP_NO_INDEX=1):
#      the offline --no-deps install of the bundle, facts, smoke, the JAX env_step and update cases on a small
#      budget, with every DeprecationWarning that jax, flax, optax or orbax issue turned into an error;
#   4. one verdict line (bench.device.dryrun.rehearsal_verdict); exit 0 only for PASS.
# Needs the package index and the project's .venv (it builds the bundle from the test runner installed there).
# Usage: [JAX_VERSION=0.11.2|latest] [BUDGET=100] [DEPRECATIONS=jax,jaxlib,flax,optax,orbax] [WORK=DIR (kept)] \
#        [HOST_PYTHON=.venv/bin/python] bash .ci/gpu_run_rehearsal.sh [PYTHON3.12]
# (default interpreter: python3.12 on the PATH, else pyenv's 3.12; DEPRECATIONS: the packages whose
# DeprecationWarnings are errors, default bench.device.dryrun.UPSTREAM_PACKAGES).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
fail() { echo "GPU run rehearsal: FAIL: $1 ($((SECONDS - start)) s)"; exit 1; }

HOST_PY="${HOST_PYTHON:-.venv/bin/python}"
"$HOST_PY" -c "import bench.device.bundle" 2>/dev/null || fail "$HOST_PY cannot import the project: install it first"
PY="${1:-}"
if [[ -z "$PY" ]]; then
  PY="$(command -v python3.12 2>/dev/null || true)"
  if [[ -z "$PY" ]] || ! "$PY" --version >/dev/null 2>&1; then
    PY="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1 || true)"
  fi
fi
[[ -n "$PY" ]] && "$PY" --version >/dev/null 2>&1 || fail "no Python 3.12 found: pass its path as the first argument"
[[ "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == 3.12 ]] \
  || fail "$PY is not Python 3.12, the GPU machine's Python"
JAX_VERSION="${JAX_VERSION:-0.11.2}"  # the GPU machine's; "latest": the newest the index serves
BUDGET="${BUDGET:-100}"               # benchmark seconds from the session's start, compiles included
if [[ -n "${WORK:-}" ]]; then mkdir -p "$WORK"; KEEP=1; else WORK="$(mktemp -d)"; KEEP=; fi
WORK="$(cd "$WORK" && pwd)"
echo "== GPU run rehearsal in $WORK: $("$PY" --version), jax $JAX_VERSION, benchmark budget $BUDGET s"

# 1. the GPU machine's preinstalled packages (no torch), from the package index
"$PY" -m venv "$WORK/venv" || fail "python -m venv failed"
mapfile -t PACKAGES < <("$HOST_PY" -c '
import sys
from bench.device.bundle import DEVICE_PREINSTALLED
jax = sys.argv[1]
for name in DEVICE_PREINSTALLED:
    if name in ("torch", "pip"):
        continue
    print(f"{name}=={jax}" if name in ("jax", "jaxlib") and jax != "latest" else name)
' "$JAX_VERSION")
t0=$SECONDS
"$WORK/venv/bin/pip" install -q --no-compile --disable-pip-version-check "${PACKAGES[@]}" > "$WORK/pip.log" 2>&1 \
  || { grep -v "^WARNING: Location" "$WORK/pip.log" | tail -n 15; fail "pip install of the device's packages failed"; }
echo "device stand-in in $((SECONDS - t0)) s: $("$WORK/venv/bin/python" -c '
import importlib.metadata as md
print(", ".join(f"{n} {md.version(n)}" for n in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "chex", "numpy")))')"
for module in torch mujoco mujoco_playground dm_control; do  # what the bundle must bring (and torch: never)
  "$WORK/venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is not None)" \
    || fail "the device stand-in already has $module: it would not test the bundle (or the JAX-only run)"
done

# 2. the bundle for Python 3.12
t0=$SECONDS
"$HOST_PY" -m bench.device.bundle --python-version 3.12 --out "$WORK/bundle" > "$WORK/bundle.log" 2>&1 \
  || { tail -n 15 "$WORK/bundle.log"; fail "building the bundle failed"; }
echo "bundle in $((SECONDS - t0)) s: $(tail -n 2 "$WORK/bundle.log" | head -n 1)"

# 3. the probe stage as on the device: offline, JAX only, deprecations of the JAX stack as errors
UPSTREAM="${DEPRECATIONS:-$("$HOST_PY" -c 'from bench.device.dryrun import UPSTREAM_PACKAGES as P; print(",".join(P))')}"
t0=$SECONDS
env -u PYTHONPATH -u VIRTUAL_ENV PIP_NO_INDEX=1 TMPDIR="$WORK" OMP_NUM_THREADS=1 \
  TDMPC_DEPRECATIONS_AS_ERRORS="$UPSTREAM" \
  bash bench/device/run.sh --python "$WORK/venv/bin/python" --bundle "$WORK/bundle" --out "$WORK/out" \
    --target "$WORK/site" --profile cpu --stage probe --no-torch --budget "$BUDGET" --case-seconds 2 \
    --smoke-timeout 900 --total $((BUDGET + 1200)) -- -k "env_step or update" --bench-task pendulum-swingup
rc=$?
echo "run.sh: exit $rc in $((SECONDS - t0)) s"

# 4. the verdict
line="$("$HOST_PY" -m bench.device.dryrun --verdict "$WORK/out" --no-torch)"
verdict=$?
[[ $rc -ne 0 && $verdict -eq 0 ]] && { line="FAIL: run.sh exited $rc although the output looks complete"; verdict=1; }
[[ $verdict -eq 0 && -z "$KEEP" ]] && rm -rf "$WORK"
[[ $verdict -ne 0 ]] && line="$line; work folder kept: $WORK"
echo "GPU run rehearsal: $line ($((SECONDS - start)) s)"
exit $verdict
