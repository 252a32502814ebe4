#!/bin/sh
# run_llama_parity.sh — the LLaMA family against transformers 4.46 (LlamaForCausalLM and
# Qwen2ForCausalLM): regenerate the fixtures with tests/reference/make_llama_fixtures.py and run
# tests/parity/test_parity on each (step-0 logits, loss and every trainable's gradient, 5 AdamW
# steps, masks), and tests/parity/test_hf_llama on the same weights saved by transformers'
# save_pretrained (config.json keys and every frozen tensor through pst's loader). The reference stack is installed by scripts/ref-transformers into .ref/transformers
# when missing; the test fails, never skips, when it cannot be installed or run.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
REF=${PST_REF_TRANSFORMERS:-$top_srcdir/.ref/transformers}
if [ ! -d "$REF" ] && ! "$top_srcdir/scripts/ref-transformers" "$REF"; then
  echo "FAIL: cannot install the reference transformers into $REF (scripts/ref-transformers)" >&2
  exit 1
fi
fx="$top_builddir/tests/parity/llama-fixtures"
rm -rf "$fx" && mkdir -p "$fx"
PYTHONPATH="$REF" "$PY" "$top_srcdir/tests/reference/make_llama_fixtures.py" "$fx" ||
  { echo "FAIL: llama fixture generation" >&2; exit 1; }
n=0; fail=0
for ini in "$fx"/*.ini; do
  n=$((n + 1))
  "$top_builddir/tests/parity/test_parity" "$ini" || fail=$((fail + 1))
done
[ "$n" -ge 5 ] || { echo "FAIL: expected 5 llama cases, found $n" >&2; exit 1; }
# the same weights as Hugging Face directories (one file, untied + llama3 rope, sharded Qwen2)
nh=0
for hf in "$fx"/*.hf; do
  nh=$((nh + 1))
  "$top_builddir/tests/parity/test_hf_llama" "${hf%.hf}.ini" "$hf" || fail=$((fail + 1))
done
[ "$nh" -ge 3 ] || { echo "FAIL: expected 3 Hugging Face directories, found $nh" >&2; exit 1; }
echo "llama parity: $((n - fail)) of $n cases passed"
[ "$fail" -eq 0 ]
