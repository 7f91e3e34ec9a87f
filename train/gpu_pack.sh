#!/usr/bin/env bash
# Pack the data for the `small` run on the H200 machine into train/out/gpu_pack/ (git-ignored, ~15 MB).
# The scripts travel with the repository itself; only the data has to be carried.
#
#     train/gpu_pack.sh
# then, with the device tool (one command, ~8 min):
#     run(command="bash train/gpu_run.sh", carry=["train/out/gpu_pack"], timeout_s=600)
# and bring the model home (see train/README.md):
#     train/gpu_unpack.sh <files_at folder>
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PACK=train/out/gpu_pack
B=train/data/build
[ -f $B/sft_train.jsonl ] || nice -n 19 $PY train/prepare_data.py
[ -f $B/train.bin ] || nice -n 19 $PY train/tokenizer.py

rm -rf $PACK
mkdir -p $PACK/data
for f in train.bin val.bin sft_train.jsonl sft_val.jsonl sft_test.jsonl; do
  nice -n 19 gzip -6 -c $B/$f > $PACK/data/$f.gz
done
cp -r $B/tokenizer $PACK/data/tokenizer
cp $B/sources.json $B/token_counts.json $PACK/data/
(cd $PACK/data && sha256sum $(find . -type f | sort) > ../SHA256SUMS)

pack=$(du -sb $PACK | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
total=$((pack + tree))
printf 'gpu_pack: %s (%.1f MB) + working tree (%.1f MB) = %.1f MB of the 64 MiB (67.1 MB) transfer limit\n' \
  "$PACK" "$(echo "$pack/1000000" | bc -l)" "$(echo "$tree/1000000" | bc -l)" "$(echo "$total/1000000" | bc -l)"
if [ "$total" -gt $((62 * 1024 * 1024)) ]; then
  echo "gpu_pack: too large for one transfer: slim the working tree first" >&2
  exit 1
fi
echo 'gpu_pack: run on the H200 with: bash train/gpu_run.sh   (carry: train/out/gpu_pack)'
