#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for msn-webgpu: Chromium (e2e, SwiftShader WebGPU), Mesa 25
# lavapipe from bookworm-backports (Node WebGPU tests with f16; the backports apt entry is derived
# from the machine's own Debian sources by scripts/apt-backports-source.sh), npm packages, and the
# Python venv (train/ and fixture tests; train/setup_env.sh). Idempotent; prints each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
stage() { printf '\n== %s\n' "$1"; STAGE_T0=$(date +%s); }
done_stage() { echo "== done in $(( $(date +%s) - STAGE_T0 )) s"; }

stage "apt: chromium, Vulkan loader, Mesa 25 lavapipe (bookworm-backports), python3-venv"
pkgs=()
command -v chromium >/dev/null || pkgs+=(chromium)
command -v python3 >/dev/null || pkgs+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)   # python3 -m venv (train/setup_env.sh)
need_mesa=0
[ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || { need_mesa=1; pkgs+=(libvulkan1); }
if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$need_mesa" = 1 ]; then
    # The backports entry uses this machine's own Debian sources (its mirror or proxy, its keyring);
    # nothing is written when one is configured already.
    backports=$(bash scripts/apt-backports-source.sh)
    if [ -n "$backports" ]; then
      printf '%s\n' "$backports" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
      echo "wrote /etc/apt/sources.list.d/bookworm-backports.sources:"; printf '%s\n' "$backports" | sed 's/^/  /'
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
  [ "$need_mesa" = 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
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
