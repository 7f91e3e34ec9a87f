#!/usr/bin/env bash
# The whole benchmark on the H200 machine, through ../shared/gpu/ (Dawn's `webgpu` package on NVIDIA's
# Vulkan driver; see ../shared/gpu/README.md). Three steps:
#
#   1. here:         bench/device.sh pack
#        bundles bench/run.ts + the engine's worker entry into .gpu/ (bench.mjs, node-worker.mjs; the
#        bundle must sit in .gpu/ so `webgpu` resolves from .gpu/node_modules), records the commit,
#        then ../shared/gpu/pack.sh adds node, webgpu and the Vulkan/GL loader debs (about 28 MB).
#        Models (public/models) and prompts (bench/prompts) travel with the working tree.
#   2. device tool:  run(command="bash bench/device.sh run", carry=[".gpu"], timeout_s=540)
#        first the cost curve (`bench.mjs --cost`: the default model and a Llama-3.2-1B-shaped f16 model made
#        there by scripts/make-model.py, both kernel configurations; ≤ 4.5 min), then
#        `bench.mjs --full` (both models × 5 modes × 16 prompts × 64 tokens, warm-up + 3 runs;
#        kernel microbenchmarks at GPU sizes incl. the 14336×4096 f16 GEMV target; scheduler host cost)
#        under `timeout 300` (MSN_DEVICE_FULL_S); results are saved after every stage, so a cut-short run still
#        returns what it measured ("partial": true in the JSON). Output: $OUT/<date>-<adapter>.{json,md}
#        and $OUT/bench.log.
#   2b. device tool: run(command="bash bench/device.sh hf", carry=[".gpu"], timeout_s=300) right after 2:
#        Hugging Face generate in PyTorch on CUDA on the same models and prompt ids (issue 14 item 5).
#   3. here:         bench/device.sh unpack <files_at>
#        copies the results into bench/results/ (then update the README's Performance section and commit).
set -euo pipefail
cmd=${1:-}
case "$cmd" in
  pack)
    root=$(git rev-parse --show-toplevel)
    cd "$root"
    mkdir -p .gpu
    node bench/build.mjs .gpu
    { git rev-parse HEAD | tr -d '\n'; [ -n "$(git status --porcelain --untracked-files=no -- src shaders bench public/models ':!bench/results')" ] && printf ' (+ uncommitted changes in src, shaders, bench or public/models)'; echo; } > .gpu/commit
    ../shared/gpu/pack.sh
    echo "working tree (tracked + untracked, not ignored) + .gpu: $(( ( $(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1) + $(du -sb .gpu | cut -f1) ) / 1048576 )) MiB (limit 64 MiB)"
    ;;
  run)
    cd "$(dirname "$0")/.."
    # shellcheck disable=SC1091
    source .gpu/prelude.sh
    export MSN_BENCH_COMMIT="$(cat .gpu/commit 2>/dev/null || echo unknown)"
    export MSN_CACHE_DIR=/tmp/msn-webgpu-cost
    out=${OUT:-/tmp/bench-out}
    mkdir -p "$out"
    set +e
    # 1. The cost curve and traffic (issue 11; bench/cost.ts): the default model and the Llama-3.2-1B-shaped
    #    model in f16, made here by scripts/make-model.py (2.5 GB: it cannot travel), both kernel configurations.
    if [ "${MSN_DEVICE_COST:-1}" = 1 ]; then
      timeout 120 python3 scripts/make-model.py --shape llama-3.2-1b --dtype float16 --no-check --out /tmp/m1b > "$out/make-model.log" 2>&1
      models=(); [ -f /tmp/m1b/config.json ] && models=(--model /tmp/m1b)
      timeout 150 node .gpu/bench.mjs --cost "${models[@]}" --out "$out" 2>&1 | tee "$out/cost.log"
    fi
    # 2. The full benchmark in the time left (results are saved after every stage).
    timeout "${MSN_DEVICE_FULL_S:-300}" node .gpu/bench.mjs --full --out "$out" "${@:2}" 2>&1 | tee "$out/bench.log"
    rc=${PIPESTATUS[0]}
    set -e
    # Kept on the machine (while it stays warm) for `bench/device.sh hf`, whose call gets a fresh $OUT.
    mkdir -p /tmp/msn-bench-last && cp "$out"/20*.json /tmp/msn-bench-last/ 2>/dev/null || true
    ls -la "$out"
    exit "$rc"
    ;;
  hf)
    # 4. The server baseline (issue 14 item 5), in a second call right after `run` (same warm machine):
    #    run(command="bash bench/device.sh hf", carry=[".gpu"], timeout_s=300). Hugging Face generate in
    #    PyTorch on CUDA, greedy, on the models, prompt ids and max_new_tokens of `run`'s newest results
    #    (or of the results file given as $2); bench/hf_generate.py. Output: $OUT/<date>-hf-generate-cuda.{json,md}.
    cd "$(dirname "$0")/.."
    out=${OUT:-/tmp/bench-out}
    mkdir -p "$out"
    res=${2:-$(ls -t /tmp/msn-bench-last/20*.json 2>/dev/null | grep -v -e '-cost-' -e 'hf-generate' | head -1)}
    [ -n "$res" ] || { echo "no results of bench/device.sh run on this machine: run it first (or pass a results file)"; exit 2; }
    timeout "${MSN_DEVICE_HF_S:-280}" python3 bench/hf_generate.py --bench "$res" --out "$out" 2>&1 | tee "$out/hf-generate.log"
    exit "${PIPESTATUS[0]}"
    ;;
  unpack)
    src=${2:?usage: bench/device.sh unpack <files_at>}
    root=$(git rev-parse --show-toplevel)
    find "$src" -maxdepth 2 \( -name '20*.json' -o -name '20*.md' \) -exec cp -v {} "$root/bench/results/" \;
    mkdir -p "$root/bench/results/tmp"; [ -f "$src/bench.log" ] && cp -v "$src/bench.log" "$root/bench/results/tmp/device-bench.log" || true
    ;;
  *)
    echo "usage: bench/device.sh pack | run [extra bench args] | hf [results.json] | unpack <files_at>" >&2
    exit 2
    ;;
esac
