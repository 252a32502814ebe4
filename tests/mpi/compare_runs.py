#!/usr/bin/python3
"""compare_runs.py REF_DIR RUN_DIR [TOL] — is a distributed run the single-process run?

Reads both run dirs' metrics.jsonl and trainables.safetensors (parsed here with numpy, not
with pst) and checks: the same steps; at every step the same mask digest (a layout-
independent fingerprint of every layer's mask, logged with dist.check_replicas = 1) and the
loss within TOL relative; every mask tensor byte-identical; every float tensor within TOL
relative in the L2 norm (||a - b|| <= TOL ||ref||); the dev evaluations of results.json with
the same steps and every metric within TOL (a results.json in one run dir only, or an unreadable
one, is a failure; runs without a dev set write none). Also printed, not judged: the worst single
element relative to its tensor's largest magnitude — Adam divides each gradient by its own
running RMS, so an element whose gradient is mostly float-order noise moves by up to lr either
way, and a few such elements of a tensor that started at zero (V, B) reach ~1e-4 of its scale
while the tensor as a whole agrees to ~1e-6. Not judged either: the key biases (blk.N.k.b,
trainable under full fine-tuning): softmax is invariant to adding q·b_k to every key of a query,
so their exact gradient is 0 and what they receive is float-order noise, which Adam turns into
steps of up to lr either way; their largest difference is printed. Exit status 1 on any failure."""
import json
import os
import struct
import sys

import numpy as np


def load_evals(run_dir, bad):
    """The dev evaluations of run_dir/results.json; None when the run wrote none (no dev set);
    an unreadable or malformed file is recorded in bad (and gives [])."""
    path = os.path.join(run_dir, "results.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)["evals"]
    except (OSError, KeyError, ValueError, TypeError) as e:
        bad.append("%s: unreadable (%s)" % (path, e))
        return []


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    dt = {"F32": np.float32, "U8": np.uint8, "I32": np.int32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dt[info["dtype"]]).reshape(info["shape"])
    return out


def read_metrics(path):
    steps = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if "step" in rec:
                steps.append(rec)
    return steps


def main():
    ref_dir, run_dir = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    bad = []
    ref_m, run_m = read_metrics(ref_dir + "/metrics.jsonl"), read_metrics(run_dir + "/metrics.jsonl")
    if [r["step"] for r in ref_m] != [r["step"] for r in run_m]:
        bad.append("different steps in metrics.jsonl")
    worst_loss, digests = 0.0, 0
    for a, b in zip(ref_m, run_m):
        rel = abs(a["loss"] - b["loss"]) / max(abs(a["loss"]), 1e-30)
        worst_loss = max(worst_loss, rel)
        if rel > tol:
            bad.append("step %d: loss %.9g vs %.9g" % (a["step"], a["loss"], b["loss"]))
        if "mask_digest" not in a or "mask_digest" not in b:
            bad.append("step %d: no mask_digest (run with dist.check_replicas = 1)" % a["step"])
        elif a["mask_digest"] != b["mask_digest"]:
            bad.append("step %d: masks differ (digest %s vs %s)" % (a["step"], a["mask_digest"], b["mask_digest"]))
        else:
            digests += 1
    ref_t = read_safetensors(ref_dir + "/trainables.safetensors")
    run_t = read_safetensors(run_dir + "/trainables.safetensors")
    if sorted(ref_t) != sorted(run_t):
        bad.append("different tensor names")
    worst_t, worst_name, worst_elem, masks, noise = 0.0, "", 0.0, 0, None
    for name in sorted(set(ref_t) & set(run_t)):
        a, b = ref_t[name], run_t[name]
        if a.shape != b.shape:
            bad.append("%s: shape %s vs %s" % (name, a.shape, b.shape))
            continue
        if a.dtype == np.uint8:
            masks += 1
            if not np.array_equal(a, b):
                bad.append("%s: %d mask bits differ" % (name, int((a != b).sum())))
            continue
        diff = a.astype(np.float64) - b
        if name.endswith(".k.b"):  # exact gradient 0: noise only (see the docstring)
            noise = max(noise or 0.0, float(np.abs(diff).max()))
            continue
        scale = float(np.abs(a).max())
        worst_elem = max(worst_elem, float(np.abs(diff).max()) / (scale if scale > 0 else 1.0))
        norm = float(np.linalg.norm(a.astype(np.float64)))
        err = float(np.linalg.norm(diff)) / (norm if norm > 0 else 1.0)
        if err > worst_t:
            worst_t, worst_name = err, name
        if err > tol:
            bad.append("%s: relative L2 difference %.3g" % (name, err))
    evals = 0
    ref_e, run_e = load_evals(ref_dir, bad), load_evals(run_dir, bad)
    if (ref_e is None) != (run_e is None):  # a run that failed to write its results fails
        bad.append("results.json: %s in %s only" % ("present" if ref_e is not None else "missing",
                                                     ref_dir if ref_e is not None else run_dir))
    ref_e, run_e = ref_e or [], run_e or []
    if len(ref_e) != len(run_e):
        bad.append("results.json: %d vs %d dev evaluations" % (len(ref_e), len(run_e)))
    for a, b in zip(ref_e, run_e):  # dev metrics (the dp replicas split the dev set)
        evals += 1
        for k, v in a.items():
            if k in ("step", "epoch", "sparsity") and v != b.get(k):
                bad.append("dev eval %d: %s %s vs %s" % (evals, k, v, b.get(k)))
            elif isinstance(v, float) and abs(v - b.get(k, float("nan"))) > tol * max(1.0, abs(v)):
                bad.append("dev eval %d: %s %.9g vs %.9g" % (evals, k, v, b.get(k, float("nan"))))
    print("%s vs %s: %d steps, mask digests equal at %d; %d final masks; worst loss rel %.2e; worst tensor "
          "(L2 rel) %.2e (%s); worst element %.2e of its tensor's scale; %d dev evaluations"
          % (run_dir, ref_dir, len(ref_m), digests, masks, worst_loss, worst_t, worst_name, worst_elem, evals))
    if noise is not None:
        print("  key biases (exact gradient 0, not judged): largest difference %.2e" % noise)
    for b in bad[:20]:
        print("  FAIL:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
