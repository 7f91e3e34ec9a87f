#!/usr/bin/env bash
# Create .venv (repo root) with the training stack from this machine's local Python package mirror.
# Idempotent: does nothing when .venv already imports everything at the pinned versions.
#
#     train/setup_env.sh                 # PYTHON=python3.11 train/setup_env.sh to pick the interpreter
#
# The mirror is file:///opt/pypi/simple (+ /opt/pypi-more/simple, wheels in /opt/wheels). pip is pointed
# at it explicitly: left to itself it would retry pypi.org (no internet here) for minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=('torch==2.13.0+cpu' 'transformers>=5,<6' 'accelerate' 'tokenizers' 'safetensors' 'numpy' 'pytest')
INDEX=${PIP_MIRROR:-file:///opt/pypi/simple}
EXTRA=${PIP_MIRROR_EXTRA:-file:///opt/pypi-more/simple}
WHEELS=${PIP_WHEELS:-/opt/wheels}
PIP_ARGS=(--disable-pip-version-check --index-url "$INDEX" --extra-index-url "$EXTRA" --timeout 15 --retries 0)
[ -d "$WHEELS" ] && PIP_ARGS+=(--find-links "$WHEELS")

check() {
  .venv/bin/python - <<'PY' 2>/dev/null
import accelerate, numpy, pytest, safetensors, tokenizers, torch, transformers
assert torch.__version__.startswith("2.13.0"), torch.__version__
assert transformers.__version__.split(".")[0] == "5", transformers.__version__
print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
      f"accelerate {accelerate.__version__}")
PY
}

if [ -x .venv/bin/python ] && check; then
  echo "setup_env: .venv is ready"
  exit 0
fi

for d in "${INDEX#file://}" "${EXTRA#file://}"; do
  if [ ! -d "$d" ]; then
    echo "setup_env: the local package mirror $d is missing on this machine." >&2
    echo "  Set PIP_MIRROR / PIP_MIRROR_EXTRA / PIP_WHEELS to a mirror that has: ${PKGS[*]}" >&2
    exit 1
  fi
done

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 /root/.pyenv/versions/3.11.7/bin/python3 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
  done
fi
echo "setup_env: creating .venv with $($PY --version 2>&1)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv

if ! .venv/bin/pip install -q "${PIP_ARGS[@]}" "${PKGS[@]}"; then
  echo "setup_env: installing all at once failed; trying one by one to name the culprit(s)..." >&2
  missing=()
  for p in "${PKGS[@]}"; do
    .venv/bin/pip install -q "${PIP_ARGS[@]}" "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup_env: FAILED: could not install from the mirror: ${missing[*]}" >&2
    exit 1
  fi
fi
check || { echo "setup_env: FAILED: .venv does not import the training stack at the pinned versions" >&2; exit 1; }
echo "setup_env: .venv is ready"
