#!/bin/sh
# run_hf_parity.sh — a real pretrained model (all-MiniLM-L6-v2, fetched by scripts/get-model)
# through pst's forward pass against transformers 4.46's BertModel on the same weights and
# sentences (tests/reference/make_hf_fixtures.py; the reference stack from scripts/ref-transformers):
# last hidden states and pooler output within 1e-4 relative. Fails, never skips, without it.
# Then the demo config (inputs/demo.ini, model.hf_dir) trains 3 steps through `pst train`.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
md="$top_srcdir/models/all-MiniLM-L6-v2"
fx="$top_builddir/tests/parity/hf_minilm.safetensors"
"$PY" "$top_srcdir/scripts/get-model" --dest "$md" || { echo "FAIL: scripts/get-model" >&2; exit 1; }
REF=${PST_REF_TRANSFORMERS:-$top_srcdir/.ref/transformers}
if [ ! -d "$REF" ] && ! "$top_srcdir/scripts/ref-transformers" "$REF"; then
  echo "FAIL: cannot install the reference transformers into $REF (scripts/ref-transformers)" >&2
  exit 1
fi
PYTHONPATH="$REF" "$PY" "$top_srcdir/tests/reference/make_hf_fixtures.py" "$md" "$fx" ||
  { echo "FAIL: make_hf_fixtures.py" >&2; exit 1; }
"$top_builddir/tests/parity/test_hf_minilm" "$md" "$fx" || exit 1
# the README's demo job (inputs/demo.ini: model.hf_dir, the model's tokenizer) trains and
# evaluates: config -> Hugging Face directory -> pst train end to end (3 steps)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if md_abs=$(cd "$md" && pwd) && "$top_builddir/pst" train -c "$top_srcdir/inputs/demo.ini" "model.hf_dir=$md_abs" \
     train.steps=3 train.eval_every=3 "train.run_dir=$tmp/demo" >"$tmp/out" 2>"$tmp/err" &&
   [ -s "$tmp/demo/results.json" ]; then
  echo "ok   demo config trains from the Hugging Face directory: $(grep 'dev @' "$tmp/err" | tail -n 1)"
else
  echo "FAIL demo config (inputs/demo.ini) with $md"; tail -n 5 "$tmp/err"; exit 1
fi
