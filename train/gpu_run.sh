#!/usr/bin/env bash
# Train `small` (~15M params) end to end on one GPU in about 8 minutes, from the data packed by
# gpu_pack.sh: pretrain (time-budgeted) -> MSN + plain-SFT fine-tunes (same base/data/steps/seed) ->
# evaluate (float64) -> export. Writes to $OUT (what the device tool brings back; at most 8 files of
# <= 16 MiB): the MSN model folder as a tar split in 15 MB parts, training_metrics.json, gpu_run.log.
#
#     bash train/gpu_run.sh                                  # on the H200 (python3 = its torch 2.11 + CUDA)
#     SIZE=toy DEVICE=cpu PY=.venv/bin/python PRETRAIN_MIN=0.3 FT_STEPS=3 N_PROMPTS=2 bash train/gpu_run.sh  # CPU smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-small}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
PACK=${PACK:-train/out/gpu_pack}
OUT=${OUT:-train/out/gpu_out}
WORK=${WORK:-/tmp/msn_$SIZE}
NAME=${NAME:-msn-code-$SIZE}
PRETRAIN_MIN=${PRETRAIN_MIN:-3.0}      # wall-clock budget of the pretraining loop (incl. compile)
BATCH=${BATCH:-128}                    # x 256 tokens per step
LR=${LR:-1.5e-3}
MIN_LR=${MIN_LR:-1.5e-4}
FT_STEPS=${FT_STEPS:-640}              # ~3 epochs of the ~13.6k pairs at batch 64
FT_BATCH=${FT_BATCH:-64}
FT_LR=${FT_LR:-5e-4}
NOISE_LEN=${NOISE_LEN:-5}
N_PROMPTS=${N_PROMPTS:-64}
THREADS=${THREADS:-8}
COMPILE=${COMPILE:-1}
mkdir -p "$OUT" "$WORK/data"
exec > >(tee "$OUT/gpu_run.log") 2>&1
export PYTHONUNBUFFERED=1
t0=$(date +%s)
log() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

log "unpack $PACK -> $WORK/data"
(cd "$PACK/data" && sha256sum -c --quiet ../SHA256SUMS)
for f in "$PACK"/data/*.gz; do gunzip -c "$f" > "$WORK/data/$(basename "${f%.gz}")"; done
cp -r "$PACK/data/tokenizer" "$PACK/data/sources.json" "$WORK/data/"
$PY -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))"

gpu_flags=(); ft_flags=()
if [ "$DEVICE" = cuda ]; then
  [ "$COMPILE" = 1 ] && gpu_flags+=(--compile)
  ft_flags+=(--bf16)
fi

log "pretrain $SIZE (budget $PRETRAIN_MIN min)"
$PY train/pretrain.py --size "$SIZE" --data "$WORK/data" --out "$WORK/base" --device "$DEVICE" \
  --batch-size "$BATCH" --max-steps 1000000 --time-budget-min "$PRETRAIN_MIN" --warmup-steps 100 --calib-steps 40 \
  --lr "$LR" --min-lr "$MIN_LR" --eval-interval 500 --eval-batches 16 --log-interval 100 \
  --ckpt-interval 100000000 --threads "$THREADS" "${gpu_flags[@]}"

pids=()
for mode in msn sft; do          # the twins side by side on the one GPU (same data, steps, seed)
  log "finetune $mode ($FT_STEPS steps)"
  $PY train/finetune.py --base "$WORK/base" --mode "$mode" --noise-len "$NOISE_LEN" --out "$WORK/$mode" \
    --data "$WORK/data" --max-steps "$FT_STEPS" --batch-size "$FT_BATCH" --lr "$FT_LR" --warmup-steps 30 \
    --save-steps 100000000 --threads "$THREADS" "${ft_flags[@]}" > "$WORK/finetune_$mode.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { tail -30 "$WORK"/finetune_*.log; exit 1; }; done
grep -h -E "^(msn|sft):" "$WORK"/finetune_*.log

log "export (f16) + evaluate"
for m in msn sft base; do
  $PY train/export.py --model "$WORK/$m" --name "$m" --models-dir "$WORK/eval_models" --tokenizer "$WORK/data/tokenizer" \
    --data "$WORK/data" >/dev/null
done
$PY train/evaluate.py --base "$WORK/eval_models/base" --sft "$WORK/eval_models/sft" --msn "$WORK/eval_models/msn" \
  --out "$WORK/training_metrics.json" --pairs "$WORK/data/sft_test.jsonl" --n-prompts "$N_PROMPTS" \
  --device "$DEVICE" --threads "$THREADS"
$PY train/export.py --model "$WORK/msn" --name "$NAME" --models-dir "$WORK/models" --default \
  --tokenizer "$WORK/data/tokenizer" --data "$WORK/data" --metrics "$WORK/training_metrics.json" \
  --description "$SIZE Llama Python code model, MSN fine-tuned on one H200"

tar -C "$WORK/models" -cf - "$NAME" | split -b 15000000 - "$OUT/$NAME.tar.part-"
cp "$WORK/training_metrics.json" "$OUT/training_metrics.json"
ls -l "$OUT"
log "done"
