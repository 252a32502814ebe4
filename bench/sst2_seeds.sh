#!/bin/sh
# shellcheck disable=SC2086  # $common and $refcommon are word lists on purpose
# sst2_seeds.sh — the SST-2 quality comparison of bench/sst2_quality.sh (pst against the PyTorch
# reference bench/ref_train.py, same recipe) repeated over several seeds, PST 50 % and PST 90 %
# only, so that per-sparsity MEANS can be compared (one run of this recipe moves by ~2.5 points
# from float summation order alone: see bench/RESULTS.md).
#
#   bench/sst2_seeds.sh [OUT_DIR]            (default runs/sst2-seeds; rerunnable, overwrites)
#
# A seed S is `train.seed=S` for pst (initial U/A/cls.w AND the data order) and `--seed S` for
# ref_train.py (the same RNG streams, bit for bit; checked per seed by the lr-0 init check below).
# Environment (defaults in brackets):
#   N_TRAIN [1024]   first N_TRAIN rows of SST-2 train.tsv;  EPOCHS [2];  LR_PST [5e-4]
#   SEEDS ["1 2 3"]  SPARSITIES ["0.5 0.9"]
#   DEADLINE [none]  epoch seconds: a run is not started unless now + its estimate (EST_PST
#                    [90] / EST_REF [180] seconds, for 64 steps; scaled by steps) ends before it
#   GLUE_DIR, PST_PYTHON as in sst2_quality.sh
# Order: for each seed, for each sparsity: pst then PyTorch (pairs complete one at a time).
# Runs are sequential, never two at once; pst is run from a copy taken at the start.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
out=${1:-runs/sst2-seeds}
N_TRAIN=${N_TRAIN:-1024}
EPOCHS=${EPOCHS:-2}
LR_PST=${LR_PST:-5e-4}
SEEDS=${SEEDS:-"1 2 3"}
SPARSITIES=${SPARSITIES:-"0.5 0.9"}
DEADLINE=${DEADLINE:-0}
EST_PST=${EST_PST:-90}
EST_REF=${EST_REF:-180}
GLUE_DIR=${GLUE_DIR:-$top/../shared/data/glue}
PY=${PST_PYTHON:-/usr/bin/python3}
name=sst2_seeds
. "$here/sst2_lib.sh"
sst2_prepare
sst2_fresh_inputs
sst2_recipe
{
  sst2_env_lines
  echo "recipe=batch $BATCH x seq $SEQ, $EPOCHS epochs = $total steps ($spe per epoch), warmup $warm steps, lr $LR_PST, seeds $SEEDS"
} >"$out/env.txt"
cat "$out/env.txt"

skipped=
fits() { # fits EST64: may a run estimated at EST64 s per 64 steps start now?
  [ "$DEADLINE" -gt 0 ] || return 0
  [ $(($(date +%s) + $1 * total / 64)) -le "$DEADLINE" ]
}
for seed in $SEEDS; do
  # same initial trainables on both sides for this seed (pst one step at lr 0 vs ref_train's init)
  if fits 10; then
    "$PST" train -c "$ini" $common data.dev= train.steps=1 optim.lr=0 train.seed=$seed pst.method=pst \
      train.run_dir="$out/init-s$seed" -q
    ref --model-dir "$model" --method pst --seed $seed --check-init "$out/init-s$seed/trainables.safetensors"
  fi
  for sp in $SPARSITIES; do
    tag=$(echo "$sp" | sed 's/^0\.\([0-9]\)$/\10/; s/^0\.//')
    r=pst-$tag-s$seed
    if fits $EST_PST; then
      echo "== $r $(date -u '+%H:%M:%S')"
      timed "$out/$r" "$PST" train -c "$ini" $common train.seed=$seed pst.method=pst pst.sparsity_final=$sp \
        optim.lr=$LR_PST train.run_dir="$out/$r"
    else skipped="$skipped $r"; fi
    r=ref-$tag-s$seed
    if fits $EST_REF; then
      echo "== $r $(date -u '+%H:%M:%S')"
      timed "$out/$r" ref $refcommon --seed $seed --method pst --sparsity $sp --lr $LR_PST --out "$out/$r"
    else skipped="$skipped $r"; fi
  done
done

"$PY" - "$out" "$SEEDS" "$SPARSITIES" <<'PYEOF' | tee "$out/table.md"
import json, os, statistics as st, sys
out, seeds, sps = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
env = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "env.txt")) if "=" in l)

def load(name):
    f = os.path.join(out, name, "results.json")
    if not os.path.exists(f):
        return None
    r = json.load(open(f))
    w = os.path.join(out, name, "wall_s")
    return {"final": r["evals"][-1]["accuracy"] * 100 if r["evals"] else None,
            "best": r["best"]["accuracy"] * 100 if r["best"] else None,
            "wall": int(open(w).read()) if os.path.exists(w) else None}

def sd(x):
    return "%.2f" % st.stdev(x) if len(x) > 1 else "—"

print("%s UTC, commit %s; %s, %s cores, %s GB; %s; torch %s." % (env["date_utc"], env["commit"], env["cpu"],
      env["cores"], env["mem_gb"], env["pst"], env["torch"]))
print("Data: train = %s. Recipe: %s.\n" % (env["train"], env["recipe"]))
print("| target sparsity | seed | pst dev acc (%) | PyTorch dev acc (%) | pst − PyTorch (points) | pst wall (s) | PyTorch wall (s) |")
print("|---|---|---|---|---|---|---|")
summ = []
for sp in sps:
    tag = sp.replace("0.", "") if len(sp) > 3 else sp[2:] + "0"
    P, Q, D = [], [], []
    for s in seeds:
        p, q = load("pst-%s-s%s" % (tag, s)), load("ref-%s-s%s" % (tag, s))
        if not p and not q:
            continue
        pa = p and p["final"]
        qa = q and q["final"]
        if pa is not None: P.append(pa)
        if qa is not None: Q.append(qa)
        if pa is not None and qa is not None: D.append(pa - qa)
        print("| %s | %s | %s | %s | %s | %s | %s |" % (sp, s, "%.2f" % pa if pa is not None else "—",
              "%.2f" % qa if qa is not None else "—", "%+.2f" % (pa - qa) if pa is not None and qa is not None else "—",
              p and p["wall"] or "—", q and q["wall"] or "—"))
    summ.append((sp, P, Q, D))
print("\n| target sparsity | n pst / PyTorch | pst mean ± SD (%) | PyTorch mean ± SD (%) | mean difference (points) | SD of paired differences |")
print("|---|---|---|---|---|---|")
for sp, P, Q, D in summ:
    if not P and not Q:
        continue
    print("| %s | %d / %d | %s ± %s | %s ± %s | %s | %s |" % (sp, len(P), len(Q),
          "%.2f" % st.mean(P) if P else "—", sd(P), "%.2f" % st.mean(Q) if Q else "—", sd(Q),
          "%+.2f" % (st.mean(P) - st.mean(Q)) if P and Q else "—", sd(D)))
PYEOF
[ -z "$skipped" ] || echo "sst2_seeds: not started (deadline):$skipped" >&2
if [ -n "$failed" ]; then
  echo "sst2_seeds: failed runs:$failed (see OUT_DIR/<run>/log.txt)" >&2
  exit 1
fi
