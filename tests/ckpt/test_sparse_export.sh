#!/bin/sh
# test_sparse_export.sh — `pst export --format sparse` and `pst generate --sparse` (issue 15):
# a tiny GPT-2 and a tiny LLaMA (untied head, q/k/v and MLP biases) trained 6 steps at sparsity
# 0.9 (E2E pairs, GPT-2 BPE), exported as sparse inference files.
#   equal outputs: greedy generation (3 prompts, 16 new tokens, token ids) from the sparse file
#     equals generation from the checkpoint on the dense masked path (eval.sparse=off) and on
#     the sparse kernels (eval.sparse=on), token for token;
#   the file holds CSR (rowptr I64, col U16, val F32) for every masked linear and no dense
#     weight of them; an existing output is refused without --force and left unchanged;
#   bad input, each a clear error (exit 1, no crash, the message naming the file or tensor):
#     truncated file, a safetensors file of another kind, a column index out of range, row
#     pointers that decrease, a model key set from the command line (only generate.*/eval.*).
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$top_builddir/pst"
PY=${PST_PYTHON:-/usr/bin/python3}
[ -d "$top_srcdir/../shared/data" ] || { echo "missing $top_srcdir/../shared/data (the shared data set)"; exit 1; }
shared=$(cd "$top_srcdir/../shared/data" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
head -n 120 "$shared/e2e/lora/train.txt" >"$tmp/e2e.txt"
prompts="--prompt name[The_Eagle] --prompt food[Italian],_area[riverside] --prompt x"

# expect_error WHAT PATTERN FILE: generating from FILE fails with status 1 and PATTERN in stderr
expect_error() {
  "$PST" generate --sparse "$3" $prompts --max-new-tokens 4 --ids >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 1 ] || ! grep -q "$2" "$tmp/err"; then
    fail "$1: expected status 1 and '$2', got $rc: $(head -c 300 "$tmp/err")"
  else
    echo "ok: $1: $(grep -m1 'error' "$tmp/err" | head -c 200)"
  fi
}

for arch in gpt2 llama; do
  ini="-c $top_srcdir/tests/fixtures/$arch-tiny.ini data.train=$tmp/e2e.txt data.tokenizer=$shared/vocab/gpt2 train.steps=6"
  [ $arch = llama ] && ini="$ini model.tie_embeddings=false model.qkv_bias=true model.mlp_bias=true"
  if ! "$PST" train $ini pst.sparsity_init=0.9 "train.run_dir=$tmp/$arch" 2>"$tmp/err"; then
    echo "FAIL: tiny $arch run"; cat "$tmp/err"; exit 1
  fi
  ckpt=$tmp/$arch/checkpoints/ckpt-00000006.h5
  sp=$tmp/$arch.safetensors
  "$PST" export "$ckpt" --format sparse "$sp" 2>"$tmp/err" || { fail "$arch export"; cat "$tmp/err"; continue; }
  for mode in off on; do
    "$PST" generate --ckpt "$ckpt" eval.sparse=$mode $prompts --max-new-tokens 16 --ids >"$tmp/$arch-$mode.ids" 2>"$tmp/err" ||
      { fail "$arch generate --ckpt eval.sparse=$mode"; cat "$tmp/err"; }
  done
  "$PST" generate --sparse "$sp" $prompts --max-new-tokens 16 --ids >"$tmp/$arch-file.ids" 2>"$tmp/err" ||
    { fail "$arch generate --sparse"; cat "$tmp/err"; }
  grep -q "linears sparse" "$tmp/err" || fail "$arch: the sparse file's load line is missing"
  if [ "$(wc -l <"$tmp/$arch-off.ids")" -ne 3 ] || [ "$(wc -w <"$tmp/$arch-off.ids")" -ne 48 ]; then
    fail "$arch: expected 3 lines of 16 ids: $(cat "$tmp/$arch-off.ids")"
  fi
  for v in on file; do
    cmp -s "$tmp/$arch-off.ids" "$tmp/$arch-$v.ids" || fail "$arch: $v differs from the dense masked path:
$(cat "$tmp/$arch-off.ids")
vs
$(cat "$tmp/$arch-$v.ids")"
  done
  echo "ok: $arch: greedy ids equal from the checkpoint (dense, sparse kernels) and the sparse file"
  # the layout: CSR for every masked linear, no dense weight of them
  "$PY" - "$sp" <<'EOF' || fail "$arch: layout"
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
md = h.pop('__metadata__')
assert md['format'] == 'pst-sparse-inference' and md['version'] == '1' and 'config' in md, md.keys()
lin = sorted({k.rsplit('.', 1)[0] for k in h if k.endswith('.rowptr')})
assert len(lin) >= 12, lin
for l in lin:
    assert h[l + '.rowptr']['dtype'] == 'I64' and h[l + '.col']['dtype'] == 'U16' and h[l + '.val']['dtype'] == 'F32'
    assert l + '.w' not in h and l + '.U' not in h, l
    assert h[l + '.col']['shape'] == h[l + '.val']['shape']
print('ok: %d CSR linears, %d tensors' % (len(lin), len(h)))
EOF
done

sp=$tmp/gpt2.safetensors
cp "$sp" "$tmp/keep"
"$PST" export "$tmp/gpt2/checkpoints/ckpt-00000006.h5" --format sparse "$sp" 2>"$tmp/err" &&
  fail "an existing output was overwritten without --force"
grep -q "force" "$tmp/err" || fail "no --force hint: $(cat "$tmp/err")"
cmp -s "$sp" "$tmp/keep" || fail "the refused output changed"

# bad input
head -c 5000 "$sp" >"$tmp/trunc.safetensors"
expect_error "truncated file" "trunc.safetensors" "$tmp/trunc.safetensors"
"$PY" - "$sp" "$tmp/other.safetensors" <<'EOF'
import json, struct, sys
d = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', d[:8])[0]; h = json.loads(d[8:8 + n])
h['__metadata__'] = {'format': 'pt'}
b = json.dumps(h).encode(); b += b' ' * (-len(b) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(b)) + b + d[8 + n:])
EOF
expect_error "another kind of safetensors" "not a pst sparse inference file" "$tmp/other.safetensors"
# patch one array entry of blk.1.fc1: PART INDEX FORMAT VALUE
patch() {
  "$PY" - "$sp" "$tmp/bad.safetensors" "$1" "$2" "$3" "$4" <<'EOF'
import json, struct, sys
src, dst, part, idx, fmt, val = sys.argv[1:7]
d = bytearray(open(src, 'rb').read()); n = struct.unpack('<Q', d[:8])[0]; h = json.loads(d[8:8 + n])
t = h['blk.1.fc1.' + part]; size = struct.calcsize(fmt)
struct.pack_into(fmt, d, 8 + n + t['data_offsets'][0] + int(idx) * size, int(val))
open(dst, 'wb').write(d)
EOF
}
patch col 3 '<H' 65535
expect_error "column out of range" "blk.1.fc1.*column 65535" "$tmp/bad.safetensors"
patch rowptr 5 '<q' 0
expect_error "row pointers decrease" "blk.1.fc1.*row" "$tmp/bad.safetensors"
"$PST" generate --sparse "$sp" model.hidden=32 --prompt x --ids >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "only generate" "$tmp/err" || fail "a model key was accepted with --sparse: $(cat "$tmp/err")"

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all sparse export checks passed"
