# sst2_lib.sh — sourced by bench/sst2_quality.sh and bench/sst2_seeds.sh: the fixed recipe
# (MiniLM, batch 32 x seq 64, 2 threads), the input checks, the training subset and the copy
# of ./pst, the common lines of env.txt, and the helpers `ref` (bench/ref_train.py with the
# fast OpenBLAS kernels) and `timed` (one run into a fresh dir with its log and wall time).
# The caller sets: name, out, N_TRAIN, EPOCHS, GLUE_DIR, PY; and runs in the repository root.
# shellcheck shell=sh disable=SC2034  # the variables are the callers'
ini=inputs/sst2-minilm.ini
model=models/all-MiniLM-L6-v2
BATCH=32
SEQ=64
THREADS=2
if grep -q avx512f /proc/cpuinfo; then core=SkylakeX; elif grep -q avx2 /proc/cpuinfo; then core=Haswell; else core=; fi

# The inputs must be there; absolute out/GLUE_DIR; dev, train (the subset file), PST (the copy).
sst2_prepare() {
  [ -x ./pst ] || { echo "$name: build first (make -j2)" >&2; exit 1; }
  [ -f "$model/model.safetensors" ] || { echo "$name: $model missing: run scripts/get-model" >&2; exit 1; }
  [ -f "$GLUE_DIR/SST-2/train.tsv" ] || { echo "$name: $GLUE_DIR/SST-2/train.tsv not found (set GLUE_DIR)" >&2; exit 1; }
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  GLUE_DIR=$(cd "$GLUE_DIR" && pwd)
  dev=$GLUE_DIR/SST-2/dev.tsv
  train="$out/train.tsv"
  PST="$out/pst"
}

# Write the subset (first N_TRAIN rows + header) and the pst copy.
sst2_fresh_inputs() {
  head -n $((N_TRAIN + 1)) "$GLUE_DIR/SST-2/train.tsv" >"$train"
  cp ./pst "$PST"
}

# The schedule of the recipe and the argument lists shared by every pst / reference run.
sst2_recipe() {
  spe=$((N_TRAIN / BATCH))
  total=$((EPOCHS * spe))
  warm=$((total / 10))
  common="data.train=$train data.dev=$dev train.epochs=$EPOCHS train.batch_size=$BATCH train.seq_len=$SEQ optim.warmup_steps=$warm train.threads=$THREADS train.log_every=10"
  refcommon="--model-dir $model --train $train --dev $dev --epochs $EPOCHS --batch $BATCH --seq-len $SEQ --warmup-steps $warm --threads $THREADS"
}

# env.txt lines every table cites: date, commit, machine, versions, the subset.
sst2_env_lines() {
  echo "date_utc=$(date -u '+%Y-%m-%d %H:%M')"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (working tree modified)')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "cores=$(getconf _NPROCESSORS_ONLN)"
  echo "mem_gb=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
  echo "pst=$("$PST" --version 2>&1 | head -1)"
  echo "torch=$(env ${core:+OPENBLAS_CORETYPE=$core} "$PY" -c 'import torch, tokenizers; print(torch.__version__, "/ tokenizers", tokenizers.__version__)')"
  echo "train=first $N_TRAIN rows of $GLUE_DIR/SST-2/train.tsv ($(sha256sum "$train" | cut -c1-12))"
}

ref() { env ${core:+OPENBLAS_CORETYPE=$core} OMP_NUM_THREADS=$THREADS "$PY" bench/ref_train.py "$@"; }

failed=
timed() { # timed DIR CMD...: a fresh DIR, the command's output in DIR/log.txt, wall time in DIR/wall_s
  d=$1
  shift
  rm -rf "$d"
  mkdir -p "$d"
  t0=$(date +%s)
  { "$@" 2>&1 || echo $? >"$d/failed"; } | tee "$d/log.txt"
  echo $(($(date +%s) - t0)) >"$d/wall_s"
  [ ! -f "$d/failed" ] || failed="$failed ${d##*/}"
}
