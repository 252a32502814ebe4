#!/bin/sh
# run_gguf_smollm2.sh — the GGUF reader on a real file: SmolLM2-135M-Instruct.Q4_1.gguf (fetched
# by scripts/get-model smollm2, sha256-checked) against gguf-py's dequantization of a few tensors
# of each type (tests/reference/gguf_smollm2_ref.py; gguf-py installed by scripts/ref-gguf into
# .ref/gguf), bit for bit, plus its config, tokenizer metadata and tp shards
# (tests/parity/gguf_smollm2.c). Fails, never skips, when the file or gguf-py cannot be had.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
model="$top_srcdir/models/SmolLM2-135M-Instruct.Q4_1.gguf"
ref="$top_srcdir/.ref/gguf"
out="$top_builddir/tests/parity/gguf_smollm2_ref.safetensors"
"$PY" "$top_srcdir/scripts/get-model" smollm2 -q --dest "$model" || { echo "FAIL: scripts/get-model smollm2" >&2; exit 1; }
PST_PYTHON="$PY" "$top_srcdir/scripts/ref-gguf" "$ref" >/dev/null || { echo "FAIL: scripts/ref-gguf" >&2; exit 1; }
PYTHONPATH="$ref" "$PY" "$top_srcdir/tests/reference/gguf_smollm2_ref.py" "$model" "$out" ||
  { echo "FAIL: gguf_smollm2_ref.py" >&2; exit 1; }
exec "$top_builddir/tests/parity/gguf_smollm2" "$model" "$out"
