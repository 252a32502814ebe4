#!/bin/sh
# run_hf_parity.sh — a real pretrained model (all-MiniLM-L6-v2, fetched by scripts/get-model)
# through pst's forward pass against a PyTorch forward on the same weights and sentences
# (tests/reference/make_hf_fixtures.py): last hidden states within 1e-4 relative.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
md="$top_srcdir/models/all-MiniLM-L6-v2"
fx="$top_builddir/tests/parity/hf_minilm.safetensors"
"$PY" "$top_srcdir/scripts/get-model" --dest "$md" || { echo "FAIL: scripts/get-model" >&2; exit 1; }
"$PY" "$top_srcdir/tests/reference/make_hf_fixtures.py" "$md" "$fx" || { echo "FAIL: make_hf_fixtures.py" >&2; exit 1; }
exec "$top_builddir/tests/parity/test_hf_minilm" "$md" "$fx"
