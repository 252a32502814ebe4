#!/bin/sh
# run_gguf_smollm2.sh — the GGUF reader on a real file: SmolLM2-135M-Instruct.Q4_1.gguf (fetched
# by scripts/get-model smollm2, sha256-checked) through tests/parity/gguf_smollm2.c:
#   - against gguf-py's dequantization of a few tensors of each type, bit for bit
#     (tests/reference/gguf_smollm2_ref.py; gguf-py 0.17.1 from scripts/ref-gguf), plus its
#     config, tokenizer metadata and tp shards;
#   - against transformers' own reading of the same file (tests/reference/gguf_smollm2_hf.py:
#     load_gguf_checkpoint, saved as a Hugging Face directory; transformers 4.46.3 from
#     scripts/ref-transformers): the whole pst llama model loaded by the GGUF loader equals the
#     one loaded by pst's Hugging Face loader, bit for bit (the q/k un-permutation included);
#   - the logits of ten real sentences (E2E, SST-2) against transformers' LlamaForCausalLM on that
#     directory (tests/reference/smollm2_ref.py), pst loading the directory and the GGUF: <= 1e-4
#     relative (tests/parity/test_lm_logits).
# Fails, never skips, when the file or a reference stack cannot be had. The 540 MB directory is
# removed afterwards.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
model="$top_srcdir/models/SmolLM2-135M-Instruct.Q4_1.gguf"
ref="$top_srcdir/.ref/gguf"
REF=${PST_REF_TRANSFORMERS:-$top_srcdir/.ref/transformers}
out="$top_builddir/tests/parity/gguf_smollm2_ref.safetensors"
hf="$top_builddir/tests/parity/smollm2-hf"
"$PY" "$top_srcdir/scripts/get-model" smollm2 -q --dest "$model" || { echo "FAIL: scripts/get-model smollm2" >&2; exit 1; }
PST_PYTHON="$PY" "$top_srcdir/scripts/ref-gguf" "$ref" >/dev/null || { echo "FAIL: scripts/ref-gguf" >&2; exit 1; }
if [ ! -d "$REF" ] && ! PST_PYTHON="$PY" "$top_srcdir/scripts/ref-transformers" "$REF"; then
  echo "FAIL: cannot install the reference transformers into $REF (scripts/ref-transformers)" >&2
  exit 1
fi
PYTHONPATH="$ref" "$PY" "$top_srcdir/tests/reference/gguf_smollm2_ref.py" "$model" "$out" ||
  { echo "FAIL: gguf_smollm2_ref.py" >&2; exit 1; }
rm -rf "$hf"
TQDM_DISABLE=1 PYTHONPATH="$REF:$ref" "$PY" "$top_srcdir/tests/reference/gguf_smollm2_hf.py" "$model" "$hf" ||
  { rm -rf "$hf"; echo "FAIL: gguf_smollm2_hf.py" >&2; exit 1; }
"$top_builddir/tests/parity/gguf_smollm2" "$model" "$out" "$hf"
rc=$?
# the logits of ten real sentences: transformers' LlamaForCausalLM on that directory (tokenized by
# transformers' tokenizer of the GGUF) against pst from the directory and from the GGUF itself
logits="$top_builddir/tests/parity/smollm2_logits.safetensors"
if TQDM_DISABLE=1 PYTHONPATH="$REF:$ref" "$PY" "$top_srcdir/tests/reference/smollm2_ref.py" "$model" "$hf" \
    "$top_srcdir/../shared/data" "$logits"; then
  "$top_builddir/tests/parity/test_lm_logits" "$logits" "$hf" 1e-4 || rc=1
  "$top_builddir/tests/parity/test_lm_logits" "$logits" "$model" 1e-4 || rc=1
else
  echo "FAIL: smollm2_ref.py" >&2; rc=1
fi
rm -rf "$hf" "$logits" "$logits.texts"
exit $rc
