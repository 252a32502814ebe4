#!/bin/sh
# skipped.sh — after `make check`: name every test that was skipped (exit 77) and why (the last
# "SKIP" line of its log), so that a skipped family (GPU, Slurm) is visible in every run's summary
# and not only as a count. Reads the .trs/.log files automake's harness wrote under BUILDDIR.
# Usage: tests/skipped.sh [BUILDDIR]. Prints nothing when no test was skipped; always exits 0.
dir=${1:-.}
find "$dir/tests" -name '*.trs' 2>/dev/null | sort | while read -r trs; do
  grep -q '^:test-result: SKIP' "$trs" || continue
  log=${trs%.trs}.log
  why=$(grep -h 'SKIP' "$log" 2>/dev/null | grep -v '^SKIP tests/' | tail -n 1)
  echo "skipped: ${trs%.trs} — ${why:-no reason in $log}"
done
exit 0
