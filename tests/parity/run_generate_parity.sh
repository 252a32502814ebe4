#!/bin/sh
# run_generate_parity.sh — `pst generate` against transformers 4.46's generate(), token for token
# (tests/reference/generate_ref.py; transformers from scripts/ref-transformers):
#   - a tiny random GPT-2 (model.hf_dir, the real GPT-2 vocabulary): greedy, greedy with
#     no-repeat 3-grams and min_new_tokens, beam search with beam sizes 3-6, length penalties
#     -0.5 / 0.8 / 1 / 2, no-repeat n-grams, min_new_tokens, early stopping; 8 prompts, EOS = the
#     model's most frequent greedy token (so that both EOS paths are taken);
#   - SmolLM2-135M-Instruct from its GGUF (5 real prompts in its chat template, EOS <|im_end|>):
#     greedy, beam 3 / 4 / 10 with length penalties 0.8 / 1.5 and no-repeat 4-grams (the paper's
#     E2E decoding: beam 10, length penalty 0.8, no-repeat 4).
# pst decodes every prompt file at once (batched, --batch 3: prompts of different lengths share
# passes), transformers one prompt at a time. Fails, never skips, when a reference cannot be had.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
REF=${PST_REF_TRANSFORMERS:-$top_srcdir/.ref/transformers}
GGUFPY="$top_srcdir/.ref/gguf"
pst="$top_builddir/pst"
work="$top_builddir/tests/parity/generate.d"
model="$top_srcdir/models/SmolLM2-135M-Instruct.Q4_1.gguf"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [ ! -d "$REF" ] && ! PST_PYTHON="$PY" "$top_srcdir/scripts/ref-transformers" "$REF"; then
  echo "FAIL: cannot install the reference transformers into $REF (scripts/ref-transformers)" >&2
  exit 1
fi
PST_PYTHON="$PY" "$top_srcdir/scripts/ref-gguf" "$GGUFPY" >/dev/null || { echo "FAIL: scripts/ref-gguf" >&2; exit 1; }
"$PY" "$top_srcdir/scripts/get-model" smollm2 -q --dest "$model" || { echo "FAIL: scripts/get-model smollm2" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
fail=0

# compare DIR CONFIG: run every case of DIR/cases.json through pst generate, compare the ids
compare() {
  dir=$1
  cfg=$2
  n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$dir/cases.json")
  i=0
  while [ "$i" -lt "$n" ]; do
    name=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["name"])' "$dir/cases.json" "$i")
    args=$("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[int(sys.argv[2])]["args"]))' "$dir/cases.json" "$i")
    # shellcheck disable=SC2086  # args are plain option words
    if ! "$pst" generate -c "$cfg" --prompts "$dir/prompts.ids" --format ids --ids --batch 3 -q $args \
        -o "$dir/out.$i" 2>"$dir/err.$i"; then
      echo "FAIL: $dir $name: pst generate failed: $(cat "$dir/err.$i")" >&2
      fail=1
    elif ! "$PY" - "$dir/cases.json" "$i" "$dir/out.$i" <<'PYEOF'; then
import json, sys
case = json.load(open(sys.argv[1]))[int(sys.argv[2])]
got = [[int(t) for t in line.split()] for line in open(sys.argv[3])]
want = case["outputs"]
bad = [k for k in range(max(len(got), len(want))) if k >= len(got) or k >= len(want) or got[k] != want[k]]
for k in bad[:3]:
    print("  prompt %d: pst %s\n            hf  %s" % (k + 1, got[k] if k < len(got) else None,
                                                    want[k] if k < len(want) else None), file=sys.stderr)
print("%-28s %s (%d prompts)" % (case["name"], "equal" if not bad else "DIFFERENT", len(want)))
sys.exit(1 if bad else 0)
PYEOF
      echo "FAIL: $dir $name ($args)" >&2
      fail=1
    fi
    i=$((i + 1))
  done
}

# tiny random GPT-2
TQDM_DISABLE=1 PYTHONPATH="$REF" "$PY" "$top_srcdir/tests/reference/generate_ref.py" gpt2 "$work/gpt2" \
  "$top_srcdir/../shared/data/vocab/gpt2" || { echo "FAIL: generate_ref.py gpt2" >&2; exit 1; }
printf '[model]\nhf_dir = gpt2/model\n' >"$work/gpt2.ini"
compare "$work/gpt2" "$work/gpt2.ini"

# SmolLM2-135M-Instruct: transformers reads the GGUF into a Hugging Face directory
hf="$work/smollm2-hf"
TQDM_DISABLE=1 PYTHONPATH="$REF:$GGUFPY" "$PY" "$top_srcdir/tests/reference/gguf_smollm2_hf.py" "$model" "$hf" >/dev/null ||
  { echo "FAIL: gguf_smollm2_hf.py" >&2; exit 1; }
TQDM_DISABLE=1 PYTHONPATH="$REF:$GGUFPY" "$PY" "$top_srcdir/tests/reference/generate_ref.py" smollm2 "$work/smollm2" \
  "$model" "$hf" || { echo "FAIL: generate_ref.py smollm2" >&2; exit 1; }
printf '[model]\ngguf = %s\n' "$(cd "$(dirname "$model")" && pwd)/$(basename "$model")" >"$work/smollm2.ini"
compare "$work/smollm2" "$work/smollm2.ini"

[ "$fail" = 0 ] && rm -rf "$work"
exit "$fail"
