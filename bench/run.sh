#!/bin/sh
# run.sh — time pst's training step next to the PyTorch reference, in one run.
#
#   bench/run.sh [--shape bert-base] [--batch 8] [--seq 128] [--steps 3] [--ref-steps 2] [--threads 2]
#
# Runs (same shape, same machine, one after the other): pst's top-k vs qsort on a 768x3072
# score matrix; pst's PST step (bench/bench_step); the reference PST step and the reference
# dense fine-tuning step (bench/ref_step.py, Debian's torch, the official argsort masks).
# Both sides use OpenBLAS's fast kernels: OPENBLAS_CORETYPE is set for torch the way pst picks
# it for itself, and torch is timed with both Debian OpenBLAS builds (pthreads, OpenMP) and
# the faster one is reported. Prints the JSON lines and a summary with ratios. Build first
# (make bench/bench_step).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
shape=bert-base batch=8 seq=128 steps=3 ref_steps=2 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) shape=$2 ;; --batch) batch=$2 ;; --seq) seq=$2 ;; --steps) steps=$2 ;;
    --ref-steps) ref_steps=$2 ;; --threads) threads=$2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
bench="$top/bench/bench_step"
[ -x "$bench" ] || { echo "run.sh: build first: make bench/bench_step" >&2; exit 1; }
PY=${PST_PYTHON:-/usr/bin/python3}
if grep -q avx512f /proc/cpuinfo; then core=SkylakeX; elif grep -q avx2 /proc/cpuinfo; then core=Haswell; else core=; fi
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
omp_blas="/usr/lib/$multiarch/openblas-openmp"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') | $(nproc) cores | threads $threads"
OMP_NUM_THREADS=$threads "$bench" --topk 768x3072 | tee -a "$out"
OMP_NUM_THREADS=$threads "$bench" --shape "$shape" --method pst --batch "$batch" --seq "$seq" --steps "$steps" \
  --threads "$threads" | tee -a "$out"
ref() { # ref METHOD BLAS-LABEL [LD_LIBRARY_PATH]
  env ${3:+LD_LIBRARY_PATH=$3} ${core:+OPENBLAS_CORETYPE=$core} "$PY" "$here/ref_step.py" --shape "$shape" \
    --method "$1" --batch "$batch" --seq "$seq" --steps "$ref_steps" --threads "$threads" |
    sed "s/}\$/, \"blas_build\": \"$2\"}/" | tee -a "$out"
}
for method in pst dense; do
  ref "$method" pthreads
  [ -d "$omp_blas" ] && ref "$method" openmp "$omp_blas"
done

"$PY" - "$out" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
topk = next(r for r in rows if r.get("bench") == "topk")
pst = next(r for r in rows if r.get("impl") == "pst")
def best(method):
    c = [r for r in rows if r.get("impl") == "torch" and r["method"] == method]
    return min(c, key=lambda r: r["ms_per_step"])
rp, rd = best("pst"), best("dense")
print("\n| step (%s, batch %d x seq %d) | ms/step | tokens/s | peak RSS MB | pst speed-up |" % (pst["shape"], pst["batch"], pst["seq"]))
print("|---|---|---|---|---|")
print("| pst, PST (%s kernels) | %.0f | %.0f | %.0f | 1 |" % (pst["blas"], pst["ms_per_step"], pst["tokens_per_s"], pst["peak_rss_mb"]))
for name, r in (("PyTorch PST (official argsort masks)", rp), ("PyTorch dense fine-tuning", rd)):
    print("| %s, %s OpenBLAS | %.0f | %.0f | %.0f | %.2fx |" % (name, r["blas_build"], r["ms_per_step"],
          r["tokens_per_s"], r["peak_rss_mb"], r["ms_per_step"] / pst["ms_per_step"]))
print("\ntop-k of 768x3072: radix select %.2f ms, qsort %.1f ms: %.0fx" % (topk["radix_ms"], topk["qsort_ms"], topk["speedup"]))
PYEOF
