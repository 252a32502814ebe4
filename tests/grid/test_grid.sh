#!/bin/sh
# test_grid.sh — `pst grid`: expand inputs/grids/tiny.grid (8 points), check the configs and
# the sbatch line, train 3 points for real, make one fail for real (missing data.train),
# fake the other states (stale running, preempted, a done point with a known score), then
# check `status` (counts, stale, --pending, re-submit line), `collect` (rows, the per-task
# best = the max over points computed here in Python from results.json, the failed point
# listed, PNGs when gnuplot exists), bad grid files, idempotent re-expansion and refusal of
# another grid in the same OUTDIR. Exit 0 when everything holds, 1 otherwise.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST=${PST:-$top_builddir/pst}
PY=${PST_TEST_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
srcdir=$(cd "$top_srcdir" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { # check NAME COMMAND...
  name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
expect_fail() { # expect_fail NAME PATTERN pst-args...: non-zero exit, stderr matching PATTERN
  name=$1; pat=$2; shift 2
  "$PST" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$pat" "$tmp/err"; then ok "$name"; else
    bad "$name (exit $rc, stderr:)"; cat "$tmp/err"; fi
}

OUT=$tmp/out-tiny
GRID=$srcdir/inputs/grids/tiny.grid
check "pst grid --help documents the format" sh -c "'$PST' grid --help | grep -q '\[repeat\]'"

# ---- expand ---------------------------------------------------------------------------
"$PST" grid expand "$GRID" "$OUT" >"$tmp/expand.txt" 2>&1 || { bad "expand tiny.grid"; cat "$tmp/expand.txt"; }
check "expand: 8 points" grep -q "8 points" "$tmp/expand.txt"
check "expand: sbatch line" grep -qx "  sbatch --array=0-7%8 jobs/grid.sbatch $OUT" "$tmp/expand.txt"
"$PST" grid expand "$GRID" "$tmp/out-m3" --max-parallel 3 >"$tmp/expand3.txt" 2>&1
check "expand --max-parallel 3" grep -qx "  sbatch --array=0-7%3 jobs/grid.sbatch $tmp/out-m3" "$tmp/expand3.txt"
check "expand: 8 point configs" test "$(ls "$OUT"/points/*/config.ini | wc -l)" -eq 8
# every point: overrides applied (first dimension slowest), run_dir absolute, [set] keys, paths absolute
"$PY" - "$OUT" "$srcdir" <<'EOF' >"$tmp/configs.txt" 2>&1 && ok "expand: overrides, run_dir, set keys, absolute paths" || { bad "expand: configs"; cat "$tmp/configs.txt"; }
import configparser, itertools, json, os, sys
out, src = os.path.realpath(sys.argv[1]), sys.argv[2]
m = json.load(open(os.path.join(out, "manifest.json")))
assert m["name"] == "tiny" and len(m["points"]) == 8, m
assert m["base"] == os.path.realpath(os.path.join(src, "inputs/tiny-random.ini")), m["base"]
for i, (lr, sp, seed) in enumerate(itertools.product(["1e-3", "3e-3"], ["0.5", "0.9"], ["1", "2"])):
    p = m["points"][i]
    d = os.path.join(out, "points", "%04d" % i)
    assert p["index"] == i and p["dir"] == d, p
    assert p["overrides"] == {"optim.lr": lr, "pst.sparsity_final": sp, "train.seed": seed}, p
    c = configparser.ConfigParser()
    c.read(os.path.join(d, "config.ini"))
    assert float(c["optim"]["lr"]) == float(lr) and float(c["pst"]["sparsity_final"]) == float(sp)
    assert c["train"]["seed"] == seed and c["train"]["run_dir"] == d, dict(c["train"])
    assert c["model"]["hidden"] == "64" and c["model"]["ffn"] == "256" and c["train"]["steps"] == "6"
    assert c["train"]["batch_size"] == "8" and c["train"]["seq_len"] == "32"
    assert c["data"]["train"] == os.path.realpath(os.path.join(src, "inputs/demo/train.ids.tsv")), c["data"]["train"]
    assert c["ckpt"]["resume"] == "auto"
print("configs ok")
EOF

# ---- run 3 points for real, one failing for real ---------------------------------------------
for i in 0000 0001 0002; do
  "$PST" train -c "$OUT/points/$i/config.ini" >"$tmp/train-$i.txt" 2>&1 || { bad "train point $i"; cat "$tmp/train-$i.txt"; }
done
sed -i 's|^train = .*|train = /nonexistent/grid-test/train.tsv|' "$OUT/points/0003/config.ini"
if "$PST" train -c "$OUT/points/0003/config.ini" >"$tmp/train-0003.txt" 2>&1; then bad "point 3 fails"; else ok "point 3 fails"; fi
for i in 0000 0001 0002 0003; do
  check "point $i wrote status.json and train.log" test -s "$OUT/points/$i/status.json" -a -s "$OUT/points/$i/train.log"
done
# fabricated states: 4 running but not updated for an hour, 5 preempted, 7 done with a known
# (higher) score; 6 not started
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$OUT/points/0004/status.json" <<EOF
{"state": "running", "step": 2, "total_steps": 6, "host": "node1", "pid": 1, "updated": "2001-01-01T00:00:00Z", "slurm_job": "99_4"}
EOF
cat >"$OUT/points/0005/status.json" <<EOF
{"state": "preempted", "step": 3, "total_steps": 6, "host": "node2", "pid": 2, "updated": "$now", "slurm_job": "99_5"}
EOF
cat >"$OUT/points/0007/status.json" <<EOF
{"state": "done", "step": 6, "total_steps": 6, "host": "node3", "pid": 3, "updated": "$now", "slurm_job": "99_7"}
EOF
cat >"$OUT/points/0007/results.json" <<EOF
{"task": "classify", "method": "pst", "target_sparsity": 0.9,
 "best": {"step": 6, "epoch": 0, "sparsity": 0.9, "loss": 0.5, "accuracy": 0.875, "f1": 0.8},
 "evals": [{"step": 3, "epoch": 0, "sparsity": 0.6, "loss": 0.6, "accuracy": 0.99, "f1": 0.9},
           {"step": 6, "epoch": 0, "sparsity": 0.9, "loss": 0.5, "accuracy": 0.875, "f1": 0.8}]}
EOF
cp "$OUT/points/0002/metrics.jsonl" "$OUT/points/0007/metrics.jsonl"

# ---- status ---------------------------------------------------------------------------------
"$PST" grid status "$OUT" >"$tmp/status.txt" 2>&1 || bad "status exits 0"
check "status: summary counts" grep -q "summary: 4 done, 1 running (some stale?), 1 failed, 1 preempted, 1 not started" "$tmp/status.txt"
check "status: stale running point" grep -q "^0004 .*running (stale?)" "$tmp/status.txt"
check "status: failed point with its error" grep -q "error: .*nonexistent/grid-test/train.tsv" "$tmp/status.txt"
check "status: failed point's train.log tail" grep -q "^       | .*nonexistent/grid-test" "$tmp/status.txt"
check "status: re-submit line" grep -qx "  sbatch --array=3,4,5,6%8 jobs/grid.sbatch $OUT" "$tmp/status.txt"
check "status --pending" test "$("$PST" grid status "$OUT" --pending)" = "3,4,5,6"

# ---- collect --------------------------------------------------------------------------------
"$PST" grid collect "$OUT" >"$tmp/collect.txt" 2>&1 || { bad "collect exits 0"; cat "$tmp/collect.txt"; }
C=$OUT/collect
check "collect: results.md, results.csv, best.csv" test -s "$C/results.md" -a -s "$C/results.csv" -a -s "$C/best.csv"
check "collect: prints where things went" grep -q "$C/results.md" "$tmp/collect.txt"
"$PY" - "$OUT" <<'EOF' >"$tmp/collect-check.txt" 2>&1 && ok "collect: rows and per-task best = max over the points" || { bad "collect: rows / best"; cat "$tmp/collect-check.txt"; }
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "collect", "results.csv"))))
assert [int(r["index"]) for r in rows] == list(range(8)), rows
states = [r["state"] for r in rows]
assert states == ["done", "done", "done", "failed", "running", "preempted", "not started", "done"], states
assert rows[3]["error"] and "nonexistent" in rows[3]["error"]
# independent: per (task, method, target) the max over the done points' results.json best accuracy
best = {}
for i in range(8):
    d = os.path.join(out, "points", "%04d" % i)
    st = json.load(open(os.path.join(d, "status.json")))["state"] if os.path.exists(os.path.join(d, "status.json")) else "not started"
    if st != "done":
        continue
    r = json.load(open(os.path.join(d, "results.json")))
    if r["best"] is None:
        continue
    k = (r["task"], r["method"], float(r["target_sparsity"]))
    v = r["best"]["accuracy"]
    assert abs(float(rows[i]["best_score"]) - v) < 1e-8, (i, rows[i], v)
    if k not in best or v > best[k][0]:
        best[k] = (v, i)
got = {(r["task"], r["method"], float(r["target_sparsity"])): r for r in csv.DictReader(open(os.path.join(out, "collect", "best.csv")))}
assert set(got) == set(best) | {k for k in got if not got[k]["best_score"]}, (got, best)
for k, (v, i) in best.items():
    g = got[k]
    assert abs(float(g["best_score"]) - v) < 1e-8 and int(g["point"]) == i, (k, g, v, i)
    assert g["metric"] == "accuracy"
assert best[("classify", "pst", 0.9)] == (0.875, 7), best   # the fabricated point wins its group
g9 = got[("classify", "pst", 0.9)]
assert (g9["points"], g9["done"], g9["failed"], g9["not_done"]) == ("4", "2", "1", "2"), g9
print("best", best)
EOF
check "collect: failed point listed in results.md" grep -q "point 0003 .*failed" "$C/results.md"
check "collect: failed point's log in results.md" grep -q "nonexistent/grid-test" "$C/results.md"
check "collect: not-started point listed" grep -q "point 0006 .*not started" "$C/results.md"
check "collect: .gp and .dat files" test -s "$C/plots/run-0000.gp" -a -s "$C/plots/run-0000.dat" -a -s "$C/plots/tradeoff-classify.gp"
if command -v gnuplot >/dev/null 2>&1 && [ "${PST_GNUPLOT:-}" != none ]; then
  for f in tradeoff-classify run-0000 run-0001 run-0002 run-0007; do
    check "collect: $f.png" test -s "$C/plots/$f.png"
  done
else
  check "collect: says PNGs were skipped" grep -q "PNGs skipped" "$tmp/collect.txt"
fi
PST_GNUPLOT=none "$PST" grid collect "$OUT" --out "$tmp/nogp" >"$tmp/collect2.txt" 2>&1
check "collect --out without gnuplot: .gp files, PNGs skipped" sh -c "grep -q 'PNGs skipped' '$tmp/collect2.txt' && test -s '$tmp/nogp/plots/run-0000.gp' && ! ls '$tmp/nogp/plots/'*.png >/dev/null 2>&1"

# ---- re-expansion and refusal ------------------------------------------------------------------
cp "$OUT/points/0000/config.ini" "$tmp/cfg0-before"
cp "$OUT/points/0006/config.ini" "$tmp/cfg6-before"
cp "$OUT/manifest.json" "$tmp/manifest-before"
"$PST" grid expand "$GRID" "$OUT" >"$tmp/reexpand.txt" 2>&1 || { bad "re-expand the same grid"; cat "$tmp/reexpand.txt"; }
check "re-expand: started points left alone" grep -q "7 started point(s) left as they are" "$tmp/reexpand.txt"
check "re-expand: run dirs kept" test -s "$OUT/points/0000/results.json" -a -s "$OUT/points/0003/status.json"
check "re-expand: configs unchanged" sh -c "cmp -s '$tmp/cfg0-before' '$OUT/points/0000/config.ini' && cmp -s '$tmp/cfg6-before' '$OUT/points/0006/config.ini'"
check "re-expand: manifest unchanged" cmp -s "$tmp/manifest-before" "$OUT/manifest.json"
cat >"$tmp/other.grid" <<EOF
[grid]
base = $srcdir/inputs/tiny-random.ini
name = other
[axes]
optim.lr = 1e-3, 2e-3
EOF
expect_fail "another grid into the same OUTDIR is refused" "already holds grid 'tiny'" grid expand "$tmp/other.grid" "$OUT"
check "refused expansion changed nothing" cmp -s "$tmp/manifest-before" "$OUT/manifest.json"

# ---- bad grid files ------------------------------------------------------------------------------
printf '[grid]\nbase = %s/inputs/tiny-random.ini\n[axes]\noptim.lr = 1e-3, 2e-3\noptim.lrr = 1e-3\n' "$srcdir" >"$tmp/typo.grid"
expect_fail "unknown key names file:line" "typo.grid:5: .*optim.lrr" grid expand "$tmp/typo.grid" "$tmp/o1"
printf '[grid]\nbase = %s/inputs/tiny-random.ini\n[axes]\noptim.lr = 1e-3, fast\n' "$srcdir" >"$tmp/badval.grid"
expect_fail "bad value names file:line" "badval.grid:4: .*optim.lr.*fast" grid expand "$tmp/badval.grid" "$tmp/o2"
printf '[grid]\nbase = %s/inputs/tiny-random.ini\n[zip]\noptim.lr = 1e-3, 2e-3\ntrain.seed = 1, 2, 3\n' "$srcdir" >"$tmp/zip.grid"
expect_fail "zip lists of unequal length" "zip.grid:5: .*train.seed has 3 values but optim.lr (line 4) has 2" grid expand "$tmp/zip.grid" "$tmp/o3"
printf '[grid]\nname = nobase\n[axes]\noptim.lr = 1e-3\n' >"$tmp/nobase.grid"
expect_fail "missing base" "base is missing" grid expand "$tmp/nobase.grid" "$tmp/o4"
printf '[grid]\nbase = no-such.ini\n[axes]\noptim.lr = 1e-3\n' >"$tmp/nofile.grid"
expect_fail "base file not found" "nofile.grid:2: .*no-such.ini.*does not exist" grid expand "$tmp/nofile.grid" "$tmp/o5"
printf '[grid]\nbase = %s/inputs/tiny-random.ini\n[axes]\nmodel.heads = 4, 5\n' "$srcdir" >"$tmp/cross.grid"
expect_fail "a point failing the cross-key checks" "point 1 (model.heads=5).*not divisible" grid expand "$tmp/cross.grid" "$tmp/o6"
printf '[grid]\nbase = %s/inputs/tiny-random.ini\n[axes]\ntrain.run_dir = a, b\n' "$srcdir" >"$tmp/rundir.grid"
expect_fail "train.run_dir in a grid" "rundir.grid:4: train.run_dir is set by pst grid" grid expand "$tmp/rundir.grid" "$tmp/o7"
check "failed expansions wrote nothing" test ! -e "$tmp/o1/manifest.json" -a ! -e "$tmp/o3/points"
expect_fail "status without a manifest" "no manifest.json" grid status "$tmp/o1"

# bench/grid_store.sh: the done points' small files (never checkpoints) saved, then restored
# into a fresh expansion where only the other points are pending
if GRID_STORE="$tmp/store" PST="$PST" sh "$srcdir/bench/grid_store.sh" save "$OUT" >"$tmp/store.txt" 2>&1 &&
   GRID_STORE="$tmp/store" PST="$PST" sh "$srcdir/bench/grid_store.sh" restore "$GRID" "$tmp/restored" >>"$tmp/store.txt" 2>&1; then
  saved=$(ls "$tmp/store/tiny/points" | tr '\n' ' ')
  heavy=$(find "$tmp/store" -name '*.h5' -o -name '*.safetensors' -o -name checkpoints)
  check "grid_store: the 4 done points saved ($saved), no checkpoints or trainables" \
    test "$saved" = "0000 0001 0002 0007 " -a -z "$heavy"
  check "grid_store: restored, pending = the points not done" grep -q "pending: 3,4,5,6$" "$tmp/store.txt"
  check "grid_store: restored results equal the originals" cmp -s "$OUT/points/0001/results.json" "$tmp/restored/points/0001/results.json"
else
  bad "grid_store.sh save/restore"; cat "$tmp/store.txt"
fi

# the shipped grids expand
for g in bert-glue roberta-glue tradeoff mrpc-collapse glue-minilm-mrpc; do
  "$PST" grid expand "$srcdir/inputs/grids/$g.grid" "$tmp/ship-$g" >"$tmp/ship-$g.txt" 2>&1 || { bad "expand $g.grid"; cat "$tmp/ship-$g.txt"; continue; }
  ok "expand $g.grid ($(sed -n 's/.*: \([0-9]*\) points.*/\1/p' "$tmp/ship-$g.txt") points)"
done
check "bert-glue: 40 points, RTE data resolved" sh -c "grep -q '40 points' '$tmp/ship-bert-glue.txt' && grep -q '^train = /.*/glue/RTE/train.tsv' '$tmp/ship-bert-glue/points/0016/config.ini'"
check "tradeoff: 18 points" grep -q "18 points" "$tmp/ship-tradeoff.txt"

[ $fails -eq 0 ] && echo "all grid tests passed" || echo "$fails grid test(s) failed"
[ $fails -eq 0 ]
