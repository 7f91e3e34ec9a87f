#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for msn-webgpu: Chromium (e2e, SwiftShader WebGPU), Mesa 25
# lavapipe from bookworm-backports (Node WebGPU tests with f16), npm packages, and the Python venv
# (train/ and fixture tests). Idempotent; prints each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
stage() { printf '\n== %s\n' "$1"; STAGE_T0=$(date +%s); }
done_stage() { echo "== done in $(( $(date +%s) - STAGE_T0 )) s"; }

stage "apt: chromium, Vulkan loader, Mesa 25 lavapipe (bookworm-backports)"
need_apt=0
command -v chromium >/dev/null || need_apt=1
[ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || need_apt=1
if [ "$need_apt" = 1 ]; then
  if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
    $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium libvulkan1 >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
fi
chromium --version 2>/dev/null | head -1 || true
ls /usr/share/vulkan/icd.d/lvp_icd.json
done_stage

stage "npm ci"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; else echo "node_modules up to date"; fi
done_stage

stage "python venv (.venv) for train/ and fixture tests"
bash train/setup_env.sh
done_stage
