#!/usr/bin/env python3
"""compare_scores.py EXPECTED.json CASE GOT.json METRIC... — compare `pst score --json` output
with the reference values of one fixture case (tests/reference/make_score_fixtures.py).
Tolerance: absolute 1e-9 on every metric (BLEU and TER are on a 0-100 scale, NIST and CIDEr
around 1-10, METEOR and ROUGE-L 0-1; pst matches the references to about 1e-14).
Key "bleu_lowercase" is read from GOT's "bleu" (a --lowercase run). Prints one line per
metric; exit 1 when any differs."""
import json
import sys

TOL = 1e-9
exp = json.load(open(sys.argv[1]))[sys.argv[2]]
got = json.load(open(sys.argv[3]))
bad = 0
for m in sys.argv[4:]:
    g = got.get("bleu" if m == "bleu_lowercase" else m)
    e = exp[m]
    if g is None or abs(g - e) > TOL:
        print("FAIL %s %s: pst %r, reference %r" % (sys.argv[2], m, g, e))
        bad += 1
    else:
        print("ok   %s %s: %.12g (|diff| %.1e)" % (sys.argv[2], m, g, abs(g - e)))
sys.exit(1 if bad else 0)
