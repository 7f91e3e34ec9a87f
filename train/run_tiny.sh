#!/usr/bin/env bash
# The whole tiny pipeline on this CPU machine, resumable: rerun the same command after any stop and it
# continues where it left off (finished stages are skipped, interrupted training resumes from its checkpoint).
#
#     nohup train/run_tiny.sh > train/out/run_tiny.log 2>&1 &     # everything (~45 min on 2 shared cores)
#     train/run_tiny.sh sft-twin                                  # only what the plain-SFT twin needs
#
# Stages: data (prepare_data.py) -> tokenizer (tokenizer.py) -> pretrain -> finetune msn + sft (same base,
# data, steps, seed) -> evaluate -> export public/models/msn-code-tiny (default) and msn-code-tiny-sft.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
NICE=${NICE:-nice -n 19}
RUN=${RUN:-train/out/tiny}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-1500}
FT_STEPS=${FT_STEPS:-500}
# L = 3 for tiny (the paper's default is 5): at this CPU scale L = 5 cost 3.3 % of held-out loss, L = 3
# 2.1 % with most of the acceptance gain (train/README.md, Experiments).
NOISE_LEN=${NOISE_LEN:-3}
WHAT=${1:-all}
mkdir -p "$RUN"
[ -x "$PY" ] || train/setup_env.sh

log() { echo "[$(date +%H:%M:%S)] $*"; }

if [ ! -f train/data/build/sft_train.jsonl ]; then
  log "data"; $NICE $PY train/prepare_data.py
fi
if [ ! -f train/data/build/train.bin ]; then
  log "tokenizer"; $NICE $PY train/tokenizer.py
fi
if [ ! -f "$RUN/base/train_log.json" ]; then
  log "pretrain ($PRETRAIN_STEPS steps)"
  $NICE $PY train/pretrain.py --size tiny --out "$RUN/base" --max-steps "$PRETRAIN_STEPS" --resume
fi

modes="msn sft"
[ "$WHAT" = sft-twin ] && modes="sft"
pids=()
for mode in $modes; do     # the twins run side by side, one thread each (same data, steps, seed)
  if [ ! -f "$RUN/$mode/finetune_log.json" ]; then
    log "finetune $mode ($FT_STEPS steps)"
    $NICE $PY train/finetune.py --base "$RUN/base" --mode "$mode" --noise-len "$NOISE_LEN" --out "$RUN/$mode" \
      --max-steps "$FT_STEPS" --threads 1 --resume > "$RUN/finetune_$mode.log" 2>&1 &
    pids+=($!)
  fi
done
for p in "${pids[@]}"; do wait "$p" || { echo "finetune failed: see $RUN/finetune_*.log" >&2; exit 1; }; done

if [ "$WHAT" = sft-twin ]; then
  metrics=()
  [ -f "$RUN/training_metrics.json" ] && metrics=(--metrics "$RUN/training_metrics.json")
  $NICE $PY train/export.py --model "$RUN/sft" --name msn-code-tiny-sft --tokenizer train/data/build/tokenizer \
    "${metrics[@]}" --description "plain-SFT twin of msn-code-tiny (same base, data, steps, seed; no noise)"
  exit 0
fi

if [ ! -f "$RUN/training_metrics.json" ]; then
  log "evaluate"
  # evaluate the exported f16 weights (what ships), in float64
  $NICE $PY train/export.py --model "$RUN/msn" --name msn-code-tiny --models-dir "$RUN/export" --tokenizer train/data/build/tokenizer
  $NICE $PY train/export.py --model "$RUN/sft" --name msn-code-tiny-sft --models-dir "$RUN/export" --tokenizer train/data/build/tokenizer
  $NICE $PY train/export.py --model "$RUN/base" --name base --models-dir "$RUN/export" --tokenizer train/data/build/tokenizer
  $NICE $PY train/evaluate.py --base "$RUN/export/base" --sft "$RUN/export/msn-code-tiny-sft" \
    --msn "$RUN/export/msn-code-tiny" --out "$RUN/training_metrics.json.tmp"
  mv "$RUN/training_metrics.json.tmp" "$RUN/training_metrics.json"
fi

log "export"
NOTES=${NOTES:-"Honest reading: with noise_len L = 3 MSN clearly raises acceptance (Jacobi and tree MAT, also on non-looping outputs) at a held-out loss about 2 % above the SFT twin, inside the issue's 3 % bound. L = 5 (the paper's default) gave more tree acceptance but cost 3.3 % of loss, and L = 5 with 1000 steps 4.2 % (train/README.md, Experiments). The GPU pilot saw MSN lower the loss only after many epochs."}
$NICE $PY train/export.py --model "$RUN/msn" --name msn-code-tiny --default --tokenizer train/data/build/tokenizer \
  --metrics "$RUN/training_metrics.json" --notes "$NOTES" \
  --description "3.2M-parameter Llama Python code model, MSN fine-tuned (CPU-trained default)"
$NICE $PY train/export.py --model "$RUN/sft" --name msn-code-tiny-sft --tokenizer train/data/build/tokenizer \
  --metrics "$RUN/training_metrics.json" --notes "$NOTES" \
  --description "plain-SFT twin of msn-code-tiny (same base, data, steps, seed; no noise)"
log "done: public/models/msn-code-tiny (+ -sft); commit with: git add train public/models && git commit -- train public/models"
