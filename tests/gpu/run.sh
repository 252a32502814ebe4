#!/bin/bash
# run.sh — the prepared GPU check of the CUDA backend (issue 7), for one run on a GPU machine.
#   1. nvidia-smi;
#   2. the program: tests/gpu/prebuilt/test_cuda_ops when present (made here by
#      tests/gpu/build-prebuilt.sh and carried: the GPU machines have the CUDA toolkit but not
#      pst's Debian dependencies), else ./configure --with-cuda && make tests/gpu/test_cuda_ops;
#   3. the parity suite (every op against the CPU) and the timings of the PST layer ops at
#      bert-base shapes (768x768, 3072x768, 768x3072, N = 32x128) on the GPU and on the CPU;
#   4. compute-sanitizer memcheck (and racecheck) on the short run (--quick).
# Results under $OUT (or tests/gpu/out): nvidia-smi.txt, parity.log, bench.csv, memcheck.log,
# racecheck.log, summary.txt. Exit status: 0 when parity and memcheck pass. Budget ~5 minutes.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-tests/gpu/out}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "run.sh: $*" | tee -a "$SUMMARY"; }
T0=$(date +%s)

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

PROG=tests/gpu/prebuilt/test_cuda_ops
if [ -x "$PROG" ]; then
  [ -d tests/gpu/prebuilt/lib ] && export LD_LIBRARY_PATH="$PWD/tests/gpu/prebuilt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "using the prebuilt $PROG"
else
  say "no prebuilt program: configure --with-cuda and make"
  { [ -x configure ] || autoreconf -fi; } > "$OUT/build.log" 2>&1
  if ./configure -q --with-cuda >> "$OUT/build.log" 2>&1 && make -j"$(nproc)" tests/gpu/test_cuda_ops >> "$OUT/build.log" 2>&1; then
    PROG=tests/gpu/test_cuda_ops
  else
    tail -30 "$OUT/build.log"
    say "FAIL: build (see build.log)"
    exit 1
  fi
fi
ldd "$PROG" > "$OUT/ldd.txt" 2>&1
if grep -q "not found" "$OUT/ldd.txt"; then
  cat "$OUT/ldd.txt"
  say "FAIL: missing shared libraries"
  exit 1
fi

rc=0
say "parity + bench: $PROG --bench"
timeout 240 "$PROG" --bench --bench-out "$OUT/bench.csv" > "$OUT/parity.log" 2>&1
prc=$?
grep -E "^(FAIL|device|parity|bench|shape|[0-9]+x[0-9]+ )|passed" "$OUT/parity.log"
say "parity exit status $prc ($(grep -c '^ok' "$OUT/parity.log") ok, $(grep -c '^FAIL' "$OUT/parity.log") FAIL)"
[ $prc -eq 0 ] || rc=1

SAN=$(command -v compute-sanitizer || true)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [ -z "$SAN" ] && [ -x "$c" ] && SAN=$c
done
if [ -n "$SAN" ]; then
  timeout 150 "$SAN" --tool memcheck --leak-check full --error-exitcode 3 "$PROG" --quick > "$OUT/memcheck.log" 2>&1
  mrc=$?
  tail -5 "$OUT/memcheck.log"
  say "memcheck (--quick) exit status $mrc"
  [ $mrc -eq 0 ] || rc=1
  if [ $(( $(date +%s) - T0 )) -lt 200 ]; then
    timeout 90 "$SAN" --tool racecheck --error-exitcode 3 "$PROG" --quick > "$OUT/racecheck.log" 2>&1
    say "racecheck (--quick) exit status $? (informational)"
    tail -3 "$OUT/racecheck.log"
  fi
else
  say "compute-sanitizer not found: memcheck skipped"
fi
say "done in $(( $(date +%s) - T0 )) s, status $rc"
exit $rc
