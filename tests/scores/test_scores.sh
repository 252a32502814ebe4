#!/bin/sh
# test_scores.sh — `pst score --json` on the fixtures of tests/fixtures/scores (real E2E
# references held out as hypotheses, perturbed variants, everyday text; references grouped
# and as files; and, for BLEU, TER and NIST, text full of entities, clitics, numbers, non-ASCII
# capitals and Unicode white space) against the scores of the reference implementations in expected.json
# (tests/reference/make_score_fixtures.py: sacrebleu 2.6.0 BLEU/TER, mteval-v13a.pl NIST,
# pycocoevalcap 1.2 ROUGE-L/CIDEr on its PTBTokenizer output), to 1e-9 absolute
# (compare_scores.py). METEOR is tested by test_meteor.sh (needs java and the jar).
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
PST="$top_builddir/pst"
fx="$top_srcdir/tests/fixtures/scores"
cmp="$top_srcdir/tests/scores/compare_scores.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
# run CASE METRICS... -- PST-ARGS...: score and compare
run() {
  case_=$1; shift
  metrics=""
  while [ "$1" != -- ]; do metrics="$metrics $1"; shift; done
  shift
  if ! "$PST" score "$@" --json >"$tmp/got.json" 2>"$tmp/err"; then
    echo "FAIL $case_: pst score failed:"; cat "$tmp/err"; fails=$((fails + 1)); return
  fi
  # shellcheck disable=SC2086
  "$PY" "$cmp" "$fx/expected.json" "$case_" "$tmp/got.json" $metrics || fails=$((fails + 1))
}
all="bleu nist rouge_l cider ter"
for c in e2e-holdout e2e-perturbed; do
  run $c $all -- "$fx/$c/hyp.txt" --refs-grouped "$fx/$c/refs-grouped.txt" --metrics bleu,nist,rouge_l,cider,ter
  run $c bleu_lowercase -- "$fx/$c/hyp.txt" --refs-grouped "$fx/$c/refs-grouped.txt" --metrics bleu --lowercase
done
run plain $all -- "$fx/plain/hyp.txt" "$fx/plain/ref0.txt" "$fx/plain/ref1.txt" --metrics bleu,nist,rouge_l,cider,ter
run plain bleu_lowercase -- "$fx/plain/hyp.txt" "$fx/plain/ref0.txt" "$fx/plain/ref1.txt" --metrics bleu --lowercase
u="$fx/unicode-edge"
run unicode-edge bleu nist ter -- "$u/hyp.txt" "$u/ref0.txt" "$u/ref1.txt" --metrics bleu,nist,ter
run unicode-edge bleu_lowercase -- "$u/hyp.txt" "$u/ref0.txt" "$u/ref1.txt" --metrics bleu --lowercase
[ "$fails" -eq 0 ] && echo "test_scores: all metrics match the references" || echo "test_scores: $fails failures"
[ "$fails" -eq 0 ]
