#!/bin/sh
# run_parity.sh — regenerate the PyTorch fixtures and compare the C engine against them.
# Fails (never skips) when the reference cannot run: python3-torch is part of the test setup.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PY=${PST_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "FAIL: $PY cannot import torch; install Debian's python3-torch (./quickstart.sh does)" >&2
  exit 1
fi
fx="$top_builddir/tests/parity/fixtures"
rm -rf "$fx" && mkdir -p "$fx"
"$PY" "$top_srcdir/tests/reference/make_fixtures.py" "$fx" || { echo "FAIL: fixture generation" >&2; exit 1; }
n=0; fail=0
for ini in "$fx"/*.ini; do
  n=$((n + 1))
  "$top_builddir/tests/parity/test_parity" "$ini" || fail=$((fail + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL: no fixture cases were generated" >&2; exit 1; }
echo "parity: $((n - fail)) of $n cases passed"
[ "$fail" -eq 0 ]
