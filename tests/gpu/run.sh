#!/bin/bash
# run.sh — the prepared GPU check of the CUDA backend (issue 7), for one run on a GPU machine.
#   1. nvidia-smi;
#   2. the programs: tests/gpu/prebuilt/pst-gpu when present (a multi-call program made here by
#      tests/gpu/build-prebuilt.sh and carried: the GPU machines have the CUDA toolkit but not
#      pst's Debian dependencies), else ./configure --with-cuda && make of test_cuda_ops,
#      test_device_step and bench_step_cuda;
#   3. test_device_step: the on-device training step against the CPU trainer (tiny BERT/GPT-2,
#      several methods, 5 steps: losses, gradients, masks, final trainables, AdamW moments);
#   4. test_cuda_ops --bench: every op against the CPU, and the PST layer ops' timings at
#      bert-base shapes (768x768, 3072x768, 768x3072, N = 32x128) on the GPU and on the CPU;
#   5. bench_step_cuda: the device PST step, bert-base 32x128 and GPT-2 small 8x512, fp32 and TF32;
#   6. if torch sees the GPU: bench/ref_step_cuda.py, the PyTorch reference step on the same
#      shapes (PST with the official argsort masks in fp32 / TF32 / bf16 autocast, dense TF32);
#   7. compute-sanitizer memcheck of test_device_step --quick and test_cuda_ops --quick (and
#      racecheck of test_cuda_ops --quick when time is left).
# Results under $OUT (or tests/gpu/out): nvidia-smi.txt, device_step.log, parity.log, bench.csv,
# bench_step_cuda.jsonl, ref_step_cuda.jsonl, memcheck*.log, racecheck.log, summary.txt.
# Exit status: 0 when both parity programs and the memchecks pass. Budget ~8 minutes (each part
# has a timeout, and the optional parts are skipped when the elapsed time says so).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-tests/gpu/out}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "run.sh: $*" | tee -a "$SUMMARY"; }
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || say "nvidia-smi failed"
head -20 "$OUT/nvidia-smi.txt"

# cuBLAS 13 of the machine's toolkit (or of a pip nvidia-cublas wheel)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -e "$d/libcublas.so.13" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && break
done
if ! ldconfig -p 2>/dev/null | grep -q libcublas.so.13 && [ -z "${LD_LIBRARY_PATH:-}" ]; then
  d=$(dirname "$(find / -xdev -name 'libcublas.so.13' 2>/dev/null | head -1)" 2>/dev/null)
  [ -n "$d" ] && [ "$d" != . ] && export LD_LIBRARY_PATH="$d"
fi

# progpath NAME: the command line of one of the three programs (the prebuilt multi-call one, or
# make's), used unquoted (the paths have no spaces)
MULTI=tests/gpu/prebuilt/pst-gpu
if [ -x "$MULTI" ]; then
  [ -d tests/gpu/prebuilt/lib ] && export LD_LIBRARY_PATH="$PWD/tests/gpu/prebuilt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "using the prebuilt $MULTI"
  progpath() { echo "$MULTI $1"; }
  CHECKBIN=$MULTI
else
  say "no prebuilt program: configure --with-cuda and make"
  { [ -x configure ] || autoreconf -fi; } > "$OUT/build.log" 2>&1
  if ./configure -q --with-cuda >> "$OUT/build.log" 2>&1 &&
     make -j"$(nproc)" tests/gpu/test_cuda_ops tests/gpu/test_device_step bench/bench_step_cuda >> "$OUT/build.log" 2>&1; then
    :
  else
    tail -30 "$OUT/build.log"
    say "FAIL: build (see build.log)"
    exit 1
  fi
  progpath() { case "$1" in bench_step_cuda) echo bench/bench_step_cuda ;; *) echo "tests/gpu/$1" ;; esac; }
  CHECKBIN=tests/gpu/test_device_step
fi
ldd "$CHECKBIN" > "$OUT/ldd.txt" 2>&1
if grep -q "not found" "$OUT/ldd.txt"; then
  cat "$OUT/ldd.txt"
  say "FAIL: missing shared libraries"
  exit 1
fi

rc=0
# ---- 3. the device training step against the CPU trainer --------------------------------------
say "device step parity: test_device_step"
timeout 150 $(progpath test_device_step) > "$OUT/device_step.log" 2>&1
drc=$?
grep -E "^(FAIL|device|==|test_device_step)|near-tie" "$OUT/device_step.log" | head -80
say "test_device_step exit status $drc ($(grep -c '^ok' "$OUT/device_step.log") ok, $(grep -c '^FAIL' "$OUT/device_step.log") FAIL)"
[ $drc -eq 0 ] || rc=1

# ---- 4. the op-level parity and layer timings ---------------------------------------------------
say "op parity + layer bench: test_cuda_ops --bench ($(elapsed) s)"
timeout 200 $(progpath test_cuda_ops) --bench --bench-out "$OUT/bench.csv" > "$OUT/parity.log" 2>&1
prc=$?
grep -E "^(FAIL|device|parity|bench|shape|[0-9]+x[0-9]+ )|passed" "$OUT/parity.log"
say "test_cuda_ops exit status $prc ($(grep -c '^ok' "$OUT/parity.log") ok, $(grep -c '^FAIL' "$OUT/parity.log") FAIL)"
[ $prc -eq 0 ] || rc=1

# ---- 5. the device step benchmark ---------------------------------------------------------------
: > "$OUT/bench_step_cuda.jsonl"
for spec in "bert-base 32 128" "gpt2-small 8 512"; do
  set -- $spec
  for tf32 in 0 1; do
    if [ "$(elapsed)" -gt 330 ]; then say "bench_step_cuda $1 tf32=$tf32 skipped (time)"; continue; fi
    timeout 100 $(progpath bench_step_cuda) --shape "$1" --batch "$2" --seq "$3" --steps 10 --warmup 2 --tf32 $tf32 \
      >> "$OUT/bench_step_cuda.jsonl" 2> "$OUT/bench_step_cuda.err"
    brc=$?
    [ $brc -eq 0 ] || { say "bench_step_cuda $1 tf32=$tf32: exit status $brc"; tail -5 "$OUT/bench_step_cuda.err"; }
  done
done
cat "$OUT/bench_step_cuda.jsonl"

# ---- 6. the PyTorch reference on the same device ------------------------------------------------
PY=${PST_PYTHON:-python3}
: > "$OUT/ref_step_cuda.jsonl"
if timeout 60 "$PY" -c "import torch; assert torch.cuda.is_available()" > "$OUT/torch_check.txt" 2>&1; then
  for spec in "bert-base 32 128" "gpt2-small 8 512"; do
    set -- $spec
    if [ "$(elapsed)" -gt 360 ]; then say "ref_step_cuda $1 skipped (time)"; continue; fi
    timeout 120 "$PY" bench/ref_step_cuda.py --shape "$1" --batch "$2" --seq "$3" --steps 5 --warmup 2 \
      --runs pst:fp32,pst:tf32,pst:bf16,dense:tf32 >> "$OUT/ref_step_cuda.jsonl" 2> "$OUT/ref_step_cuda.err" ||
      { say "ref_step_cuda $1: exit status $?"; tail -5 "$OUT/ref_step_cuda.err"; }
  done
  cat "$OUT/ref_step_cuda.jsonl"
else
  say "PyTorch reference skipped: $PY cannot use torch on the GPU ($(tail -1 "$OUT/torch_check.txt"))"
fi

# ---- 7. compute-sanitizer -----------------------------------------------------------------------
SAN=$(command -v compute-sanitizer || true)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [ -z "$SAN" ] && [ -x "$c" ] && SAN=$c
done
if [ -n "$SAN" ]; then
  for p in test_device_step test_cuda_ops; do
    if [ "$(elapsed)" -gt 420 ]; then say "memcheck of $p skipped (time): not checked"; continue; fi
    timeout 100 "$SAN" --tool memcheck --leak-check full --error-exitcode 3 $(progpath $p) --quick \
      > "$OUT/memcheck-$p.log" 2>&1
    mrc=$?
    tail -5 "$OUT/memcheck-$p.log"
    say "memcheck of $p --quick: exit status $mrc"
    [ $mrc -eq 0 ] || rc=1
  done
  if [ "$(elapsed)" -lt 440 ]; then
    timeout 60 "$SAN" --tool racecheck --error-exitcode 3 $(progpath test_cuda_ops) --quick > "$OUT/racecheck.log" 2>&1
    say "racecheck (test_cuda_ops --quick) exit status $? (informational)"
    tail -3 "$OUT/racecheck.log"
  fi
else
  say "compute-sanitizer not found: memcheck skipped"
fi
say "done in $(elapsed) s, status $rc"
exit $rc
