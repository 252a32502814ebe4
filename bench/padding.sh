#!/bin/sh
# padding.sh — what padding every batch to train.seq_len costs (issue 17): the same MRPC
# training steps (all-MiniLM-L6-v2, PST to 90 %, batch 32, seq_len 128, 2 threads) with
# train.padding = seq_len, = longest, and longest + data.group_by_length, in one run so the
# ratios compare on this noisy machine. Prints seconds per step (from metrics.jsonl, the
# first step left out) and the tokens per sequence actually computed.
#
#   bench/padding.sh [STEPS]        (default 24; GLUE_DIR defaults to ../shared/data/glue)
set -eu
STEPS=${1:-24}
GLUE_DIR=${GLUE_DIR:-../shared/data/glue}
out=${OUT:-bench/out/padding}
[ -x ./pst ] || { echo "padding.sh: build first (make -j2)" >&2; exit 1; }
[ -f models/all-MiniLM-L6-v2/model.safetensors ] || { echo "padding.sh: run scripts/get-model" >&2; exit 1; }
[ -f "$GLUE_DIR/MRPC/train.tsv" ] || { echo "padding.sh: $GLUE_DIR/MRPC/train.tsv not found (set GLUE_DIR)" >&2; exit 1; }
if grep -q avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX; else OPENBLAS_CORETYPE=Haswell; fi
export OPENBLAS_CORETYPE
mkdir -p "$out"
GLUE_DIR=$(cd "$GLUE_DIR" && pwd)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u +%F)"
echo "MRPC, MiniLM, PST 0.9, batch 32 x seq_len 128, $STEPS steps, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
printf '%-26s %10s %12s %9s\n' setting "s/step" "tokens/seq" "speed-up"
base=
for setting in "seq_len" "longest" "longest group_by_length"; do
  pad=${setting%% *}
  group=false
  case $setting in *group_by_length) group=true ;; esac
  dir="$out/$(echo "$setting" | tr ' ' '-')"
  rm -rf "$dir"
  ./pst train -c inputs/sst2-minilm.ini -q data.glue_task=MRPC data.train="$GLUE_DIR/MRPC/train.tsv" data.dev= \
    train.seq_len=128 train.steps="$STEPS" train.threads=2 optim.warmup_steps=2 train.padding="$pad" \
    data.group_by_length=$group train.run_dir="$dir" ckpt.every=0 2>"$dir.log" || { cat "$dir.log" >&2; exit 1; }
  # s/step over steps 2..STEPS; metrics.jsonl's "tokens": positions computed per step (32 rows)
  sps=$(jq -s '(.[-1].elapsed_s - .[0].elapsed_s) / (length - 1)' "$dir/metrics.jsonl")
  tokseq=$(jq -s 'map(.tokens) | add / length / 32' "$dir/metrics.jsonl")
  [ -n "$base" ] || base=$sps
  printf '%-26s %10.3f %12.1f %8.2fx\n' "$setting" "$sps" "$tokseq" "$(echo "$base $sps" | awk '{print $1 / $2}')"
done
