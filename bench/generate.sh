#!/bin/sh
# generate.sh — decoding speed, pst against transformers 4.46 on SmolLM2-135M-Instruct (fp32, both
# from the same GGUF: pst reads it, transformers the Hugging Face directory that
# tests/reference/gguf_smollm2_hf.py makes of it), the same 8 prompts of 16 tokens (E2E meaning
# representations, SmolLM2's tokenizer), fixed length (no EOS): greedy one prompt at a time,
# greedy with the 8 prompts as one batch, beam search with 10 beams one prompt at a time. Both
# time the decoding only (pst's "generated N tokens in S s" line; time.perf_counter around
# generate()). One run of each, alternating, same machine.
#   bench/generate.sh [MAX_NEW (default 64)] [THREADS (default 2)]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
max_new=${1:-64}
threads=${2:-2}
PY=${PST_PYTHON:-/usr/bin/python3}
REF=${PST_REF_TRANSFORMERS:-$top/.ref/transformers}
model="$top/models/SmolLM2-135M-Instruct.Q4_1.gguf"
work=${TMPDIR:-/tmp}/pst-bench-generate
mkdir -p "$work"
[ -f "$model" ] || "$PY" "$top/scripts/get-model" smollm2
[ -d "$REF" ] || PST_PYTHON="$PY" "$top/scripts/ref-transformers" "$REF"
PST_PYTHON="$PY" "$top/scripts/ref-gguf" "$top/.ref/gguf" >/dev/null
[ -f "$work/hf/model.safetensors" ] || TQDM_DISABLE=1 PYTHONPATH="$REF:$top/.ref/gguf" "$PY" \
  "$top/tests/reference/gguf_smollm2_hf.py" "$model" "$work/hf" >/dev/null
printf '[model]\ngguf = %s\n' "$model" >"$work/smollm2.ini"
# 8 prompts: the first 16 tokens of 8 distinct E2E test MRs (pst's tokenizer = SmolLM2's, tested
# against the tokenizers library in tests/parity/run_gguf_smollm2.sh)
cut -d'|' -f1-3 "$top/../shared/data/e2e/lora/test.txt" | awk '!seen[$0]++' | head -n 8 >"$work/mrs.txt"
"$top/pst" generate -c "$work/smollm2.ini" --prompts "$work/mrs.txt" --max-new-tokens 16 --no-eos --ids -q \
  -o "$work/long.ids"
n=0
: >"$work/prompts.ids"
while read -r line; do # the prompt = 16 tokens the model itself continued: any 16 real tokens do
  echo "$line" >>"$work/prompts.ids"
  n=$((n + 1))
done <"$work/long.ids"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') | $(nproc) cores | $threads threads | $max_new new tokens"
printf '%-8s %12s %14s %8s\n' mode "pst tok/s" "transformers" ratio
for mode in greedy1 greedy8 beam10; do
  case $mode in
    greedy1) opts="--batch 1" ;;
    greedy8) opts="--batch 8" ;;
    beam10) opts="--batch 1 --beams 10" ;;
  esac
  # shellcheck disable=SC2086
  p=$(OMP_NUM_THREADS=$threads "$top/pst" generate -c "$work/smollm2.ini" --prompts "$work/prompts.ids" --format ids \
    --ids --no-eos --max-new-tokens "$max_new" --min-new-tokens "$max_new" $opts -o "$work/out.ids" 2>&1 |
    sed -n 's/.*(\([0-9.]*\) tokens\/s).*/\1/p')
  r=$(PYTHONPATH="$REF" "$PY" "$here/ref_generate.py" "$work/hf" "$work/prompts.ids" "$mode" "$max_new" "$threads" |
    awk '{ print $4 }')
  printf '%-8s %12s %14s %7.2fx\n' "$mode" "$p" "$r" "$(echo "$p $r" | awk '{ print $1 / $2 }')"
done
