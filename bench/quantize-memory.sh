#!/usr/bin/env bash
# Opt-in (not in CI): `npm run quantize` on a Llama-3-8B-shaped random model with 2 layers (bf16:
# the real 128256 x 4096 embedding and lm_head, 1 GiB each), with its peak resident memory measured
# by /usr/bin/time -v, written to bench/results/<date>-quantize-8b-2l.json. Issue 12 requires the
# peak to stay under 2 GB; the script exits 1 when it does not. Then ("... and its folder loads") the
# converted folder is loaded with the CLI on this machine's adapter (lavapipe here) and 4 tokens are
# generated (`node dist-node/cli.mjs --model <out> --prompt 'def f' --max-new-tokens 4 --json --decode ar
# --context-length 256`); the JSON records whether it loaded, its weightsBytes, weightFormats, self-check
# and the load's peak resident memory (largest process of the CLI's tree, /usr/bin/time -v). The script
# exits 1 when the load fails too. MSN_QUANTIZE_LOAD=0 skips the load.
#   bash bench/quantize-memory.sh [bits=4] [group=32]
# The model is made once into $MSN_MODEL_CACHE (default $TMPDIR/msn-models, as test/model/real-shape.test.ts);
# the converted folder goes to a temporary folder and is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BITS=${1:-4}
GROUP=${2:-32}
CACHE=${MSN_MODEL_CACHE:-${TMPDIR:-/tmp}/msn-models}
MODEL="$CACHE/llama-3-8b-2l"
LIMIT=$((2 * 1000 * 1000 * 1000))
if [ ! -f "$MODEL/model.safetensors.index.json" ] && [ ! -f "$MODEL/model.safetensors" ]; then
  .venv/bin/python scripts/make-model.py --shape llama-3-8b --layers 2 --no-check --out "$MODEL"
fi
node scripts/build-node.mjs
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TIMES=$(mktemp)
START=$(date +%s)
/usr/bin/time -v -o "$TIMES" node dist-node/quantize.mjs --model "$MODEL" --out "$OUT/q" --bits "$BITS" --group-size "$GROUP" --force
END=$(date +%s)
RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$TIMES")
# Load the converted folder and generate 4 tokens (the CLI's JSON, or its error, is kept).
LOAD_JSON=$(mktemp)
LOAD_ERR=$(mktemp)
LOAD_TIMES=$(mktemp)
LOAD_RC=skipped
LOAD_START=$(date +%s)
if [ "${MSN_QUANTIZE_LOAD:-1}" != 0 ]; then
  LOAD_RC=0
  /usr/bin/time -v -o "$LOAD_TIMES" node dist-node/cli.mjs --model "$OUT/q" --prompt 'def f' --max-new-tokens 4 --json --decode ar --context-length 256 >"$LOAD_JSON" 2>"$LOAD_ERR" || LOAD_RC=$?
fi
LOAD_END=$(date +%s)
LOAD_RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$LOAD_TIMES")
RESULT="bench/results/$(date +%F)-quantize-8b-2l.json"
node -e '
const [model, out, bits, group, rssKb, seconds, limit, result, loadRc, loadJson, loadErr, loadRssKb, loadSeconds] = process.argv.slice(1);
const fs = require("node:fs"), path = require("node:path");
const sum = (dir, re) => fs.readdirSync(dir).filter((f) => re.test(f)).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
const r = {
  what: "npm run quantize on a Llama-3-8B-shaped random model, 2 layers, bf16 (scripts/make-model.py --shape llama-3-8b --layers 2)",
  command: `node dist-node/quantize.mjs --model <model> --out <out> --bits ${bits} --group-size ${group}`,
  measured: "peak resident set size of the converter process (/usr/bin/time -v: Maximum resident set size)",
  bits: Number(bits), groupSize: Number(group),
  inputBytes: sum(model, /\.safetensors$/), outputBytes: sum(path.join(out, "q"), /\.safetensors$/),
  outputShards: fs.readdirSync(path.join(out, "q")).filter((f) => f.endsWith(".safetensors")).length,
  peakRssBytes: Number(rssKb) * 1024, limitBytes: Number(limit), underLimit: Number(rssKb) * 1024 < Number(limit),
  wallSeconds: Number(seconds), node: process.version, date: new Date().toISOString(),
};
if (loadRc !== "skipped") {
  const cli = loadRc === "0" ? JSON.parse(fs.readFileSync(loadJson, "utf8")) : null;
  r.load = {
    command: "node dist-node/cli.mjs --model <out> --prompt \x27def f\x27 --max-new-tokens 4 --json --decode ar --context-length 256",
    loaded: cli !== null, exitCode: Number(loadRc),
    error: cli ? null : fs.readFileSync(loadErr, "utf8").trim().split("\n").slice(-5).join("\n"),
    adapter: cli?.adapter ?? null, weightFormats: cli?.weightFormats ?? null, memory: cli?.memory ?? null,
    context: cli?.context ?? null, selfCheck: cli?.selfCheck ?? null, tokenIds: cli?.tokenIds ?? null, text: cli?.text ?? null,
    peakRssBytes: Number(loadRssKb) * 1024, wallSeconds: Number(loadSeconds),
  };
}
fs.writeFileSync(result, JSON.stringify(r, null, 2) + "\n");
console.log(JSON.stringify(r));
if (!r.underLimit || (r.load && !r.load.loaded)) process.exit(1);
' "$MODEL" "$OUT" "$BITS" "$GROUP" "$RSS_KB" "$((END - START))" "$LIMIT" "$RESULT" "$LOAD_RC" "$LOAD_JSON" "$LOAD_ERR" "${LOAD_RSS_KB:-0}" "$((LOAD_END - LOAD_START))"
echo "wrote $RESULT"
