#!/usr/bin/env bash
# noise_len experiment (train/README.md, Experiments): MSN fine-tuning with segment length L on the shipped
# base, same data, steps and seed; the plain-SFT twin of train/out/tiny is reused; evaluated on the
# validation pairs (hyper-parameters are chosen on validation data, never on the test split). Writes only under
# train/out/tiny_L<L>/ (nothing in public/models). Needs train/run_tiny.sh to have run once.
#
#     train/experiment_noise_len.sh 2 [N_PROMPTS=100]      # ~6 min training + ~5 min evaluation
set -euo pipefail
cd "$(dirname "$0")/.."
L=${1:?usage: train/experiment_noise_len.sh <noise_len> [n_prompts]}
N=${2:-100}
PY=${PY:-.venv/bin/python}
NICE=${NICE:-nice -n 19}
RUN=train/out/tiny_L$L
[ -f train/out/tiny/base/train_log.json ] && [ -d train/out/tiny/export/msn-code-tiny-sft ] ||
  { echo "run train/run_tiny.sh first (needs train/out/tiny/base and its exported SFT twin)" >&2; exit 1; }
mkdir -p "$RUN"
if [ ! -f "$RUN/msn/finetune_log.json" ]; then
  $NICE $PY train/finetune.py --base train/out/tiny/base --mode msn --noise-len "$L" --out "$RUN/msn" \
    --max-steps "${FT_STEPS:-500}" --threads 1 --resume > "$RUN/finetune_msn.log" 2>&1
fi
$NICE $PY train/export.py --model "$RUN/msn" --name msn-code-tiny --models-dir "$RUN/export" --tokenizer train/data/build/tokenizer
# selection on the VALIDATION pairs (never the test prompts): the runtime's TR-Jacobi, MSN vs its SFT twin
$NICE $PY train/evaluate.py --model "$RUN/export/msn-code-tiny" --compare train/out/tiny/export/msn-code-tiny-sft \
  --data train/data/build/sft_val.jsonl --n-prompts "$N" --threads 1 --extras top10-proxy --out "$RUN/val_metrics.json"
echo "metrics: $RUN/val_metrics.json"
