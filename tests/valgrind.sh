#!/bin/sh
# valgrind.sh — run every cmocka unit test (tests/unit/test_*), the fuzz replays (safetensors,
# textdata, tokenizer, tokenizer.json, gguf), one PyTorch parity case and one LLaMA parity case
# (with a Hugging Face LLaMA-family load), and `pst score` on NLG fixtures and random inputs
# under valgrind memcheck; fails if any
# of them has an invalid read/write, a use of uninitialised memory, a definite or indirect
# leak, or fails on its own.
# Run by `make check-valgrind` (not part of `make check`: it takes a minute or two).
# The parity case is bert-pst-warm: a masked PST case whose V, B, R, C start nonzero and whose
# sparsity starts at 0.3, so the masks and every low-rank gradient path run from step 0; its
# fixture is generated afresh with tests/reference/make_fixtures.py (needs python3-torch).
# OMP_NUM_THREADS=1: libgomp's worker-thread stacks are otherwise reported as 'possibly lost'
# (test_topk's test_thread_counts skips itself at one thread).
# Prints one line per binary; valgrind's report of each is kept in
# $top_builddir/tests/valgrind/NAME.log (the program's own output in NAME.out), and those of
# failing binaries are printed at the end. Extra valgrind options (e.g. --track-origins=yes
# to locate an uninitialised value) can be given in valgrind's own VALGRIND_OPTS.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
PARITY_CASE=bert-pst-warm
OMP_NUM_THREADS=1
export OMP_NUM_THREADS

if ! command -v valgrind >/dev/null 2>&1; then
  echo "FAIL: valgrind not found; install Debian's valgrind (./quickstart.sh does)" >&2
  exit 1
fi
out="$top_builddir/tests/valgrind"
rm -rf "$out" && mkdir -p "$out" || exit 1
t_start=$(date +%s)
n=0; fail=0; failed=""

# vg NAME PROGRAM ARGS...: run PROGRAM under memcheck and print its result line
vg() {
  name=$1; shift
  n=$((n + 1))
  t0=$(date +%s)
  valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --suppressions="$top_srcdir/tests/valgrind.supp" \
    --log-file="$out/$name.log" "$@" >"$out/$name.out" 2>&1
  rc=$?
  dt=$(($(date +%s) - t0))
  nerr=$(sed -n 's/.*ERROR SUMMARY: \([0-9][0-9]*\) error.*/\1/p' "$out/$name.log" | tail -n 1)
  # VG_ALLOW_EXIT1=1: exit 1 (an input error the program reported) also passes
  if { [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && [ -n "${VG_ALLOW_EXIT1:-}" ]; }; } && [ "${nerr:-0}" -eq 0 ]; then
    echo "ok   $name (${dt}s)"
    return 0
  fi
  fail=$((fail + 1)); failed="$failed $name"
  if [ "${nerr:-0}" -gt 0 ]; then
    echo "FAIL $name: $nerr valgrind errors (exit $rc, ${dt}s)"
  elif [ -z "$nerr" ]; then
    echo "FAIL $name: valgrind did not finish (exit $rc, ${dt}s)"
  else
    echo "FAIL $name: no valgrind error, but the program failed (exit $rc, ${dt}s)"
  fi
  return 1
}

# 1. unit tests: every built tests/unit/test_* program (not its .c/.o/.log/.trs)
nunit=0
for t in "$top_builddir"/tests/unit/test_*; do
  case ${t##*/} in *.*) continue ;; esac
  [ -f "$t" ] && [ -x "$t" ] || continue
  nunit=$((nunit + 1))
  vg "${t##*/}" "$t"
done
if [ "$nunit" -eq 0 ]; then
  echo "FAIL unit tests: no tests/unit/test_* program in $top_builddir (run make check-valgrind)"
  fail=$((fail + 1)); n=$((n + 1))
fi

# 2. fuzz replay over the committed corpus
vg replay_safetensors "$top_builddir/tests/fuzz/replay_safetensors" \
  "$top_srcdir/tests/fuzz/corpus/safetensors"
vg replay_textdata "$top_builddir/tests/fuzz/replay_textdata" "$top_srcdir/tests/fuzz/corpus/textdata"
vg replay_tokenizer "$top_builddir/tests/fuzz/replay_tokenizer" "$top_srcdir/tests/fuzz/corpus/tokenizer"
vg replay_gguf "$top_builddir/tests/fuzz/replay_gguf" "$top_srcdir/tests/fuzz/corpus/gguf"
vg replay_tokjson "$top_builddir/tests/fuzz/replay_tokjson" "$top_srcdir/tests/fuzz/corpus/tokjson"

# 3. one parity case on a freshly generated fixture
fx="$out/fixtures"
mkdir -p "$fx"
if "$PY" "$top_srcdir/tests/reference/make_fixtures.py" "$fx" >"$out/make_fixtures.out" 2>&1 &&
  [ -f "$fx/$PARITY_CASE.ini" ]; then
  vg "test_parity-$PARITY_CASE" "$top_builddir/tests/parity/test_parity" "$fx/$PARITY_CASE.ini"
else
  n=$((n + 1)); fail=$((fail + 1))
  echo "FAIL test_parity-$PARITY_CASE: fixture generation failed ($PY needs python3-torch;" \
    "see $out/make_fixtures.out)"
fi

# 4. the LLaMA block: an untied, llama3-rope PST case of the fixtures run_llama_parity.sh made in
# `make check` (transformers' reference), and its Hugging Face directory through the loader
lfx="$top_builddir/tests/parity/llama-fixtures"
if [ -f "$lfx/llama-pst-untied.ini" ] && [ -d "$lfx/qwen2-pst.hf" ]; then
  vg test_parity-llama-pst-untied "$top_builddir/tests/parity/test_parity" "$lfx/llama-pst-untied.ini"
  vg test_hf_llama-qwen2 "$top_builddir/tests/parity/test_hf_llama" "$lfx/qwen2-pst.ini" "$lfx/qwen2-pst.hf"
else
  n=$((n + 1)); fail=$((fail + 1))
  echo "FAIL test_parity-llama: no fixtures in $lfx (make check TESTS=tests/parity/run_llama_parity.sh makes them)"
fi

# 6. decoding (src/gen/, src/model/infer.c) on the tiny LLaMA GGUF fixture: beam search with
# no-repeat n-grams and an EOS, and top-k / top-p sampling, three prompts of different lengths
# in batches of two (prefill with padding, cache reordering, rows leaving the passes)
gcfg="$out/llama-generate.ini"
printf '[model]\ngguf = %s\n' "$(cd "$top_srcdir/tests/fixtures/gguf" && pwd)/llama-tiny.gguf" >"$gcfg"
printf '1 2 3\n4 5\n6 7 8 9 10\n' >"$out/prompts.ids"
vg pst-generate-beam "$top_builddir/pst" generate -c "$gcfg" --prompts "$out/prompts.ids" --format ids --ids \
  --beams 3 --no-repeat-ngram 2 --max-new-tokens 5 --batch 2 --eos 3
vg pst-generate-sample "$top_builddir/pst" generate -c "$gcfg" --prompts "$out/prompts.ids" --format ids --ids \
  --sample --top-k 5 --top-p 0.9 --max-new-tokens 5 --batch 2

# 5. pst score (src/eval/): the NLG metrics but METEOR (a java child) on an E2E fixture, and
# the robustness inputs of tests/scores/random_inputs.sh (random bytes: errors; random text: scores)
sfx="$top_srcdir/tests/fixtures/scores"
vg pst-score-e2e "$top_builddir/pst" score "$sfx/e2e-perturbed/hyp.txt" \
  --refs-grouped "$sfx/e2e-perturbed/refs-grouped.txt" --metrics bleu,nist,rouge_l,cider,ter
vg pst-score-plain "$top_builddir/pst" score "$sfx/plain/hyp.txt" "$sfx/plain/ref0.txt" "$sfx/plain/ref1.txt" \
  --metrics bleu,nist,rouge_l,cider,ter --lowercase --json
rin="$out/score-inputs"
mkdir -p "$rin" && sh "$top_srcdir/tests/scores/random_inputs.sh" "$rin"
for args in "rand0 rand1" "rand2 --refs-grouped rand3" "asciirand asciirand" "utf8rand utf8rand"; do
  set -- $args
  h=$1; shift
  r=""; for a in "$@"; do case $a in --*) r="$r $a" ;; *) r="$r $rin/$a" ;; esac; done
  # an input error (exit 1) is the expected result for random bytes: only memory errors fail
  # shellcheck disable=SC2086
  VG_ALLOW_EXIT1=1 vg "pst-score-$h" "$top_builddir/pst" score "$rin/$h" $r --metrics bleu,nist,rouge_l,cider,ter
done

for name in $failed; do
  echo "---- $name: valgrind report ($out/$name.log)"
  head -n 200 "$out/$name.log"
  echo "---- $name: program output, last 40 lines ($out/$name.out)"
  tail -n 40 "$out/$name.out"
done
echo "valgrind: $n programs in $(($(date +%s) - t_start))s"
echo "valgrind: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
