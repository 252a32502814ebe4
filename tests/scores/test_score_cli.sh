#!/bin/sh
# test_score_cli.sh — `pst score` as a user meets it: --help, usage errors (exit 2), and bad
# input that must give a clear error naming the file (and line, or both counts) with exit 1 and
# no crash: references with another number of lines, invalid UTF-8 and NUL bytes, empty and
# unreadable files, a directory, wrong group counts and empty groups. Then robustness: random
# bytes and very long lines as hypotheses and references give a score or an error, never a
# signal (exit >= 128).
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$top_builddir/pst"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# expect STATUS NAME PATTERN pst-score-args...: exit status STATUS and stderr matching PATTERN
expect() {
  want=$1; name=$2; pat=$3; shift 3
  "$PST" score "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$tmp/err"; then ok "$name"; else
    bad "$name (exit $rc, want $want; stderr:)"; cat "$tmp/err"; fi
}
printf 'a cat sat on the mat\nthe dog barked\n' >"$tmp/hyp"
printf 'a cat sat on a mat\nthe dog is barking\n' >"$tmp/ref"
printf 'one line only\n' >"$tmp/short"
printf 'a cat\377 sat\nfine\n' >"$tmp/badutf8"
printf 'a cat\nfi\000ne\n' >"$tmp/nul"
: >"$tmp/empty"
printf 'r1a\nr1b\n\nr2a\n\n\nr3\n' >"$tmp/twoblank"
printf 'r1a\nr1b\n\nr2a\n\nr3\n' >"$tmp/threegroups"
printf 'r1a\nr1b\n\nr2a\n' >"$tmp/grouped"

if "$PST" score --help | grep -q -- "--refs-grouped FILE"; then ok "--help"; else bad "--help"; fi
"$PST" --help | grep -q "pst score" && ok "pst --help lists score" || bad "pst --help lists score"
expect 2 "no arguments" "no hypothesis file given"
expect 2 "no references" "no references given" "$tmp/hyp"
expect 2 "files and groups" "not both" "$tmp/hyp" "$tmp/ref" --refs-grouped "$tmp/grouped"
expect 2 "unknown metric" "unknown metric 'bleu4'" "$tmp/hyp" "$tmp/ref" --metrics bleu,bleu4
expect 2 "unknown option" "unknown option or missing value: --bogus" "$tmp/hyp" "$tmp/ref" --bogus
expect 1 "ref line count" "$tmp/short has 1 lines but $tmp/hyp has 2 lines" "$tmp/hyp" "$tmp/ref" "$tmp/short"
expect 1 "invalid UTF-8 in hyp" "$tmp/badutf8:1: invalid UTF-8 at byte 6" "$tmp/badutf8" "$tmp/ref"
expect 1 "NUL byte in ref" "$tmp/nul:2: NUL byte" "$tmp/hyp" "$tmp/nul"
expect 1 "empty hyp file" "$tmp/empty: empty file" "$tmp/empty" "$tmp/ref"
expect 1 "empty ref file" "$tmp/empty: empty file" "$tmp/hyp" "$tmp/empty"
expect 1 "missing file" "$tmp/nope: cannot open: No such file" "$tmp/hyp" "$tmp/nope"
expect 1 "directory" "$tmp: read error" "$tmp" "$tmp/ref"
expect 1 "group count" "$tmp/threegroups has 3 reference groups but $tmp/hyp has 2 lines" "$tmp/hyp" --refs-grouped "$tmp/threegroups"
expect 1 "empty group" "$tmp/twoblank:6: blank line ends an empty reference group" "$tmp/hyp" --refs-grouped "$tmp/twoblank"
chmod 000 "$tmp/ref" 2>/dev/null
if [ "$(id -u)" != 0 ]; then expect 1 "unreadable file" "cannot open: Permission denied" "$tmp/hyp" "$tmp/ref"; fi
chmod 644 "$tmp/ref"

# a good run: table and JSON, grouped references
"$PST" score "$tmp/hyp" --refs-grouped "$tmp/grouped" --metrics bleu,ter,cider >"$tmp/out" 2>&1 &&
  grep -q "2 segments, 3 references" "$tmp/out" && grep -q "^  TER " "$tmp/out" && ok "table" || { bad "table"; cat "$tmp/out"; }
"$PST" score "$tmp/hyp" "$tmp/ref" --json --metrics meteor --meteor-jar "$tmp/none.jar" >"$tmp/out" 2>&1 &&
  grep -q '"meteor": null' "$tmp/out" && grep -q "cannot read $tmp/none.jar" "$tmp/out" && ok "missing jar: METEOR null with the reason" ||
  { bad "missing jar"; cat "$tmp/out"; }

# robustness: random bytes (fixed seed, valid and invalid UTF-8) and very long lines
sh "$top_srcdir/tests/scores/random_inputs.sh" "$tmp"
for args in "rand0 rand1" "rand2 --refs-grouped rand3" "rand4 rand5" "long long2" "long --refs-grouped long2" \
  "asciirand asciirand" "asciirand --refs-grouped asciirand" "utf8rand utf8rand" \
  "utf8rand --refs-grouped utf8rand"; do
  set -- $args
  h=$1; shift
  r=""; for a in "$@"; do case $a in --*) r="$r $a" ;; *) r="$r $tmp/$a" ;; esac; done
  # shellcheck disable=SC2086
  "$PST" score "$tmp/$h" $r --metrics bleu,nist,rouge_l,cider,ter >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ "$rc" -le 1 ] && { [ "$rc" -eq 0 ] || [ -s "$tmp/err" ]; }; then ok "robust: $args (exit $rc)"; else
    bad "robust: $args (exit $rc)"; cat "$tmp/err"; fi
done
expect 1 "huge lines: TER table limit" "TER: segment 1: 40000 hypothesis x 40000 reference words exceed" "$tmp/huge" "$tmp/huge" --metrics ter
echo "test_score_cli: $fails failures"
[ "$fails" -eq 0 ]
