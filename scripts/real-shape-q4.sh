#!/usr/bin/env bash
# Opt-in (not in CI; issue 12 "Done when"): the full Llama-3.2-1B shape (16 layers, bf16 on disk, about
# 2.5 GB) loaded with --quantize q4 in Node on lavapipe must report weightsBytes < 0.8 GB and decode
# transformers' greedy tokens on the same dequantized weights, once with an f32 KV cache
# (make-model.py --golden --quantize q4) and once with an f16 one (... --kv-dtype f16: K and V rounded to
# f16 in the reference as the runtime stores them). The model and each golden are made once.
# Writes bench/results/real-shape-q4-<date>.json: commit, date, adapter, per KV dtype and prompt the
# tokens, golden tokens and margins, weightsBytes, kvBytes, timings and the peak RSS of the CLI (the
# largest process of its tree: the CLI or its executor, by GNU time's %M). Needs ~8 GB of RAM
# (transformers runs each golden in f32) and, on a 2-core machine, the better part of an hour.
#
# Resumable: every step whose output exists is skipped (the model folder's golden*.json, and each CLI
# run's JSON under <model folder>/runs/), so an interrupted run picks up where it stopped; delete
# <model folder>/runs to decode again (e.g. after a runtime change).
#
#   bash scripts/real-shape-q4.sh [model folder, default $TMPDIR/msn-models/llama-3.2-1b-16l]
#   MSN_RS_KV="f16" bash scripts/real-shape-q4.sh     # one KV dtype only (default "f32 f16")
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DIR=${1:-${TMPDIR:-/tmp}/msn-models/llama-3.2-1b-16l}
KVS=${MSN_RS_KV:-f32 f16}
OUT=bench/results/real-shape-q4-$(date -u +%Y%m%d).json
mkdir -p "$DIR/runs" "$DIR/timings"

# step <name> <output> <command...>: runs the command unless <output> exists, recording its seconds.
step() {
  local name=$1 out=$2; shift 2
  if [ -f "$out" ]; then echo "[$name] exists: $out"; return; fi
  echo "[$name] $(date -u +%H:%M:%S) $*"
  local s; s=$(date +%s)
  "$@"
  echo $(( $(date +%s) - s )) > "$DIR/timings/$name.s"
  echo "[$name] done in $(cat "$DIR/timings/$name.s") s"
}

step make-model "$DIR/golden.json" \
  $PY scripts/make-model.py --shape llama-3.2-1b --out "$DIR" --golden "$DIR/golden.json"
step golden-q4 "$DIR/golden-q4.json" \
  $PY scripts/make-model.py --shape llama-3.2-1b --out "$DIR" --golden "$DIR/golden-q4.json" --quantize q4
step golden-q4-kv-f16 "$DIR/golden-q4-kv-f16.json" \
  $PY scripts/make-model.py --shape llama-3.2-1b --out "$DIR" --golden "$DIR/golden-q4-kv-f16.json" --quantize q4 --kv-dtype f16
node scripts/build-node.mjs >/dev/null

# One CLI run per KV dtype and golden prompt (the golden's decided tokens, at most 8), AR greedy.
for kv in $KVS; do
  golden=$DIR/golden-q4.json; [ "$kv" = f16 ] && golden=$DIR/golden-q4-kv-f16.json
  count=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).prompts.length)' "$golden")
  for ((i = 0; i < count; i++)); do
    run=$DIR/runs/q4-kv-$kv-$i
    [ -f "$run.json" ] && { echo "[run $kv $i] exists: $run.json"; continue; }
    prompt=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).prompts[+process.argv[2]].text)' "$golden" "$i")
    n=$(node -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).prompts[+process.argv[2]]; console.log(p.decided_tokens ?? p.greedy_ids.length)' "$golden" "$i")
    echo "[run $kv $i] $(date -u +%H:%M:%S) $n tokens"
    s=$(date +%s%N)
    /usr/bin/time -f %M -o "$run.rss" node dist-node/cli.mjs --model "$DIR" --prompt "$prompt" --max-new-tokens "$n" \
      --decode ar --quantize q4 --kv-dtype "$kv" --context-length 64 --json > "$run.tmp"
    echo $(( ($(date +%s%N) - s) / 1000000 )) > "$run.ms"
    mv "$run.tmp" "$run.json"
    echo "[run $kv $i] done in $(cat "$run.ms") ms"
  done
done

node - "$DIR" "$OUT" "$KVS" <<'JS'
const { execSync } = require('node:child_process');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const [dir, out, kvs] = process.argv.slice(2);
const read = (p) => JSON.parse(readFileSync(p, 'utf8'));
const seconds = (name) => existsSync(`${dir}/timings/${name}.s`) ? Number(readFileSync(`${dir}/timings/${name}.s`, 'utf8')) : null;
const LIMIT = 0.8e9;
let ok = true;
const cases = kvs.split(/\s+/).filter(Boolean).map((kv) => {
  const gfile = kv === 'f16' ? 'golden-q4-kv-f16.json' : 'golden-q4.json';
  const golden = read(`${dir}/${gfile}`);
  const runs = golden.prompts.map((p, i) => {
    const base = `${dir}/runs/q4-kv-${kv}-${i}`;
    const r = read(`${base}.json`);
    const n = p.decided_tokens ?? p.greedy_ids.length;
    const equal = JSON.stringify(r.tokenIds) === JSON.stringify(p.greedy_ids.slice(0, n));
    const small = r.memory.weightsBytes < LIMIT;
    ok &&= equal && small && r.kvDtype === kv;
    return {
      prompt: p.text, promptTokens: p.ids.length, tokenIds: r.tokenIds, goldenTokenIds: p.greedy_ids, decidedTokens: n, equal,
      goldenMargins: p.greedy_margins, goldenMinMargin: p.min_margin,
      kvDtype: r.kvDtype, weightFormats: r.weightFormats, memory: r.memory, context: r.context, kernelConfig: r.kernelConfig, selfCheck: r.selfCheck,
      timings: { cliSeconds: Number(readFileSync(`${base}.ms`, 'utf8')) / 1000, prefillMs: r.prefillMs, decodeMs: r.decodeMs, tokensPerSecond: r.tokensPerSecond },
      peakRssBytes: Number(readFileSync(`${base}.rss`, 'utf8').trim().split('\n').pop()) * 1024,
      adapter: r.adapter,
    };
  });
  return { kvDtype: kv, golden: { file: gfile, reference: golden.reference, seed: golden.seed, min_margin: golden.min_margin }, runs };
});
const commit = execSync('git rev-parse HEAD').toString().trim() + (execSync('git status --porcelain --untracked-files=no').toString().trim() ? ' (with uncommitted changes)' : '');
const result = {
  what: 'llama-3.2-1b shape (16 layers, bf16 on disk) loaded with --quantize q4 in Node (Dawn) vs transformers on the dequantized weights, with an f32 and an f16 KV cache',
  ok, weightsBytesLimit: LIMIT, commit, date: new Date().toISOString(), adapter: cases[0]?.runs[0]?.adapter ?? null,
  modelBytesOnDisk: read(`${dir}/make_model.json`).weight_bytes,
  makeSeconds: { modelAndBf16Golden: seconds('make-model'), goldenQ4: seconds('golden-q4'), goldenQ4KvF16: seconds('golden-q4-kv-f16') },
  cases,
};
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
for (const c of cases) for (const r of c.runs) console.log(`${c.kvDtype} ${JSON.stringify(r.prompt)}: ${r.equal ? 'equal' : 'DIFFERENT'} ${JSON.stringify(r.tokenIds)} vs ${JSON.stringify(r.goldenTokenIds.slice(0, r.decidedTokens))}, weights ${r.memory.weightsBytes} B, KV ${r.memory.kvBytes} B, peak RSS ${(r.peakRssBytes / 1e9).toFixed(2)} GB, ${r.timings.cliSeconds} s`);
console.log(`${ok ? 'PASS' : 'FAIL'}: ${out}`);
process.exit(ok ? 0 : 1);
JS
