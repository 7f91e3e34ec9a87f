#!/usr/bin/env bash
# The cost-curve section (bench/cost.ts) run with the kernels of an older commit, for "before" figures:
#   bash bench/cost-at.sh COMMIT LABEL [--adapter lavapipe|swiftshader] [--model LOCATION]... [--P N]
# Checks COMMIT out into a temporary worktree, puts this checkout's cost bench files over it (they use
# only APIs that exist since the kernel configuration became one function, commit 48b86ea), bundles
# and runs it in Node, and writes bench/results/<date>-cost-<adapter>-LABEL.{json,md} here, recording
# COMMIT as the run's commit. README's "before" rows come from `bash bench/cost-at.sh 48b86ea before`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$root" rev-parse "$1"); label=$2; shift 2
wt=$(mktemp -d)/tree
git -C "$root" worktree add -q --detach "$wt" "$commit"
trap 'git -C "$root" worktree remove --force "$wt"' EXIT
ln -s "$root/node_modules" "$wt/node_modules"
for f in context.ts cost-curve.ts cost.ts cost-report.ts meta.ts gpu-timer.ts stats.ts; do cp "$root/bench/$f" "$wt/bench/$f"; done
# Names the cost files import that an older commit lacks (a shim in the temporary tree only).
grep -q 'export const JACOBI_CANDIDATES' "$wt/src/decode/tree.ts" || echo 'export const JACOBI_CANDIDATES = TOP_K;' >> "$wt/src/decode/tree.ts"
cat > "$wt/bench/cost-entry.ts" <<'EOF'
import { runCostMain } from './cost.js';
runCostMain(['--cost', ...process.argv.slice(2)]).then((c) => process.exit(c), (e) => { console.error(e); process.exit(2); });
EOF
(cd "$wt" && node --input-type=module -e "const { bundleNode, root } = await import('./scripts/esbuild-node.mjs'); await bundleNode({ 'cost-entry': root + '/bench/cost-entry.ts', 'node-worker': root + '/src/worker/node-worker.ts' }, root + '/dist-node/cost', { sourcemap: false });")
(cd "$wt" && MSN_BENCH_COMMIT=$commit node dist-node/cost/cost-entry.mjs --label "$label" --out "$root/bench/results" "$@")
