#!/bin/sh
# ckpt_bitflips.sh — single-bit flips of a real checkpoint are detected or harmless, never
# silent (issue 13): a tiny model's final checkpoint (tensors, Adam moments, CSR weights,
# config and results) gets one bit flipped at 200 positions spread over the file
# (ckpt_bitflips.py); `pst inspect` must fail with an error, or pass with the same content
# digest as the undamaged file (tensors, texts and root attributes); every 20th copy is resumed
# too (exit 0 or 1, no crash). bench/RESULTS.md records a 2,000-flip run.
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
"$PY" "$top_srcdir/tests/fuzz/ckpt_bitflips.py" "$PST" "$tmp/run/checkpoints/ckpt-00000002.h5" "${PST_BITFLIPS:-200}" \
  --resume-cfg "$(echo $cfg | sed 's/train.steps=2/train.steps=3/')"
