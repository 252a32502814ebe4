#!/bin/sh
# sparse_rss.sh — peak memory of decoding with a 90 %-sparse model (issue 15): a GPT-2-small-
# shaped model (random weights, trained one step at sparsity 0.9 on 64 E2E pairs) generating 32
# tokens for one prompt, run three ways:
#   dense       the same shape as a dense model (pst.method = dense, -c: every weight dense)
#   checkpoint  --ckpt: base weights + trainables, masked linears folded to CSR (eval.sparse auto)
#   file        --sparse: the exported sparse inference file, CSR read in place from its mapping
# Prints peak RSS (MB, /usr/bin/time), the same less the process's own baseline, decoding
# speed of each, and the file sizes.
#   bench/sparse_rss.sh [SHARED_DATA]   (default ../shared/data next to the repository)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
PST=${PST:-$top/pst}
shared=${1:-$top/../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
head -n 64 "$shared/e2e/lora/train.txt" >"$tmp/e2e.txt"
shape="model.hidden=768 model.layers=12 model.heads=12 model.ffn=3072 model.max_positions=1024 model.init_std=0.02"
base="-c $top/tests/fixtures/gpt2-tiny.ini $shape data.train=$tmp/e2e.txt data.tokenizer=$shared/vocab/gpt2"
"$PST" train $base train.steps=1 train.batch_size=2 pst.sparsity_init=0.9 "train.run_dir=$tmp/run" -q
ckpt=$tmp/run/checkpoints/ckpt-00000001.h5
"$PST" export "$ckpt" --format sparse "$tmp/model.safetensors" -q
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), OMP_NUM_THREADS=$OMP_NUM_THREADS"
echo "checkpoint $(du -m "$ckpt" | cut -f1) MB, sparse file $(du -m "$tmp/model.safetensors" | cut -f1) MB"
# the process alone (libraries: a CUDA build maps cuBLAS, ~200 MB) is subtracted from each peak
/usr/bin/time -f "%M" -o "$tmp/rss" "$PST" generate --help >/dev/null
base_kb=$(tail -n 1 "$tmp/rss")
echo "process baseline (pst generate --help): $((base_kb / 1024)) MB"
run() {
  name=$1
  shift
  /usr/bin/time -f "%M" -o "$tmp/rss" "$PST" generate "$@" --prompt "name[The Eagle]" --max-new-tokens 32 --ids \
    >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  kb=$(tail -n 1 "$tmp/rss")
  printf '%-10s peak RSS %5d MB, model %5d MB | %s\n' "$name" $((kb / 1024)) $(((kb - base_kb) / 1024)) \
    "$(grep -o '[0-9.]* tokens/s' "$tmp/err")"
}
run dense $base pst.method=dense
run checkpoint --ckpt "$ckpt"
run file --sparse "$tmp/model.safetensors"
