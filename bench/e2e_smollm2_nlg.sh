#!/bin/sh
# e2e_smollm2_nlg.sh — E2E test scores (BLEU, NIST, METEOR, ROUGE-L, CIDEr) of the SmolLM2-135M runs
# of bench/e2e_smollm2.sh, decoded as in the paper (beam 10, length penalty 0.8, no-repeat 4-grams):
# the base model zero-shot (its chat template around an instruction, no training), then each
# fine-tuned run's checkpoint (pst eval --run: the best evaluation at the target sparsity, else
# the newest). The inputs are the first N distinct meaning representations of LoRA's E2E test file
# (default 50 of 630; every reference of each is kept), for time on a 2-core machine.
#   bench/e2e_smollm2_nlg.sh [RUNS (default runs/e2e-smollm2)] [N (default 50)]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
runs=${1:-runs/e2e-smollm2}
n=${2:-50}
test="$top/../shared/data/e2e/lora/test.txt"
decode="--beams 10 --length-penalty 0.8 --no-repeat-ngram 4 --max-new-tokens 64 --batch 5 --max $n"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') | $(nproc) cores | first $n test MRs"
score() { # NAME pst-eval-args...
  name=$1; shift
  t0=$(date +%s)
  # shellcheck disable=SC2086
  "$top/pst" eval "$@" --data "$test" --format e2e_lora $decode -q -o "$runs/$name.hyp.txt" \
    --scores "$runs/$name.scores.json" >/dev/null
  "${PST_PYTHON:-/usr/bin/python3}" - "$runs/$name.scores.json" "$name" $(($(date +%s) - t0)) <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
m = "%.2f" % (100 * s["meteor"]) if s.get("meteor") is not None else "n/a"
print("%-8s BLEU %6.2f  NIST %5.3f  METEOR %5s  ROUGE-L %6.2f  CIDEr %5.3f  TER %6.2f  (%d inputs, %s s)" %
      (sys.argv[2], s["bleu"], s["nist"], m, 100 * s["rouge_l"], s["cider"], s["ter"], s["inputs"], sys.argv[3]))
PYEOF
}
score base -c "$top/inputs/e2e/smollm2-pst.ini" --chat \
  --template "Describe this restaurant in one short sentence, using every attribute: {}"
for r in dense lora pst50 pst90; do score "$r" --run "$runs/$r"; done
