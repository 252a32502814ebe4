#!/bin/sh
# test_meteor.sh — METEOR 1.5 of `pst score` against pycocoevalcap's Meteor on the fixtures of
# tests/fixtures/scores (expected.json, to 1e-9 absolute; both run the same meteor-1.5.jar, so
# this checks the tokens and the protocol pst feeds it). Needs java and the jar: $PST_METEOR_JAR,
# else the reference stack's (.ref/scores, scripts/ref-scores, which ./quickstart.sh check
# installs). Without them the test is skipped (exit 77) and says why.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
PST="$top_builddir/pst"
fx="$top_srcdir/tests/fixtures/scores"
jar=${PST_METEOR_JAR:-$top_srcdir/.ref/scores/pycocoevalcap/meteor/meteor-1.5.jar}
if ! command -v java >/dev/null 2>&1; then
  echo "SKIP meteor: java not found (Debian: apt-get install default-jre-headless; ./quickstart.sh check does)"
  exit 77
fi
if [ ! -r "$jar" ]; then
  echo "SKIP meteor: no meteor-1.5.jar at $jar (run scripts/ref-scores or set PST_METEOR_JAR)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
for c in e2e-holdout plain; do
  if [ "$c" = plain ]; then refs="$fx/plain/ref0.txt $fx/plain/ref1.txt"; else refs="--refs-grouped $fx/$c/refs-grouped.txt"; fi
  # shellcheck disable=SC2086
  if "$PST" score "$fx/$c/hyp.txt" $refs --metrics meteor --meteor-jar "$jar" --json >"$tmp/got.json" 2>"$tmp/err"; then
    "$PY" "$top_srcdir/tests/scores/compare_scores.py" "$fx/expected.json" "$c" "$tmp/got.json" meteor || fails=$((fails + 1))
  else
    echo "FAIL $c: pst score failed:"; cat "$tmp/err"; fails=$((fails + 1))
  fi
done
# a jar that cannot run is reported, not scored
printf 'not a jar\n' >"$tmp/bad.jar"
"$PST" score "$fx/plain/hyp.txt" "$fx/plain/ref0.txt" --metrics meteor --meteor-jar "$tmp/bad.jar" >"$tmp/out" 2>&1
if [ $? -eq 0 ] && grep -q "METEOR   unavailable: meteor-1.5.jar gave no score" "$tmp/out"; then echo "ok   broken jar: METEOR unavailable"; else
  echo "FAIL broken jar:"; cat "$tmp/out"; fails=$((fails + 1)); fi
[ "$fails" -eq 0 ]
