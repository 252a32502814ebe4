#!/usr/bin/env python3
"""make_metric_fixtures.py — reference values for tests/unit/test_metrics.c.

Computes accuracy, F1, Matthews correlation (sklearn) and Pearson / Spearman (scipy) on
random, tie-heavy and edge-case inputs, and the GLUE task scores the way HF `evaluate`'s
"glue" metric and transformers' run_glue.py report them, and writes three JSON files
into the output directory (default: tests/fixtures/metrics next to this script's tests/):

  classify.json  [{"name", "pred", "gold", "accuracy", "f1" (null: not binary), "mcc"}]
  regress.json   [{"name", "x", "y", "pearson", "spearman"}]   (null = NaN)
  glue.json      [{"name", "task", "pred", "gold", "metrics": {key: value}, "main"}]

Floats are written with Python's repr, so they read back exactly. The inputs are generated
from a fixed seed, so a rerun rewrites the same files (given the same numpy / scipy /
sklearn: the committed files were made with Debian 12's python3-scipy 1.10.1 and
python3-sklearn 1.2.1). Run: /usr/bin/python3 tests/reference/make_metric_fixtures.py [OUTDIR]
"""
import json
import math
import os
import sys
import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

warnings.simplefilter("ignore")  # constant-input and zero-division warnings are expected


def num(v):
    v = float(v)
    return None if math.isnan(v) else v


def classify_case(name, pred, gold):
    pred = [int(v) for v in pred]
    gold = [int(v) for v in gold]
    binary = set(pred) <= {0, 1} and set(gold) <= {0, 1}
    return {
        "name": name,
        "pred": pred,
        "gold": gold,
        "accuracy": num(accuracy_score(gold, pred)),
        "f1": num(f1_score(gold, pred)) if binary else None,
        "mcc": num(matthews_corrcoef(gold, pred)),
    }


def regress_case(name, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    return {
        "name": name,
        "x": x,
        "y": y,
        "pearson": num(pearsonr(x, y)[0]),
        "spearman": num(spearmanr(x, y)[0]),
    }


def glue_metrics(task, pred, gold):
    """HF evaluate glue.py's _compute, and run_glue.py's combined_score."""
    if task == "cola":
        m = {"matthews_correlation": float(matthews_corrcoef(gold, pred))}
    elif task == "stsb":
        m = {"pearson": float(pearsonr(pred, gold)[0]), "spearmanr": float(spearmanr(pred, gold)[0])}
    elif task in ("mrpc", "qqp"):
        m = {"accuracy": float(accuracy_score(gold, pred)), "f1": float(f1_score(y_true=gold, y_pred=pred))}
    else:
        m = {"accuracy": float(accuracy_score(gold, pred))}
    main = float(np.mean(list(m.values()))) if len(m) > 1 else list(m.values())[0]
    return m, main


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "metrics")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240611)

    # ---- classification -------------------------------------------------------------------
    cls = []
    g = rng.integers(0, 2, 1000)
    p = np.where(rng.random(1000) < 0.8, g, 1 - g)
    cls.append(classify_case("binary_random_1000", p, g))
    g = (rng.random(1043) < 0.7).astype(int)  # CoLA-like imbalance
    p = np.where(rng.random(1043) < 0.65, g, rng.integers(0, 2, 1043))
    cls.append(classify_case("binary_imbalanced_1043", p, g))
    g = rng.integers(0, 2, 37)
    cls.append(classify_case("binary_uncorrelated_37", rng.integers(0, 2, 37), g))
    cls.append(classify_case("all_correct", g, g))
    cls.append(classify_case("all_wrong", 1 - g, g))
    cls.append(classify_case("pred_all_one", np.ones(37, int), g))
    cls.append(classify_case("pred_all_zero", np.zeros(37, int), g))
    cls.append(classify_case("gold_all_one", g, np.ones(37, int)))
    cls.append(classify_case("everything_zero", np.zeros(9, int), np.zeros(9, int)))
    cls.append(classify_case("everything_one", np.ones(9, int), np.ones(9, int)))
    cls.append(classify_case("single_correct_1", [1], [1]))
    cls.append(classify_case("single_wrong", [0], [1]))
    cls.append(classify_case("two_examples", [0, 1], [1, 1]))
    cls.append(classify_case("perfectly_anticorrelated", [0, 1, 0, 1], [1, 0, 1, 0]))
    g = rng.integers(0, 3, 500)
    p = np.where(rng.random(500) < 0.6, g, rng.integers(0, 3, 500))
    cls.append(classify_case("three_class_500", p, g))
    g = rng.choice([0, 7, 1000000], 300)
    p = np.where(rng.random(300) < 0.5, g, rng.choice([0, 7, 1000000, 42], 300))
    cls.append(classify_case("sparse_ids_300", p, g))
    g = rng.integers(0, 3, 100)
    cls.append(classify_case("three_class_pred_constant", np.full(100, 2), g))
    with open(os.path.join(out, "classify.json"), "w") as f:
        json.dump(cls, f, separators=(",", ":"))
        f.write("\n")

    # ---- correlation ----------------------------------------------------------------------
    reg = []
    x = rng.normal(size=600)
    reg.append(regress_case("normal_correlated_600", x + 0.7 * rng.normal(size=600), x))
    gold = np.round(rng.uniform(0, 5, 600), 3)  # STS-B-like scores, some ties
    pred = np.clip(gold + rng.normal(scale=0.8, size=600), 0, 5)
    reg.append(regress_case("stsb_like_600", pred, gold))
    reg.append(regress_case("stsb_like_float32_pred", pred.astype(np.float32).astype(float), gold))
    a = rng.integers(0, 4, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 0, 3)
    reg.append(regress_case("ties_both_int4_200", a, b))
    reg.append(regress_case("ties_one_side", a, rng.normal(size=200)))
    reg.append(regress_case("ties_binary_vs_real", rng.integers(0, 2, 64), rng.normal(size=64)))
    reg.append(regress_case("n2_increasing", [1.0, 2.0], [3.0, 7.5]))
    reg.append(regress_case("n2_opposite", [1.0, 2.0], [3.0, -7.5]))
    reg.append(regress_case("n3", [1.0, 2.0, 4.0], [0.5, 0.25, 3.0]))
    reg.append(regress_case("constant_x", np.full(10, 2.5), rng.normal(size=10)))
    reg.append(regress_case("constant_y", rng.normal(size=10), np.zeros(10)))
    x = rng.uniform(0.1, 3, 300)
    reg.append(regress_case("monotonic_nonlinear", x, np.exp(x)))
    reg.append(regress_case("anticorrelated", x, -2 * x + 0.01 * rng.normal(size=300)))
    x = rng.normal(size=400)
    reg.append(regress_case("offset_1e4", 1e4 + x, x + rng.normal(size=400)))
    reg.append(regress_case("huge_1e150", 1e150 * x, 1e150 * (x + rng.normal(size=400))))
    reg.append(regress_case("tiny_1e-150", 1e-150 * x, 1e-150 * (x + rng.normal(size=400))))
    reg.append(regress_case("weak_correlation_1500", rng.normal(size=1500) + 0.2 * (z := rng.normal(size=1500)), z))
    w = rng.normal(size=1500)
    reg.append(regress_case("near_zero_correlation_1500", w + 0.01 * (z := rng.normal(size=1500)), z))
    reg.append(regress_case("all_tied_but_one", [1.0] * 19 + [2.0], list(range(20))))
    with open(os.path.join(out, "regress.json"), "w") as f:
        json.dump(reg, f, separators=(",", ":"))
        f.write("\n")

    # ---- GLUE task scores -----------------------------------------------------------------
    glue = []
    for task, k, n in [("cola", 2, 1043), ("sst2", 2, 872), ("mrpc", 2, 408), ("qqp", 2, 500),
                       ("mnli", 3, 600), ("qnli", 2, 300), ("rte", 2, 277), ("wnli", 2, 71)]:
        gold = rng.integers(0, k, n)
        pred = np.where(rng.random(n) < 0.75, gold, rng.integers(0, k, n))
        m, mainv = glue_metrics(task, pred, gold)
        glue.append({"name": task, "task": task, "pred": [int(v) for v in pred], "gold": [int(v) for v in gold],
                     "metrics": m, "main": mainv})
    gold = np.round(rng.uniform(0, 5, 600), 3)
    pred = gold + rng.normal(scale=1.0, size=600)
    m, mainv = glue_metrics("stsb", pred, gold)
    glue.append({"name": "stsb", "task": "stsb", "pred": [float(v) for v in pred], "gold": [float(v) for v in gold],
                 "metrics": m, "main": mainv})
    with open(os.path.join(out, "glue.json"), "w") as f:
        json.dump(glue, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %d classification, %d correlation, %d GLUE cases to %s" % (len(cls), len(reg), len(glue), out))


if __name__ == "__main__":
    main()
