#!/usr/bin/env bash
# Rehearse docs/installation.md's recipe for a GPU image with JAX preinstalled, on a CPU machine: a Python 3.12
# virtualenv that already holds JAX (the stand-in for the image's own), then a dry run of the recipe: the
# image's own packages frozen as constraints, plus .ci/constraints-gpu-image.txt for what it lacks
# (`pip list --format=freeze > image.txt; pip install -c image.txt -c .ci/constraints-gpu-image.txt -e '.[jax]'`).
# It fails if pip would install, upgrade or downgrade jax or jaxlib. About 1.5 minutes; needs a package index.
# Usage: [JAX_VERSION=0.11.2] [EXTRAS=jax,torch] bash .ci/gpu_image_rehearsal.sh [PYTHON3.12]
# (default interpreter: python3.12 on the PATH, else pyenv's 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-}"
if [[ -z "$PY" ]]; then
  PY="$(command -v python3.12 2>/dev/null || true)"
  if [[ -z "$PY" ]] || ! "$PY" --version >/dev/null 2>&1; then
    PY="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1 || true)"
  fi
fi
if [[ -z "$PY" ]] || ! "$PY" --version >/dev/null 2>&1; then
  echo "no Python 3.12 found: pass its path as the first argument" >&2; exit 2
fi
JAX_VERSION="${JAX_VERSION:-0.10.2}"   # the JAX the stand-in image holds
EXTRAS="${EXTRAS:-jax}"                # the extras the recipe installs
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "jax==$JAX_VERSION" 2>&1 | grep -v "^WARNING: Location" || true
echo "image stand-in: $("$WORK/venv/bin/python" --version), $("$WORK/venv/bin/python" -c 'import jax, jaxlib; print("jax", jax.__version__, "jaxlib", jaxlib.__version__)')"
"$WORK/venv/bin/pip" list --format=freeze 2>/dev/null > "$WORK/image.txt"
"$WORK/venv/bin/pip" install -q --dry-run --report "$WORK/report.json" \
  -c "$WORK/image.txt" -c .ci/constraints-gpu-image.txt -e ".[$EXTRAS]" 2>&1 | grep -v "^WARNING: Location" || true
"$WORK/venv/bin/python" - "$WORK/report.json" <<'PY'
import json
import sys

installs = json.load(open(sys.argv[1]))["install"]
names = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}
print(f"pip would install {len(names)} packages:", ", ".join(f"{n}=={v}" for n, v in sorted(names.items())))
changed = sorted(n for n in names if n in ("jax", "jaxlib"))
if changed:
    sys.exit(f"FAIL: the recipe would replace the image's {', '.join(changed)}")
print("OK: jax and jaxlib stay as the image has them")
PY
echo "rehearsal took $((SECONDS - start)) s"
