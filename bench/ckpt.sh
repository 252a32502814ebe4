#!/bin/sh
# ckpt.sh — checkpoint size and write / read time, bert-base shape (random frozen weights),
# at sparsity 0.5 and 0.9, on 1, 2 and 4 ranks (tp = ranks, so every rank writes its slices).
# Size: the HDF5 file (trainables + Adam moments + the CSR of every sparsified weight) against
# a dense fp32 bert-base (109,482,240 parameters = 437.9 MB) and against the dense
# sparsified linears alone (84,934,656 = 339.7 MB). Write: pst's "checkpoint ... (X s)" line
# (collective write, flush, fsync, rename); read: --resume of that file ("read and verified
# in X s": every rank reads its slices, every dataset's checksum is verified).
#   bench/ckpt.sh [--ranks "1 2 4"] [--sparsity "0.5 0.9"]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
ranks="1 2 4" sparsities="0.5 0.9"
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks=$2 ;; --sparsity) sparsities=$2 ;;
    *) echo "ckpt.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pst-ckpt-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
base="-c $top/inputs/tiny-random.ini model.hidden=768 model.layers=12 model.heads=12 model.ffn=3072
  model.vocab=30522 model.max_positions=512 model.init_std=0.02 train.steps=1 train.batch_size=4
  train.seq_len=32 data.dev= pst.warmup_frac=0 pst.cooldown_frac=0"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') | $(getconf _NPROCESSORS_ONLN) cores | $(df -T "$tmp" | awk 'NR==2 { print $2 }') file system"
echo "| sparsity | ranks (tp) | file MB | vs dense bert-base | vs dense linears | write s | read+verify s |"
echo "|---|---|---|---|---|---|---|"
for s in $sparsities; do
  for r in $ranks; do
    run="$tmp/s$s-r$r"
    mpirun -np "$r" "$top/pst" train $base dist.tp="$r" pst.sparsity_init="$s" pst.sparsity_final="$s" \
      "train.run_dir=$run" >"$run.log" 2>&1
    file=$(ls "$run"/checkpoints/ckpt-*.h5)
    w=$(grep -o 'checkpoint .* (\([0-9.]*\) s)' "$run.log" | sed 's/.*(\([0-9.]*\) s)/\1/')
    mpirun -np "$r" "$top/pst" train $base dist.tp="$r" pst.sparsity_init="$s" pst.sparsity_final="$s" \
      "train.run_dir=$run-read" --resume "$file" >"$run-read.log" 2>&1
    rd=$(grep -o 'verified in [0-9.]* s' "$run-read.log" | awk '{ print $3 }')
    bytes=$(stat -c %s "$file")
    awk -v s="$s" -v r="$r" -v b="$bytes" -v w="$w" -v rd="$rd" 'BEGIN {
      printf "| %s | %s | %.1f | %.1f%% | %.1f%% | %s | %s |\n", s, r, b / 1e6, 100 * b / 437929e3, 100 * b / 339738.6e3, w, rd }'
  done
done
