#!/usr/bin/env bash
# The whole test suite (what `npm test` runs and CI calls): static checks, Node tests on Dawn +
# lavapipe (once more with optional GPU features disabled), the production build and its bundle
# check, Chromium e2e on SwiftShader, and the Python tests. Prints each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}; mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
export LP_NUM_THREADS=${LP_NUM_THREADS:-$(nproc)}
T_ALL=$(date +%s)
stage() { printf '\n== %s\n' "$1"; STAGE_T0=$(date +%s); }
done_stage() { echo "== $1 done in $(( $(date +%s) - STAGE_T0 )) s"; }

stage "typecheck + lint"
npx tsc --noEmit -p tsconfig.json
npx eslint .
done_stage "typecheck + lint"

stage "unit + integration tests (Node, Dawn)"
npx vitest run
done_stage "vitest"

stage "kernel tests with optional features disabled (no shader-f16/subgroups/timestamp-query)"
# Optional features change only kernel code generation: the kernel tests and the model-level goldens
# (dense, quantized, f16 KV) and the self-check cover it; loaders, converters and real shapes do not depend on it.
MSN_DISABLE_FEATURES=all npx vitest run test/kernels test/model/golden.test.ts test/model/golden-quant.test.ts test/model/golden-kv-f16.test.ts test/model/selfcheck.test.ts test/model/weight-format-hook.test.ts
done_stage "vitest (features off)"

stage "production build + bundle check"
npx vite build --logLevel warn
node scripts/check-bundle.mjs
done_stage "build"

stage "e2e (Chromium, SwiftShader)"
# A free port for this run's dev server (another checkout's server must never be reused).
MSN_E2E_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
export MSN_E2E_PORT
npx playwright test
done_stage "e2e"

stage "python tests (fixtures, train/)"
.venv/bin/python -m pytest -q test/fixtures train/tests
done_stage "pytest"

echo; echo "== all tests passed in $(( $(date +%s) - T_ALL )) s"
