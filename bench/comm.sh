#!/bin/sh
# comm.sh — communication per training step by phase, bert-base shape, on 2 MPI ranks:
# data parallel (dp 2 x tp 1) and tensor parallel (dp 1 x tp 2), PST and, for comparison,
# pst's own dense method at dp 2 (what dense data-parallel fine-tuning of the block linears
# and head sends). Random frozen weights (no download), UCI sentiment ids, global batch
# --batch x --seq. Prints pst's per-phase report (time and payload bytes per step, max over
# ranks; ring all-reduce payload 2 (p-1)/p n) and the ratio of PST's dp gradient bytes to
# dense fine-tuning's: pst's dense method (85.6 M trainable floats) and Hugging Face's full
# fine-tuning of bert-base (all 109.5 M parameters).
#
#   bench/comm.sh [--batch 8] [--seq 128] [--steps 3]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
batch=8 seq=128 steps=3
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch=$2 ;; --seq) seq=$2 ;; --steps) steps=$2 ;;
    *) echo "comm.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base="-c $top/inputs/tiny-random.ini model.hidden=768 model.layers=12 model.heads=12 model.ffn=3072
  model.vocab=30522 model.max_positions=512 model.init_std=0.02 train.steps=$steps train.log_every=1
  train.batch_size=$batch train.seq_len=$seq data.dev= pst.sparsity_init=0.5 pst.sparsity_final=0.9"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') | $(getconf _NPROCESSORS_ONLN) cores | 2 ranks x 1 thread | batch ${batch}x$seq, $steps steps"
run() { # run LABEL TP METHOD
  echo "## $1"
  mpirun -np 2 "$top/pst" train $base dist.tp=$2 pst.method=$3 "train.run_dir=$tmp/$1" 2>&1 |
    grep -E "trainable floats|ranks =|per step|communication|^  " | tee "$tmp/$1.txt"
}
run pst-dp2 1 pst
run pst-tp2 2 pst
run dense-dp2 1 dense
bytes() { awk '/dp gradients/ { print $(NF-1) }' "$tmp/$1.txt"; }
pst=$(bytes pst-dp2)
dense=$(bytes dense-dp2)
# full fine-tuning of bert-base (HF BertForSequenceClassification, 2 labels): 109,483,778 floats
hf=$(awk 'BEGIN { printf "%.0f", 109483778 * 4 }')
awk -v p="$pst" -v d="$dense" -v h="$hf" 'BEGIN {
  printf "dp gradient bytes per step: PST %.0f | pst dense %.0f (%.2f%%) | HF full fine-tuning %.0f (%.2f%%)\n",
    p, d, 100 * p / d, h, 100 * p / h }'
