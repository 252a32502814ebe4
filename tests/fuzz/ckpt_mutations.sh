#!/bin/sh
# ckpt_mutations.sh — checkpoints are outside data too: a tiny model's checkpoint is damaged
# in 342 deterministic ways (4 fixed bytes at 200 offsets spread over the file, 1-16 bytes of
# varying values at 100 more, the two metadata mutations that once crashed or hung `pst
# inspect` inside HDF5 (a damaged datatype message, a damaged extent), 40 truncations) and
# every damaged copy must be handled cleanly: `pst inspect` exits 0 (the
# damage hit unused bytes) or 1 with a message, never a crash or a hang; every 10th copy is
# also resumed by `pst train --resume FILE`, which must either resume or fail with status 1.
# The undamaged file must pass both.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$top_builddir/pst"
PY=${PST_PYTHON:-/usr/bin/python3}
export OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfg="-c $top_srcdir/inputs/tiny-random.ini model.hidden=32 model.heads=2 model.ffn=64 model.layers=1
  train.batch_size=4 train.seq_len=16 data.dev= train.steps=2"
"$PST" train $cfg "train.run_dir=$tmp/run" 2>/dev/null || { echo "FAIL: training the tiny model"; exit 1; }
f="$tmp/run/checkpoints/ckpt-00000002.h5"
size=$(stat -c %s "$f")
"$PST" inspect "$f" >/dev/null 2>&1 || { echo "FAIL: the undamaged checkpoint does not inspect"; exit 1; }
bad=0 caught=0 resumed=0
check() { # check LABEL: run the tools on $tmp/m.h5
  timeout 20 "$PST" inspect "$tmp/m.h5" >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc -eq 1 ] && caught=$((caught + 1))
  if [ $rc -gt 1 ] || { [ $rc -eq 1 ] && ! grep -q "pst: error: \|FAILED\|fail" "$tmp/err"; }; then
    bad=$((bad + 1)); echo "  $1: pst inspect exit $rc"; tail -2 "$tmp/err"
  fi
  if [ $((n % 10)) -eq 0 ]; then
    timeout 60 "$PST" train $cfg "train.run_dir=$tmp/res" --resume "$tmp/m.h5" train.steps=3 >/dev/null 2>&1; rc=$?
    rm -rf "$tmp/res"
    if [ $rc -gt 1 ]; then bad=$((bad + 1)); echo "  $1: pst train --resume exit $rc"; fi
    resumed=$((resumed + 1))
  fi
}
n=0
while [ $n -lt 200 ]; do
  cp "$f" "$tmp/m.h5"
  off=$(( (n * 103001) % size ))
  printf '\377\000\125\252' | dd of="$tmp/m.h5" bs=1 seek=$off conv=notrunc 2>/dev/null
  check "4 bytes at $off"
  n=$((n + 1))
done
while [ $n -lt 300 ]; do # 1..16 bytes of values that change with n
  cp "$f" "$tmp/m.h5"
  off=$(( (n * 2654435761 + 17) % size ))
  awk -v n=$n 'BEGIN { for (i = 0; i < 1 + n % 16; i++) printf "%c", (n * 37 + i * 101 + 13) % 256 }' |
    LC_ALL=C dd of="$tmp/m.h5" bs=1 seek=$off conv=notrunc 2>/dev/null
  check "$((1 + n % 16)) bytes at $off"
  n=$((n + 1))
done
# the two metadata mutations that once crashed or hung HDF5 1.10 inside `pst inspect`: a float
# datatype message (from its size field) and a rank-2 dataspace message (from its first extent),
# found in this file by their encodings (the middle occurrence of each), not at fixed offsets; a
# mutation that cannot be placed, or leaves the file unchanged, is a failure
cat >"$tmp/place.py" <<'PYEOF'
import re, sys
path, what = sys.argv[1], sys.argv[2]
d = bytearray(open(path, "rb").read())
# version-2 object headers (checkpoint version 2: the newest HDF5 format): message header =
# type (1 byte), size (2), flags (1); then the message body
pat, skip, val = {  # message header + body start, bytes skipped, new bytes
    "datatype": (rb"\x03..\x01\x11", 8, b"\x12\xf3\x3b\x4c\x76\x7c\x50\xff"),
    "extent": (rb"\x01..[\x00-\x0f]\x02\x02\x01\x01", 9, b"\x2e\x3d\x0e\x55\x3d\xca\xbb\x13")}[what]
ms = [m.start() for m in re.finditer(pat, bytes(d), re.S)]
if not ms:
    sys.exit(1)
at = ms[len(ms) // 2] + skip
d[at:at + len(val)] = val
open(path, "wb").write(d)
print(at)
PYEOF
for what in datatype extent; do
  cp "$f" "$tmp/m.h5"
  at=$("$PY" "$tmp/place.py" "$tmp/m.h5" "$what")
  if [ -z "$at" ] || cmp -s "$f" "$tmp/m.h5"; then
    bad=$((bad + 1)); echo "  regression: the $what mutation could not be placed in $f"
  else
    check "regression: 8 bytes of a $what message at $at"
  fi
  n=$((n + 1))
done
while [ $n -lt 342 ]; do
  cp "$f" "$tmp/m.h5"
  len=$(( size * (n - 302) / 40 ))
  truncate -s $len "$tmp/m.h5"
  check "truncated to $len"
  n=$((n + 1))
done
echo "ckpt mutations: $n damaged copies ($caught reported as damaged, $resumed also resumed), $bad crashed or hung"
[ $bad -eq 0 ]
