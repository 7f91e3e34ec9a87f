#!/usr/bin/env bash
# Create .venv (repo root) with the training stack: torch 2.13 (CPU build), transformers 5.x,
# accelerate, peft (LoRA), tokenizers, safetensors, numpy, pytest. Idempotent: does nothing when .venv already
# imports everything at the pinned versions.
#
#     train/setup_env.sh                       # PYTHON=python3.11 train/setup_env.sh to pick the interpreter
#     SETUP_ENV_DRY_RUN=1 train/setup_env.sh   # print the chosen source and commands, change nothing
#
# Where the packages come from, first that applies:
#   1. PIP_MIRROR (+ PIP_MIRROR_EXTRA, PIP_WHEELS) when set: that package mirror, and only it (a
#      file:// mirror must exist);
#   2. the machine's local package mirror, when $PIP_LOCAL_MIRROR_ROOT/pypi/simple exists (default
#      root /opt: /opt/pypi/simple, /opt/pypi-more/simple, wheels in /opt/wheels). pip is pointed at it
#      explicitly and never retries: left to itself it would retry pypi.org (no internet) for minutes;
#   3. otherwise pip's configured index (PyPI, or what pip.conf / PIP_INDEX_URL say), with torch's
#      CPU build from TORCH_INDEX (default https://download.pytorch.org/whl/cpu; TORCH_INDEX= empty
#      takes torch from the configured index too, whose Linux wheel is the CUDA build, GBs larger).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=2.13.0
OTHERS=('transformers>=5,<6' 'accelerate' 'peft' 'tokenizers' 'safetensors' 'numpy' 'pytest')
MIRROR_ROOT=${PIP_LOCAL_MIRROR_ROOT:-/opt}
DRY=${SETUP_ENV_DRY_RUN:-0}

# Each install is one pip argument list, one argument per line (run as `.venv/bin/pip install ARGS...`).
INSTALLS=()
install() { INSTALLS+=("$(printf '%s\n' "$@")"); }
if [ -n "${PIP_MIRROR:-}" ] || [ -d "$MIRROR_ROOT/pypi/simple" ]; then
  SOURCE=mirror
  if [ -n "${PIP_MIRROR:-}" ]; then
    INDEX=$PIP_MIRROR; EXTRA=${PIP_MIRROR_EXTRA:-}; WHEELS=${PIP_WHEELS:-}
  else
    INDEX=file://$MIRROR_ROOT/pypi/simple; EXTRA=""; WHEELS=""
    [ -d "$MIRROR_ROOT/pypi-more/simple" ] && EXTRA=file://$MIRROR_ROOT/pypi-more/simple
    [ -d "$MIRROR_ROOT/wheels" ] && WHEELS=$MIRROR_ROOT/wheels
  fi
  for u in "$INDEX" "$EXTRA"; do
    case "$u" in file://*)
      if [ ! -d "${u#file://}" ]; then
        echo "setup_env: the package mirror ${u#file://} is missing on this machine." >&2
        echo "  Set PIP_MIRROR / PIP_MIRROR_EXTRA / PIP_WHEELS to a mirror that has: torch==$TORCH+cpu ${OTHERS[*]}," >&2
        echo "  or unset PIP_MIRROR to install from pip's configured index." >&2
        exit 1
      fi ;;
    esac
  done
  ARGS=(--index-url "$INDEX" --timeout 15 --retries 0)
  [ -n "$EXTRA" ] && ARGS+=(--extra-index-url "$EXTRA")
  [ -n "$WHEELS" ] && [ -d "$WHEELS" ] && ARGS+=(--find-links "$WHEELS")
  # The mirror carries the CPU build under its local version label.
  install "${ARGS[@]}" "torch==$TORCH+cpu" "${OTHERS[@]}"
else
  SOURCE=index
  TORCH_INDEX=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}
  # torch first, alone, so that the others (accelerate needs torch) never pull a CUDA build.
  if [ -n "$TORCH_INDEX" ]; then install --index-url "$TORCH_INDEX" "torch==$TORCH"; else install "torch==$TORCH"; fi
  install "${OTHERS[@]}"
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
  done
fi

if [ "$DRY" = 1 ]; then
  echo "source: $SOURCE"
  echo "python: ${PY:-none}"
  for i in "${INSTALLS[@]}"; do mapfile -t args <<<"$i"; echo "pip install ${args[*]}"; done
  exit 0
fi

check() {
  .venv/bin/python - <<'PY' 2>/dev/null
import accelerate, numpy, peft, pytest, safetensors, tokenizers, torch, transformers
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

if [ -z "$PY" ]; then
  echo "setup_env: no python3 on this machine; on Debian 12: apt-get install python3 python3-venv" >&2
  exit 1
fi
echo "setup_env: creating .venv with $($PY --version 2>&1); packages from $SOURCE"
if [ ! -x .venv/bin/python ] && ! "$PY" -m venv .venv; then
  echo "setup_env: '$PY -m venv' failed; on Debian 12 it needs: apt-get install python3-venv" >&2
  exit 1
fi

PIP=(.venv/bin/pip install -q --disable-pip-version-check)
for i in "${INSTALLS[@]}"; do
  mapfile -t args <<<"$i"
  if ! "${PIP[@]}" "${args[@]}"; then
    echo "setup_env: FAILED: pip install ${args[*]} (packages from the $SOURCE; pip's error above names what is missing)" >&2
    exit 1
  fi
done
check || { echo "setup_env: FAILED: .venv does not import the training stack at the pinned versions" >&2; exit 1; }
echo "setup_env: .venv is ready"
