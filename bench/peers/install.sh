#!/usr/bin/env bash
# Installs the peer runtimes of `npm run bench -- --peers` (bench/peers/package.json) into
# bench/peers/node_modules (git-ignored). The project's own `npm ci` never installs them.
# onnxruntime-node (a dependency of @huggingface/transformers) downloads native binaries in its install
# script; only onnxruntime-web is used here, so that download is switched off:
# ONNXRUNTIME_NODE_INSTALL=skip (read by onnxruntime-node's script/install.js).
#   bash bench/peers/install.sh            the npm packages
#   bash bench/peers/install.sh --python   also bench/peers/.pyenv (git-ignored): a venv that sees the
#                                          project's .venv (torch, transformers) plus onnx, onnxscript,
#                                          onnxruntime, gguf for scripts/export_peers.py (local pip mirror)
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = --python ]; then
  [ -d .pyenv ] || python3 -m venv .pyenv
  site=$(../../.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$site" > "$(.pyenv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/project-venv.pth"
  # The machine's local package mirror when it has one (as train/setup_env.sh does): pip's default index
  # would be tried first, and without internet every package waits out its retries.
  mirror=${PIP_LOCAL_MIRROR_ROOT:-/opt}
  args=()
  if [ -d "$mirror/pypi/simple" ]; then
    args=(--index-url "file://$mirror/pypi/simple" --timeout 15 --retries 0)
    [ -d "$mirror/pypi-more/simple" ] && args+=(--extra-index-url "file://$mirror/pypi-more/simple")
    [ -d "$mirror/wheels" ] && args+=(--find-links "$mirror/wheels")
  fi
  .pyenv/bin/pip install -q "${args[@]}" onnx onnxscript onnxruntime gguf
fi
export ONNXRUNTIME_NODE_INSTALL=skip
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
node -e "for (const p of ['@huggingface/transformers', '@wllama/wllama']) console.log(p, require('./node_modules/' + p + '/package.json').version)"
