#!/bin/sh
# replay.sh — run the safetensors fuzz target over the committed corpus (no crash, no leak
# under the normal build; the libFuzzer build is described in tests/fuzz/README.md).
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
exec "$top_builddir/tests/fuzz/replay_safetensors" "$top_srcdir/tests/fuzz/corpus/safetensors"
