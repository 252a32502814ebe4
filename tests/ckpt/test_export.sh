#!/bin/sh
# test_export.sh — `pst inspect` and `pst export` on checkpoints of six tiny runs: a BERT
# (random weights, UCI sentiment ids, 6 steps to sparsity 0.9), the same as RoBERTa (position
# offset 2), a GPT-2 (random weights, LM on 120 E2E pairs with the GPT-2 BPE, 6 steps), the
# same GPT-2 trained on dp 1 x tp 2 (a checkpoint written as slices by two ranks), a LLaMA
# (tests/fixtures/llama-tiny.ini, tied head) and the same untied on dp 1 x tp 2.
#   inspect: the good checkpoint verifies (right step, "all N datasets verified"); a copy with 4
#     bytes flipped inside one dataset's stored chunk (its address from export_logits --chunks)
#     fails with status 1 naming that dataset; truncated and non-HDF5 files fail with status 1
#   export --format hf: logits of the exported directory under PyPI transformers 4.46.3 (CPU,
#     float32, eval) equal pst's logits for the same ids (tests/ckpt/export_logits) within
#     TOL = 1e-4 absolute (the observed maximum is printed); an existing non-empty directory
#     is refused (and left alone) unless --force; an empty one is used
#   export --format csr: the file holds /sparse/<layer>/{rowptr,col,val,bias}; no overwrite
# The reference stack is Debian's /usr/bin/python3 (torch 1.13) with transformers 4.46.3 in
# .ref/transformers (scripts/ref-transformers installs it when missing). Exit 0 = passed,
# 1 = a check failed, the reference stack unavailable included (never a skip).
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$top_builddir/pst"
LOGITS="$top_builddir/tests/ckpt/export_logits"
PY=${PST_PYTHON:-/usr/bin/python3}
REF=${PST_REF_TRANSFORMERS:-$top_srcdir/.ref/transformers}
TOL=1e-4
[ -d "$top_srcdir/../shared/data" ] || { echo "missing $top_srcdir/../shared/data (the shared data set)"; exit 1; }
shared=$(cd "$top_srcdir/../shared/data" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ---- two tiny runs ----
if ! "$PST" train -c "$top_srcdir/inputs/tiny-random.ini" model.hidden=64 model.ffn=256 train.steps=6 \
    train.batch_size=8 train.seq_len=32 data.dev= "train.run_dir=$tmp/run" 2>"$tmp/err"; then
  echo "FAIL: tiny BERT run"; cat "$tmp/err"; exit 1
fi
bert=$tmp/run/checkpoints/ckpt-00000006.h5
if ! "$PST" train -c "$top_srcdir/inputs/tiny-random.ini" model.hidden=64 model.ffn=256 train.steps=6 \
    train.batch_size=8 train.seq_len=32 data.dev= model.position_offset=2 model.max_positions=66 \
    "train.run_dir=$tmp/rrun" 2>"$tmp/err"; then
  echo "FAIL: tiny RoBERTa run"; cat "$tmp/err"; exit 1
fi
roberta=$tmp/rrun/checkpoints/ckpt-00000006.h5
head -n 120 "$shared/e2e/lora/train.txt" >"$tmp/e2e-train.txt"
gpt2ini="-c $top_srcdir/tests/fixtures/gpt2-tiny.ini data.train=$tmp/e2e-train.txt data.tokenizer=$shared/vocab/gpt2 train.steps=6"
if ! "$PST" train $gpt2ini "train.run_dir=$tmp/grun" 2>"$tmp/err"; then
  echo "FAIL: tiny GPT-2 run"; cat "$tmp/err"; exit 1
fi
gpt2=$tmp/grun/checkpoints/ckpt-00000006.h5
# the same GPT-2 trained on dp 1 x tp 2: its checkpoint was written as slices by two ranks
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
if ! OMP_NUM_THREADS=1 mpirun -np 2 "$PST" train $gpt2ini dist.tp=2 "train.run_dir=$tmp/gtprun" 2>"$tmp/err"; then
  echo "FAIL: tiny GPT-2 run on tp 2"; cat "$tmp/err"; exit 1
fi
gpt2tp=$tmp/gtprun/checkpoints/ckpt-00000006.h5
# a tiny LLaMA (grouped-query, tied head) and the same untied on dp 1 x tp 2
llamaini="-c $top_srcdir/tests/fixtures/llama-tiny.ini data.train=$tmp/e2e-train.txt data.tokenizer=$shared/vocab/gpt2 train.steps=6"
if ! "$PST" train $llamaini "train.run_dir=$tmp/lrun" 2>"$tmp/err"; then
  echo "FAIL: tiny LLaMA run"; cat "$tmp/err"; exit 1
fi
llama=$tmp/lrun/checkpoints/ckpt-00000006.h5
if ! OMP_NUM_THREADS=1 mpirun -np 2 "$PST" train $llamaini model.tie_embeddings=false dist.tp=2 \
    "train.run_dir=$tmp/ltprun" 2>"$tmp/err"; then
  echo "FAIL: tiny LLaMA run on tp 2"; cat "$tmp/err"; exit 1
fi
llamatp=$tmp/ltprun/checkpoints/ckpt-00000006.h5

# ---- inspect ----
if "$PST" inspect "$bert" >"$tmp/out" 2>"$tmp/err" && grep -q "^step  *6 of 6 " "$tmp/out" &&
   grep -q "^checksums: all [0-9]* datasets verified" "$tmp/out" && grep -q "^  blk.1.fc2 " "$tmp/out"; then
  echo "ok: inspect: $(grep '^step' "$tmp/out" | tr -s ' '); $(grep '^  total' "$tmp/out" | tr -s ' '); $(grep '^checksums' "$tmp/out")"
else
  fail "inspect of a good checkpoint"; cat "$tmp/out" "$tmp/err"
fi

# damage one dataset: 4 bytes in the middle of the stored chunk (>= 64 bytes) that starts
# nearest to the middle of the file; the chunk address comes from HDF5 itself, so the bytes
# are that dataset's data, never metadata
size=$(wc -c <"$bert")
line=$("$LOGITS" --chunks "$bert" | awk -v mid=$((size / 2)) '$2 >= 64 {
  d = $1 - mid; if (d < 0) d = -d; if (best == "" || d < bd) { best = $0; bd = d } } END { print best }')
if [ -z "$line" ]; then
  fail "export_logits --chunks lists no chunk of $bert"
else
  set -- $line
  addr=$1 csize=$2 victim=$3
  off=$((addr + csize / 2))
  cp "$bert" "$tmp/damaged.h5"
  printf '\377\377\377\377' | dd of="$tmp/damaged.h5" bs=1 seek=$off conv=notrunc 2>/dev/null
  "$PST" inspect "$tmp/damaged.h5" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -eq 1 ] && grep -q "^  FAILED $victim\$" "$tmp/out" && grep -q "damaged" "$tmp/err" &&
     [ "$(grep -c '^  FAILED' "$tmp/out")" -eq 1 ]; then
    echo "ok: inspect of a copy with 4 bytes flipped at offset $off (chunk of $victim): exit 1, $(cat "$tmp/err")"
  else
    fail "inspect of a copy damaged inside $victim (offset $off): exit $rc"; cat "$tmp/out" "$tmp/err"
  fi
  "$PST" export "$tmp/damaged.h5" --format hf "$tmp/damaged-hf" >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc -eq 1 ] && [ ! -e "$tmp/damaged-hf" ]; then
    echo "ok: export of the damaged copy refused: $(cat "$tmp/err")"
  else
    fail "export of a damaged checkpoint: exit $rc"; cat "$tmp/err"
  fi
fi
head -c $((size / 3)) "$bert" >"$tmp/truncated.h5"
"$PST" inspect "$tmp/truncated.h5" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "truncated" "$tmp/err"; then echo "ok: truncated file: $(cat "$tmp/err")"
else fail "inspect of a truncated file: exit $rc"; cat "$tmp/err"; fi
"$PST" inspect "$top_srcdir/tests/fixtures/gpt2-tiny.ini" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "not an HDF5 file" "$tmp/err"; then echo "ok: non-HDF5 file: $(cat "$tmp/err")"
else fail "inspect of a non-HDF5 file: exit $rc"; cat "$tmp/err"; fi

# ---- export --format hf ----
for m in bert roberta gpt2 gpt2tp llama llamatp; do
  eval ck=\$$m
  if "$PST" export "$ck" --format hf "$tmp/$m-hf" >"$tmp/out" 2>"$tmp/err" && [ -s "$tmp/$m-hf/config.json" ] &&
     [ -s "$tmp/$m-hf/model.safetensors" ] && grep -q "equal the checkpoint's /sparse" "$tmp/err" &&
     [ -z "$(ls -d "$tmp/$m-hf".* 2>/dev/null)" ]; then
    echo "ok: export $m --format hf: $(ls "$tmp/$m-hf" | tr '\n' ' ')"
  else
    fail "export $m --format hf"; cat "$tmp/err"
  fi
done
mkdir "$tmp/occupied" && echo keep >"$tmp/occupied/mine.txt"
"$PST" export "$bert" --format hf "$tmp/occupied" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "refusing" "$tmp/err" && [ "$(ls "$tmp/occupied")" = mine.txt ]; then
  echo "ok: a non-empty directory is refused and left alone: $(cat "$tmp/err")"
else
  fail "export into a non-empty directory: exit $rc"; cat "$tmp/err"; ls -la "$tmp/occupied"
fi
if "$PST" export "$bert" --format hf "$tmp/occupied" --force >/dev/null 2>"$tmp/err" &&
   [ ! -e "$tmp/occupied/mine.txt" ] && [ -s "$tmp/occupied/model.safetensors" ] &&
   cmp -s "$tmp/occupied/model.safetensors" "$tmp/bert-hf/model.safetensors"; then
  echo "ok: --force replaces it (same model.safetensors as the first export)"
else
  fail "export --force"; cat "$tmp/err"
fi
mkdir "$tmp/empty"
if "$PST" export "$bert" --format hf "$tmp/empty" >/dev/null 2>"$tmp/err" && [ -s "$tmp/empty/config.json" ]; then
  echo "ok: an existing empty directory is used"
else
  fail "export into an empty directory"; cat "$tmp/err"
fi

# ---- export --format csr ----
if "$PST" export "$bert" --format csr "$tmp/bert-csr.h5" >/dev/null 2>"$tmp/err" &&
   "$LOGITS" --chunks "$tmp/bert-csr.h5" >"$tmp/out" &&
   grep -q " /sparse/blk.0.q/val\$" "$tmp/out" && grep -q " /sparse/blk.1.fc2/bias\$" "$tmp/out" &&
   grep -q " /sparse/blk.1.fc2/rowptr\$" "$tmp/out" && ! grep -q "/trainable\|/adam" "$tmp/out"; then
  echo "ok: export --format csr: $(wc -c <"$tmp/bert-csr.h5") bytes (checkpoint $size), $(grep -c . "$tmp/out") chunks under /sparse"
else
  fail "export --format csr"; cat "$tmp/err"
fi
"$PST" export "$bert" --format csr "$tmp/bert-csr.h5" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "refusing" "$tmp/err"; then echo "ok: an existing csr output is refused"
else fail "export --format csr over an existing file: exit $rc"; cat "$tmp/err"; fi

# ---- logits: pst vs transformers on the exported directories ----
have_ref=1
if [ ! -d "$REF" ] && ! "$top_srcdir/scripts/ref-transformers" "$REF" >"$tmp/install" 2>&1; then
  fail "the reference transformers could not be installed into $REF:"; tail -n 3 "$tmp/install"
  have_ref=0
fi
for spec in "bert 4 32" "roberta 4 32" "gpt2 2 16" "gpt2tp 2 16" "llama 2 16" "llamatp 2 16"; do
  set -- $spec
  m=$1 B=$2 T=$3
  eval ck=\$$m
  if ! "$LOGITS" "$ck" "$B" "$T" "$tmp/$m-logits" >"$tmp/out" 2>"$tmp/err"; then
    fail "export_logits $m"; cat "$tmp/err"; continue
  fi
  [ $have_ref -eq 1 ] || continue
  PYTHONPATH="$REF" "$PY" "$top_srcdir/tests/reference/export_ref.py" "$tmp/$m-hf" "$tmp/$m-logits.json" \
    "$tmp/$m-logits.f32" "$TOL" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -eq 0 ]; then
    echo "ok: $m logits B=$B T=$T: $(cat "$tmp/out")"
  else
    fail "$m logits differ: $(cat "$tmp/out")"; tail -5 "$tmp/err"
  fi
done

if [ $fails -gt 0 ]; then echo "export: $fails failed"; exit 1; fi
echo "export: all passed"
exit 0
