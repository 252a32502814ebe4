#!/bin/sh
# e2e_smollm2.sh — SmolLM2-135M-Instruct on E2E (inputs/e2e/smollm2-pst.ini): the base model's dev
# loss (no training: LoRA with lr 0, one step), then dense fine-tuning, LoRA, PST 50 % and PST 90 %
# with the same budget (200 steps of 8 x 64 tokens), one after the other. Prints one line per run
# (best dev loss / perplexity at the target sparsity from results.json, wall time) and keeps the
# run directories under OUT (default runs/e2e-smollm2).
#   bench/e2e_smollm2.sh [OUT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${1:-runs/e2e-smollm2}
ini="$top/inputs/e2e/smollm2-pst.ini"
PY=${PST_PYTHON:-/usr/bin/python3}
[ -f "$top/models/SmolLM2-135M-Instruct.Q4_1.gguf" ] || "$PY" "$top/scripts/get-model" smollm2
mkdir -p "$out"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') | $(nproc) cores"
run() { # NAME overrides...
  name=$1; shift
  t0=$(date +%s)
  "$top/pst" train -c "$ini" "train.run_dir=$out/$name" "$@" -q
  t1=$(date +%s)
  "$PY" - "$out/$name/results.json" "$name" $((t1 - t0)) <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
b = r.get("best") or r["evals"][-1]
print("%-10s dev loss %.4f  perplexity %8.3f  at step %d, sparsity %.3f  (%s s)" %
      (sys.argv[2], b["loss"], b["perplexity"], b["step"], b["sparsity"], sys.argv[3]))
PYEOF
}
run base pst.method=lora optim.lr=0 train.steps=1 optim.warmup_steps=0
run dense pst.method=dense optim.lr=1e-4
run lora pst.method=lora
run pst50 pst.method=pst pst.sparsity_final=0.5
run pst90 pst.method=pst pst.sparsity_final=0.9
