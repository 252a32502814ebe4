#!/bin/sh
# run_resume.sh — checkpoints survive what supercomputer jobs go through (issue 5):
#  1. exact resume: a run stopped by SIGTERM after some step and resumed with --resume auto
#     ends with trainables, masks, results.json and metrics.jsonl (less elapsed_s)
#     byte-identical to the uninterrupted run; the same for SIGUSR1 on a 1 x 2 MPI job;
#  2. reshard: a checkpoint written on dp 2 x tp 2 resumes on 1x1, 4x1 and 1x4: masks equal at
#     every step, losses and tensors within 1e-5 (tests/mpi/compare_runs.py); a tiny LLaMA:
#     exact resume, and written on 1 x 2 at step 12, resumed on 2 x 1;
#  3. corruption: the newest checkpoint with bytes flipped, or truncated, is reported and
#     --resume auto takes the previous one;
#  4. SIGKILL of the process group at a random moment, 20 times (mid-write included, with a
#     checkpoint every step): every checkpoint left reads back completely, and every checkpoint
#     that was complete before the trial is still there unless ckpt.keep newer ones exist.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$(cd "$top_builddir" && pwd)/pst"
PY=${PST_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

base="-c $top_srcdir/inputs/tiny-random.ini data.dev=demo/dev.ids.tsv train.eval_every=5 train.batch_size=8
  train.seq_len=32 model.hidden=64 model.ffn=256 train.seed=1 train.log_every=100 dist.check_replicas=1"
A="$base train.steps=20 ckpt.every=4"

same_run() { # same_run REF RUN: byte-identical outputs (metrics without elapsed_s)
  cmp -s "$1/trainables.safetensors" "$2/trainables.safetensors" && cmp -s "$1/results.json" "$2/results.json" &&
    sed 's/"elapsed_s":[0-9.]*//' "$1/metrics.jsonl" >"$tmp/m1" && sed 's/"elapsed_s":[0-9.]*//' "$2/metrics.jsonl" >"$tmp/m2" &&
    cmp -s "$tmp/m1" "$tmp/m2"
}

steps_logged() { n=$(grep -c '"step"' "$1/metrics.jsonl" 2>/dev/null); echo "${n:-0}"; }

# stop LAUNCHER... : start in the background, signal after >= 7 steps, expect exit 75
stop_at_7() {
  sig=$1 dir=$2
  shift 2
  "$@" "train.run_dir=$dir" 2>"$dir.err" &
  pid=$!
  n=0
  while [ "$(steps_logged "$dir")" -lt 7 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
  kill -"$sig" $pid
  wait $pid
}

# 1. exact resume, one process and 1 x 2 under mpirun
"$PST" train $A "train.run_dir=$tmp/full" 2>/dev/null || fail "uninterrupted run"
stop_at_7 TERM "$tmp/res" "$PST" train $A; rc=$?
if [ $rc -eq 75 ] && grep -q "stopped by signal 15 after step" "$tmp/res.err" &&
   "$PST" train $A "train.run_dir=$tmp/res" --resume auto 2>"$tmp/res2.err" && same_run "$tmp/full" "$tmp/res"; then
  ok "SIGTERM at step $(grep -o 'after step [0-9]*' "$tmp/res.err" | cut -d' ' -f3), resumed: byte-identical results"
else
  fail "exact resume (exit $rc)"; tail -3 "$tmp/res.err" "$tmp/res2.err"
fi
mpirun -np 2 "$PST" train $A dist.tp=2 "train.run_dir=$tmp/mfull" 2>/dev/null || fail "1x2 uninterrupted run"
stop_at_7 USR1 "$tmp/mres" mpirun -np 2 "$PST" train $A dist.tp=2; rc=$?
if [ $rc -eq 75 ] && mpirun -np 2 "$PST" train $A dist.tp=2 "train.run_dir=$tmp/mres" --resume auto 2>"$tmp/mres2.err" &&
   same_run "$tmp/mfull" "$tmp/mres"; then
  ok "1x2 job, SIGUSR1 through mpirun, resumed: byte-identical results"
else
  fail "1x2 exact resume (exit $rc)"; tail -3 "$tmp/mres.err" "$tmp/mres2.err"
fi

# a second signal while the checkpoint is being written changes nothing: exit 75, and the
# newest checkpoint (and the one before) read back
"$PST" train $A ckpt.every=1 "train.run_dir=$tmp/twice" 2>"$tmp/twice.err" &
pid=$!
n=0
while [ "$(steps_logged "$tmp/twice")" -lt 5 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
kill -TERM $pid; sleep 0.01; kill -TERM $pid 2>/dev/null
wait $pid; rc=$?
set -- $(ls "$tmp/twice/checkpoints"/ckpt-*.h5 | sort -r)
if [ $rc -eq 75 ] && [ $# -ge 2 ] &&
   "$PST" inspect "$1" >/dev/null 2>&1 && "$PST" inspect "$2" >/dev/null 2>&1; then
  ok "two SIGTERMs: exit 75, $(basename "$1") and $(basename "$2") verified by pst inspect"
else
  fail "two SIGTERMs (exit $rc)"; tail -3 "$tmp/twice.err"
fi

# 2. reshard: written on 2x2, resumed on 1x1, 4x1, 1x4
R="$base data.dev= train.steps=20 ckpt.every=10"
"$PST" train $R "train.run_dir=$tmp/rfull" 2>/dev/null || fail "reshard reference run"
mpirun -np 4 "$PST" train $R dist.tp=2 "train.run_dir=$tmp/r22" 2>/dev/null || fail "2x2 run"
for layout in 1x1 4x1 1x4; do
  dp=${layout%x*}; tp=${layout#*x}; np=$((dp * tp))
  mkdir -p "$tmp/r$layout" && cp "$tmp/r22/metrics.jsonl" "$tmp/r$layout/"
  if mpirun -np $np "$PST" train $R dist.tp=$tp "train.run_dir=$tmp/r$layout" \
       --resume "$tmp/r22/checkpoints/ckpt-00000010.h5" 2>"$tmp/err" &&
     "$PY" "$top_srcdir/tests/mpi/compare_runs.py" "$tmp/rfull" "$tmp/r$layout" 1e-5; then
    ok "written 2x2 at step 10, resumed on $layout"
  else
    fail "reshard 2x2 -> $layout"; tail -3 "$tmp/err"
  fi
done

# the LLaMA family (tests/fixtures/llama-tiny.ini: grouped-query attention, tied head, LM on E2E
# pairs): SIGTERM and exact resume; a checkpoint written on 1 x 2 resumed on 2 x 1
shared=$(cd "$top_srcdir/../shared/data" && pwd)
head -n 120 "$shared/e2e/lora/train.txt" >"$tmp/e2e.txt"
head -n 16 "$shared/e2e/lora/valid.txt" >"$tmp/e2e-dev.txt"
L="-c $top_srcdir/tests/fixtures/llama-tiny.ini data.train=$tmp/e2e.txt data.dev=$tmp/e2e-dev.txt
  data.tokenizer=$shared/vocab/gpt2 train.steps=16 train.eval_every=4 ckpt.every=4 train.log_every=100
  train.batch_size=4 dist.check_replicas=1"
"$PST" train $L "train.run_dir=$tmp/lfull" 2>/dev/null || fail "llama uninterrupted run"
stop_at_7 TERM "$tmp/lres" "$PST" train $L; rc=$?
if [ $rc -eq 75 ] && "$PST" train $L "train.run_dir=$tmp/lres" --resume auto 2>"$tmp/lres2.err" &&
   same_run "$tmp/lfull" "$tmp/lres"; then
  ok "llama: SIGTERM, resumed: byte-identical results"
else
  fail "llama exact resume (exit $rc)"; tail -n 3 "$tmp/lres.err" "$tmp/lres2.err"
fi
mpirun -np 2 "$PST" train $L dist.tp=2 "train.run_dir=$tmp/l12" 2>/dev/null || fail "llama 1x2 run"
mkdir -p "$tmp/l21" && cp "$tmp/l12/metrics.jsonl" "$tmp/l21/"
if mpirun -np 2 "$PST" train $L "train.run_dir=$tmp/l21" --resume "$tmp/l12/checkpoints/ckpt-00000012.h5" \
     2>"$tmp/err" && "$PY" "$top_srcdir/tests/mpi/compare_runs.py" "$tmp/lfull" "$tmp/l21" 1e-5; then
  ok "llama: written 1x2 at step 12, resumed on 2x1"
else
  fail "llama reshard 1x2 -> 2x1"; tail -n 3 "$tmp/err"
fi

# 3. a corrupted or truncated newest checkpoint: reported, the previous one is used
for damage in flip truncate; do
  d="$tmp/c-$damage"
  mkdir -p "$d" && cp -r "$tmp/full/checkpoints" "$d/" && cp "$tmp/full/metrics.jsonl" "$d/"
  newest="$d/checkpoints/ckpt-00000020.h5"
  size=$(stat -c %s "$newest")
  if [ $damage = flip ]; then # 4 KiB of 0xA5 in the middle: deterministic (the file is)
    head -c 4096 /dev/zero | tr '\0' '\245' | dd of="$newest" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
  else
    truncate -s $((size * 2 / 3)) "$newest"
  fi
  if "$PST" train $A "train.run_dir=$d" --resume auto 2>"$tmp/err" &&
     grep -q "skipping checkpoint .*ckpt-00000020.h5" "$tmp/err" && grep -q "resumed from .*ckpt-00000016.h5" "$tmp/err" &&
     same_run "$tmp/full" "$d"; then
    ok "$damage newest checkpoint: $(grep -o 'skipping checkpoint.*' "$tmp/err" | cut -c1-150)"
  else
    fail "$damage newest checkpoint"; tail -5 "$tmp/err"
  fi
done

# 4. SIGKILL at random moments, 20 trials, a checkpoint every step (ckpt.keep = 2). After each
# kill: every checkpoint file present reads back completely (pst inspect: datasets and checksums),
# and every checkpoint that was complete before the trial started is still there, unless pruning
# removed it, i.e. at least ckpt.keep newer complete checkpoints exist.
K="$base data.dev= train.steps=100000 ckpt.every=1 ckpt.keep=2"
readable() { "$PST" inspect "$1" >/dev/null 2>&1; } # every dataset read back, checksums verified
kd="$tmp/kill"
lost=0 checked=0
for trial in $(seq 1 20); do
  before=$(ls "$kd/checkpoints" 2>/dev/null | grep '^ckpt-.*\.h5$' | sort)
  setsid "$PST" train $K "train.run_dir=$kd" --resume auto >/dev/null 2>&1 &
  pid=$!
  # 0.3 .. 1.5 s: start-up, the resume, and several checkpoint writes
  delay=$(od -An -N2 -tu2 /dev/urandom | awk '{ printf "%.2f", 0.3 + ($1 % 1200) / 1000 }')
  sleep "$delay"
  kill -9 -$pid 2>/dev/null
  wait $pid 2>/dev/null
  after=$(ls "$kd/checkpoints" 2>/dev/null | grep '^ckpt-.*\.h5$' | sort)
  for f in $after; do
    checked=$((checked + 1))
    readable "$kd/checkpoints/$f" || { lost=$((lost + 1)); echo "  trial $trial (killed after ${delay} s): $f does not read back"; }
  done
  for f in $before; do
    echo "$after" | grep -qx "$f" && continue
    newer=$(echo "$after" | awk -v f="$f" 'NF && $0 > f' | wc -l)
    if [ "$newer" -lt 2 ]; then
      lost=$((lost + 1)); echo "  trial $trial (killed after ${delay} s): $f, complete before, is gone with $newer newer"
    fi
  done
done
n=$(ls "$kd/checkpoints"/ckpt-*.h5 2>/dev/null | wc -l)
if [ $lost -eq 0 ] && [ "$n" -ge 1 ]; then
  ok "20 SIGKILLs: every checkpoint left read back ($checked checks), none complete before a kill lost except by pruning ($(ls "$kd/checkpoints" | tr '\n' ' '))"
else
  fail "SIGKILL trials: $lost bad"
fi

[ $fails -eq 0 ] && echo "checkpoints: all passed" || echo "checkpoints: $fails failed"
[ $fails -eq 0 ]
