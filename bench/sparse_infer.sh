#!/bin/sh
# sparse_infer.sh — issue 15's benchmarks: the sparse product against the dense one per layer
# shape (bench_spmm) and whole models (bench_infer): a bert-base-shaped encoder forward at
# batch 8 x 128, GPT-2-small- and SmolLM2-shaped decoding at batch 1 and 8 with the key/value
# cache, at sparsity 0, 0.5, 0.7, 0.9, 0.95. One JSON line or table row per case on stdout.
#   bench/sparse_infer.sh [THREADS]      (default 2; results in bench/RESULTS.md)
# Both sides use OpenBLAS's fast kernels (bench_* re-execute with OPENBLAS_CORETYPE if needed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
threads=${1:-2}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) threads $threads"
for shape in 768x768 3072x768 768x3072; do
  "$here/bench_spmm" --m "${shape%x*}" --n "${shape#*x}" --layers 8 --tokens 1,8,1024 --density 1,0.5,0.3,0.2,0.1,0.05
done
"$here/bench_infer" --shape bert-base --mode encode --batch 8 --seq 128 --rounds 3
for shape in gpt2-small smollm2; do
  for b in 1 8; do "$here/bench_infer" --shape $shape --mode decode --batch $b --prompt 16 --new 16 --rounds 3; done
done
