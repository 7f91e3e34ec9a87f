#!/usr/bin/env bash
# Opt-in (not in CI; issue 12 "Done when"): the full Llama-3.2-1B shape (16 layers, bf16 on disk, about
# 2.5 GB) loaded with --quantize q4 in Node on lavapipe must report weightsBytes < 0.8 GB and decode
# transformers' greedy tokens on the same dequantized weights (scripts/make-model.py --golden --quantize q4).
# Writes bench/results/real-shape-q4-<date>.json. Needs ~8 GB of RAM (transformers runs the golden in f32).
#
#   bash scripts/real-shape-q4.sh [model folder, default $TMPDIR/msn-models/llama-3.2-1b-16l]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DIR=${1:-${TMPDIR:-/tmp}/msn-models/llama-3.2-1b-16l}
OUT=bench/results/real-shape-q4-$(date -u +%Y%m%d).json
t0=$(date +%s)
if [ ! -f "$DIR/golden.json" ]; then
  $PY scripts/make-model.py --shape llama-3.2-1b --out "$DIR" --golden "$DIR/golden.json"
fi
if [ ! -f "$DIR/golden-q4.json" ]; then
  $PY scripts/make-model.py --shape llama-3.2-1b --out "$DIR" --golden "$DIR/golden-q4.json" --quantize q4
fi
t1=$(date +%s)
node scripts/build-node.mjs >/dev/null
node - "$DIR" "$OUT" "$t0" "$t1" <<'JS'
const { execFileSync } = require('node:child_process');
const { readFileSync, writeFileSync } = require('node:fs');
const [dir, out, t0, t1] = process.argv.slice(2);
const golden = JSON.parse(readFileSync(`${dir}/golden-q4.json`, 'utf8'));
const runs = [];
let ok = true;
for (const p of golden.prompts) {
  const n = p.decided_tokens ?? p.greedy_ids.length;
  const s = Date.now();
  const r = JSON.parse(execFileSync(process.execPath, ['dist-node/cli.mjs', '--model', dir, '--prompt', p.text, '--max-new-tokens', String(n),
    '--decode', 'ar', '--quantize', 'q4', '--context-length', '64', '--json'], { maxBuffer: 1 << 26 }).toString());
  const equal = JSON.stringify(r.tokenIds) === JSON.stringify(p.greedy_ids.slice(0, n));
  const small = r.memory.weightsBytes < 0.8e9;
  ok &&= equal && small;
  runs.push({ prompt: p.text, tokenIds: r.tokenIds, golden: p.greedy_ids.slice(0, n), equal, weightsBytes: r.memory.weightsBytes, weightFormats: r.weightFormats, selfCheck: r.selfCheck, adapter: r.adapter, seconds: (Date.now() - s) / 1000 });
}
const result = { what: 'llama-3.2-1b (16 layers, bf16) loaded with --quantize q4 on Node/lavapipe vs transformers on the dequantized weights', ok, weightsBytesLimit: 0.8e9, makeSeconds: Number(t1) - Number(t0), golden: { reference: golden.reference, seed: golden.seed, min_margin: golden.min_margin }, runs, date: new Date().toISOString() };
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`${ok ? 'PASS' : 'FAIL'}: ${out}`);
process.exit(ok ? 0 : 1);
JS
