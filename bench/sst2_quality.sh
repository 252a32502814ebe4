#!/bin/sh
# shellcheck disable=SC2086  # $common, $refcommon and $a are word lists on purpose
# sst2_quality.sh — quality evidence: the pretrained all-MiniLM-L6-v2 fine-tuned on a fixed
# SST-2 subset by pst (dense, PST 50 %, PST 90 %) and by the PyTorch reference of the same
# recipe (bench/ref_train.py: PST 50 %, PST 90 %, dense), dev accuracy on the full SST-2 dev
# set (872 sentences). Prints a markdown table for bench/RESULTS.md.
#
#   bench/sst2_quality.sh [OUT_DIR]          (default runs/sst2-quality; rerunnable, overwrites)
#
# Environment (defaults in brackets):
#   N_TRAIN [1024]   training subset: the first N_TRAIN rows of SST-2 train.tsv (+ header)
#   EPOCHS [2]       passes over the subset (batch 32, seq_len 64: N_TRAIN/32 steps an epoch)
#   LR_PST [5e-4]    peak LR of the PST runs;  LR_DENSE [5e-5]  peak LR of the dense runs
#   RUNS ["pst-dense pst-50 pst-90 ref-50 ref-90 ref-dense ref-50-pad ref-90-pad"]  which runs,
#                    in this order. ref-*-pad: the PyTorch PST runs again with every batch padded to
#                    seq_len as pst does: the same logits in exact arithmetic, another float
#                    summation order: the run-to-run spread that float rounding alone causes.
#                    Optional: pst-50-t1, pst-90-t1 (pst on 1 thread, the same control for pst).
#   KEEP_ENV [0]     1: keep OUT_DIR's env.txt, subset and pst copy (to add runs to a table)
#   GLUE_DIR [<repo>/../shared/data/glue]    the glue_data folders (SST-2/train.tsv, dev.tsv)
#   PST_PYTHON [/usr/bin/python3]            Debian's torch 1.13 + PyPI `tokenizers`
# Everything else (r1 = r2 = 8, warm-up 10 % of the steps, weight decay 0.01, clip 1, AdamW
# eps 1e-8, cubic schedule 10 % / 30 %, seed 42, 2 threads) is inputs/sst2-minilm.ini and the
# matching defaults of bench/ref_train.py. The runs go one after another (never two at once).
# pst is run from a copy of ./pst taken at the start (OUT_DIR/pst), so a rebuild of the tree
# during the runs does not mix binaries.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
out=${1:-runs/sst2-quality}
N_TRAIN=${N_TRAIN:-1024}
EPOCHS=${EPOCHS:-2}
LR_PST=${LR_PST:-5e-4}
LR_DENSE=${LR_DENSE:-5e-5}
RUNS=${RUNS-"pst-dense pst-50 pst-90 ref-50 ref-90 ref-dense ref-50-pad ref-90-pad"}
KEEP_ENV=${KEEP_ENV:-0}
GLUE_DIR=${GLUE_DIR:-$top/../shared/data/glue}
PY=${PST_PYTHON:-/usr/bin/python3}
name=sst2_quality
. "$here/sst2_lib.sh"
sst2_prepare
if [ "$KEEP_ENV" = 1 ] && [ -f "$out/env.txt" ] && [ -x "$PST" ] && [ -f "$train" ]; then
  N_TRAIN=$(($(wc -l <"$train") - 1))
  keep=1
else
  sst2_fresh_inputs
  keep=0
fi
sst2_recipe

[ $keep = 1 ] || {
  sst2_env_lines
  echo "dev=$dev ($(($(wc -l <"$dev") - 1)) rows)"
  echo "recipe=batch $BATCH x seq $SEQ, $EPOCHS epochs = $total steps ($spe per epoch), warmup $warm steps, lr pst $LR_PST / dense $LR_DENSE"
} >"$out/env.txt"
cat "$out/env.txt"

# 0. same initial trainables on both sides: one pst step at lr 0 (AdamW then changes nothing),
#    its saved tensors against ref_train.py's initialisation (bit-exact), pst and dense; a
#    mismatch stops the script (the comparison would be meaningless)
for m in pst dense; do
  "$PST" train -c "$ini" $common data.dev= train.steps=1 optim.lr=0 pst.method=$m train.run_dir="$out/init-$m" -q
  ref --model-dir "$model" --method $m --check-init "$out/init-$m/trainables.safetensors"
done

for r in $RUNS; do
  echo "== $r $(date -u '+%H:%M:%S')"
  case $r in
    pst-dense) timed "$out/$r" "$PST" train -c "$ini" $common pst.method=dense pst.sparsity_final=0 optim.lr=$LR_DENSE train.run_dir="$out/$r" ;;
    pst-50) timed "$out/$r" "$PST" train -c "$ini" $common pst.method=pst pst.sparsity_final=0.5 optim.lr=$LR_PST train.run_dir="$out/$r" ;;
    pst-90) timed "$out/$r" "$PST" train -c "$ini" $common pst.method=pst pst.sparsity_final=0.9 optim.lr=$LR_PST train.run_dir="$out/$r" ;;
    ref-dense) timed "$out/$r" ref $refcommon --method dense --lr $LR_DENSE --out "$out/$r" ;;
    ref-50) timed "$out/$r" ref $refcommon --method pst --sparsity 0.5 --lr $LR_PST --out "$out/$r" ;;
    ref-90) timed "$out/$r" ref $refcommon --method pst --sparsity 0.9 --lr $LR_PST --out "$out/$r" ;;
    ref-50-pad) timed "$out/$r" ref $refcommon --pad-to-seq-len --method pst --sparsity 0.5 --lr $LR_PST --out "$out/$r" ;;
    ref-90-pad) timed "$out/$r" ref $refcommon --pad-to-seq-len --method pst --sparsity 0.9 --lr $LR_PST --out "$out/$r" ;;
    pst-50-t1) timed "$out/$r" "$PST" train -c "$ini" $common train.threads=1 pst.method=pst pst.sparsity_final=0.5 optim.lr=$LR_PST train.run_dir="$out/$r" ;;
    pst-90-t1) timed "$out/$r" "$PST" train -c "$ini" $common train.threads=1 pst.method=pst pst.sparsity_final=0.9 optim.lr=$LR_PST train.run_dir="$out/$r" ;;
    *) echo "sst2_quality: unknown run $r" >&2; exit 2 ;;
  esac
done

# Eval cross-check: each pst run's final trainables evaluated by bench/ref_train.py's forward
# (same accuracy expected; also counts pst's saved mask entries that differ from the top-k
# recomputed in PyTorch from the saved tensors).
for r in pst-dense pst-50 pst-90 pst-50-t1 pst-90-t1; do
  [ -f "$out/$r/trainables.safetensors" ] || continue
  case $r in pst-dense) a="--method dense" ;; pst-50*) a="--method pst --sparsity 0.5" ;; *) a="--method pst --sparsity 0.9" ;; esac
  ref --model-dir "$model" --dev "$dev" --seq-len $SEQ --batch $BATCH $a \
    --eval-trainables "$out/$r/trainables.safetensors" | tee "$out/$r/crosscheck.txt"
done

"$PY" - "$out" <<'PYEOF' | tee "$out/table.md"
import json, os, sys
out = sys.argv[1]
env = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "env.txt")) if "=" in l)

def load(name):
    d = os.path.join(out, name)
    if not os.path.exists(os.path.join(d, "results.json")):
        return None
    r = json.load(open(os.path.join(d, "results.json")))
    final = r["evals"][-1] if r["evals"] else None
    steps = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.startswith('{"step"')]
    wall = int(open(os.path.join(d, "wall_s")).read()) if os.path.exists(os.path.join(d, "wall_s")) else None
    return {"best": r["best"], "final": final, "evals": r["evals"], "steps": steps, "wall": wall}

def acc(e):
    return "—" if e is None else "%.2f" % (100 * e["accuracy"])

def mmss(s):
    return "—" if s is None else "%d:%02d" % (s // 60, s % 60)

print("%s UTC, commit %s; %s, %s cores, %s GB; %s; %s." % (env["date_utc"], env["commit"], env["cpu"],
      env["cores"], env["mem_gb"], env["pst"], "torch " + env["torch"]))
print("Data: train = %s; dev = %s. Recipe: %s.\n" % (env["train"], env["dev"], env["recipe"]))
print("| method | target sparsity | pst dev acc best / final (%) | PyTorch dev acc best / final (%) | "
      "difference pst − PyTorch, best / final (points) | pst wall | PyTorch wall |")
print("|---|---|---|---|---|---|---|")
diag = []
for label, sp, a, b in (("dense", "0", "pst-dense", "ref-dense"), ("PST", "0.5", "pst-50", "ref-50"),
                        ("PST", "0.9", "pst-90", "ref-90")):
    p, q = load(a), load(b)
    if p is None and q is None:
        continue
    def d(k):
        if not p or not q or p[k] is None or q[k] is None:
            return "—"
        return "%+.2f" % (100 * (p[k]["accuracy"] - q[k]["accuracy"]))
    print("| %s | %s | %s / %s | %s / %s | %s / %s | %s | %s |" % (
        label, sp, acc(p and p["best"]), acc(p and p["final"]), acc(q and q["best"]), acc(q and q["final"]),
        d("best"), d("final"), mmss(p and p["wall"]), mmss(q and q["wall"])))
    if p and q and p["steps"] and q["steps"]:
        n = min(len(p["steps"]), len(q["steps"]))
        dl = [abs(p["steps"][i]["loss"] - q["steps"][i]["loss"]) for i in range(n)]
        first_div = next((i + 1 for i, x in enumerate(dl) if x > 1e-3), None)
        diag.append("| %s %s | %.6f / %.6f | %.4f / %.4f | %s | %s | %s |" % (
            label, sp, p["steps"][0]["loss"], q["steps"][0]["loss"], p["steps"][-1]["loss"], q["steps"][-1]["loss"],
            "%.2g" % max(dl[:10]), first_div or "none",
            " / ".join("%.4f" % e["sparsity"] for e in (p["final"], q["final"]) if e)))
ctrl = []
for label, sp, a, b, c in (("PST", "0.5", "pst-50", "ref-50", "ref-50-pad"), ("PST", "0.9", "pst-90", "ref-90", "ref-90-pad"),
                           ("PST", "0.5", "pst-50-t1", "ref-50", "pst-50"), ("PST", "0.9", "pst-90-t1", "ref-90", "pst-90")):
    p, q, x = load(a), load(b), load(c)
    if not x or not p or not q:
        continue
    if c.startswith("ref"):
        what = "PyTorch, batches padded to seq_len 64 (`%s`)" % c
        pair = ("PyTorch padded − PyTorch", x, q)
    else:
        what = "pst, train.threads = 1 (`%s`)" % a
        pair = ("pst 1 thread − pst 2 threads", p, x)
        x = p
    ctrl.append("| %s %s | %s | %s / %s | %s: %+.2f / %+.2f |" % (
        label, sp, what, acc(x["best"]), acc(x["final"]), pair[0],
        100 * (pair[1]["best"]["accuracy"] - pair[2]["best"]["accuracy"]) if pair[1]["best"] and pair[2]["best"] else float("nan"),
        100 * (pair[1]["final"]["accuracy"] - pair[2]["final"]["accuracy"])))
if ctrl:
    print("\nFloat-order controls (same recipe, same data order and initialisation; only the floating-point "
          "summation order changes):\n")
    print("| run | variant | dev acc best / final (%) | difference, best / final (points) |")
    print("|---|---|---|---|")
    for l in ctrl:
        print(l)
cc = []
for r in ("pst-dense", "pst-50", "pst-90", "pst-50-t1", "pst-90-t1"):
    f = os.path.join(out, r, "crosscheck.txt")
    p = load(r)
    if not p or not os.path.exists(f) or not p["final"]:
        continue
    line = open(f).read().strip().splitlines()[-1]
    import re
    m = re.search(r"loss ([0-9.]+) \| accuracy ([0-9.]+)(?: \| mask entries differing from the recomputed top-k: (\d+))?", line)
    if m:
        cc.append("| %s | %.2f / %.4f | %.2f / %.4f | %s |" % (r, 100 * p["final"]["accuracy"], p["final"]["loss"],
                  100 * float(m.group(2)), float(m.group(1)), m.group(3) if m.group(3) is not None else "—"))
if cc:
    print("\nEval cross-check: each pst run's final trainables.safetensors evaluated by bench/ref_train.py's "
          "PyTorch forward:\n")
    print("| pst run | pst's final eval: acc (%) / loss | PyTorch eval of the same tensors: acc (%) / loss | "
          "saved mask entries ≠ top-k recomputed in PyTorch |")
    print("|---|---|---|---|")
    for l in cc:
        print(l)
if diag:
    print("\nTraining trajectories (per-step training loss from the two metrics.jsonl files):\n")
    print("| run | step-1 loss pst / PyTorch | last-step loss pst / PyTorch | max abs loss diff, steps 1-10 | "
          "first step with loss diff > 1e-3 | final achieved sparsity pst / PyTorch |")
    print("|---|---|---|---|---|---|")
    for l in diag:
        print(l)
PYEOF
if [ -n "$failed" ]; then
  echo "sst2_quality: failed runs:$failed (see OUT_DIR/<run>/log.txt)" >&2
  exit 1
fi
