#!/usr/bin/env python3
"""make_score_fixtures.py — reference scores for tests/scores/test_scores.sh (`pst score`).

Writes tests/fixtures/scores/ (or OUTDIR): one folder per case with hyp.txt and either
refs-grouped.txt (e2e-metrics' blank-line separated groups) or ref0.txt, ref1.txt (sacrebleu
style), and expected.json with each case's scores from the reference implementations:

  bleu, bleu_lowercase  sacrebleu.corpus_bleu(hyps, refs[, lowercase=True]).score
  ter                   sacrebleu.corpus_ter(hyps, refs).score
  rouge_l, cider,       pycocoevalcap's Rouge, Cider and Meteor on the text the COCO caption
  meteor                evaluation gives them: PTBTokenizer (stanford-corenlp-3.4.1.jar,
                        -preserveLines -lowerCase) with its punctuation removed, references and
                        hypotheses tokenized in two runs, as the E2E script (e2e-metrics
                        measure_scores.py -> COCOEvalCap.evaluate) does
  nist, mteval_bleu     mteval-v13a.pl run as the E2E script runs it (SGML files whose
                        reference sets are padded with empty segments where a segment has fewer
                        references; no -c, so lowercased); mteval_bleu is its BLEU (0-1)
  nist_nltk             nltk's corpus_nist on the same mteval tokens, for comparison only: it
                        takes one best reference per segment and its length, so it differs

Variable numbers of references are given to sacrebleu as None, which it drops.

The data are real E2E references (../shared/data/e2e/testset_w_refs.csv, consecutive rows
with the same MR grouped as the E2E script does): for each of the first MRs one reference is
the "hypothesis" and the others its references (e2e-holdout), the same with seeded word
drops, swaps, repeats and truncations (e2e-perturbed), and everyday text of varied length
(uci-sentiment's yelp/amazon/imdb sentences, with an empty and a one-word hypothesis: plain),
and seeded strings of the pieces the tokenizers treat specially (entities, <skipped>, digits
with . , -, clitics, non-ASCII capitals such as U+0130 and sigma, Unicode spaces and U+001C:
unicode-edge; BLEU, TER and NIST only, as the PTB tokenizer of pst covers English text, not
this).

Needs the reference stack of scripts/ref-scores and java, and a copy of mteval-v13a.pl
(not shipped here: moses-smt mosesdecoder scripts/generic/mteval-v13a.pl, or e2e-metrics'
mteval/mteval-v13a-sig.pl) given with --mteval.
Run: PYTHONPATH=.ref/scores /usr/bin/python3 tests/reference/make_score_fixtures.py \\
       --mteval PATH/mteval-v13a.pl [OUTDIR]
"""
import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import sacrebleu
from nltk.translate.nist_score import corpus_nist
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
E2E = os.path.join(ROOT, "..", "shared", "data", "e2e", "testset_w_refs.csv")
UCI = os.path.join(ROOT, "..", "shared", "data", "uci-sentiment")


def e2e_groups(limit):
    """The references of the first `limit` MRs with at least 3 references (consecutive rows)."""
    with open(E2E, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    groups, cur = [], None
    for mr, ref in rows:
        if mr != cur:
            groups.append([])
            cur = mr
        groups[-1].append(ref)
    return [g for g in groups if len(g) >= 3][:limit]


def perturb(text, rng):
    w = text.split()
    kind = rng.randrange(5)
    if kind == 0 and len(w) > 3:      # drop two words
        for _ in range(2):
            del w[rng.randrange(len(w))]
    elif kind == 1 and len(w) > 4:    # swap two neighbours twice
        for _ in range(2):
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
    elif kind == 2 and len(w) > 6:    # move a span to the front (a TER shift)
        i = rng.randrange(2, len(w) - 3)
        w = w[i:i + 3] + w[:i] + w[i + 3:]
    elif kind == 3:                   # repeat a word
        i = rng.randrange(len(w))
        w.insert(i, w[i])
    else:                             # truncate
        w = w[: max(1, len(w) // 2)]
    return " ".join(w)


EDGE = ["a", "B", "7", "0", ".", ",", "-", "--", "...", "!?", "'", "n't", "'s", '"', "(", ")", "&amp;",
        "&quot;", "<skipped>", "\u00c9", "\u0130", "\u03a3", "\u00a3", "\u20ac", "\u00df", "\u00a0", "\u3000",
        "\u001c", "\t", "etc.", "St.", "u.s.", "cannot", "can't", "20-25", "3.5", "1,000", "-5", " ", " ", " "]


def edge_text(rng, k):
    return "".join(rng.choice(EDGE) for _ in range(k)).strip(" ")


def uci(name, n):
    with open(os.path.join(UCI, name + ".tsv"), encoding="utf-8") as f:
        return [line.split("\t")[0].strip() for line in list(f)[1:n + 1]]


def coco_scores(hyps, refs):
    """METEOR, ROUGE_L, CIDEr as e2e-metrics' run_coco_eval gets them."""
    gts = {i: [{"caption": r} for r in rs] for i, rs in enumerate(refs)}
    res = {i: [{"caption": h}] for i, h in enumerate(hyps)}
    tok = PTBTokenizer()
    gts, res = tok.tokenize(gts), tok.tokenize(res)
    out = {}
    for name, scorer in (("meteor", Meteor()), ("rouge_l", Rouge()), ("cider", Cider())):
        score, _ = scorer.compute_score(gts, res)
        out[name] = float(score)
    return out


def sgm(path, data, kind):
    """e2e-metrics' create_mteval_file: swap axes, pad missing references with ''."""
    sets = [[]]
    for no, inst in enumerate(data):
        inst = inst if isinstance(inst, list) else [inst]
        for r, ref in enumerate(inst):
            if len(sets) <= r:
                sets.append([""] * no)
            sets[r].append(ref)
        for r in range(len(inst), len(sets)):
            sets[r].append("")
    with open(path, "w", encoding="utf-8") as f:
        st = kind + "set"
        f.write('<%s setid="%s" srclang="any" trglang="%s">\n' % (st, "e2e", "en"))
        for k, s in enumerate(sets):
            sysid = kind + ("" if len(sets) == 1 else "_%d" % k)
            f.write('<doc docid="test" genre="news" origlang="any" sysid="%s">\n<p>\n' % sysid)
            for no, seg in enumerate(s, start=1):
                f.write('<seg id="%d">%s</seg>\n' % (no, seg))
            f.write("</p>\n</doc>\n")
        f.write("</%s>" % st)


def mteval(script, hyps, refs):
    tmp = tempfile.mkdtemp(prefix="pst-mteval-")
    try:
        sgm(os.path.join(tmp, "ref.sgm"), refs, "ref")
        sgm(os.path.join(tmp, "sys.sgm"), hyps, "tst")
        sgm(os.path.join(tmp, "src.sgm"), [""] * len(hyps), "src")
        out = subprocess.check_output(["perl", script, "-r", os.path.join(tmp, "ref.sgm"), "-s",
                                       os.path.join(tmp, "src.sgm"), "-t", os.path.join(tmp, "sys.sgm")],
                                      stderr=subprocess.STDOUT).decode("utf-8")
    finally:
        shutil.rmtree(tmp)
    nist = float(re.search(r"NIST score = ([0-9.e+-]+)", out).group(1))
    bleu = float(re.search(r"BLEU score = ([0-9.e+-]+)", out).group(1))
    return nist, bleu


def mteval_tokens(s):
    """mteval's tokenization (sacrebleu's 13a after mteval's white space collapse and
    ASCII lowercasing), for nltk."""
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"[A-Z]", lambda m: m.group(0).lower(), s)
    return Tokenizer13a()(s).split()


def score_case(hyps, refs, script, coco):
    nref = max(len(r) for r in refs)
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(nref)]
    exp = {
        "bleu": sacrebleu.corpus_bleu(hyps, streams).score,
        "bleu_lowercase": sacrebleu.corpus_bleu(hyps, streams, lowercase=True).score,
        "ter": sacrebleu.corpus_ter(hyps, streams).score,
    }
    if coco:
        exp.update(coco_scores(hyps, refs))
    exp["nist"], exp["mteval_bleu"] = mteval(script, hyps, refs)
    exp["nist_nltk"] = corpus_nist([[mteval_tokens(r) for r in rs] for rs in refs],
                                   [mteval_tokens(h) for h in hyps], n=5)
    return exp


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for s in lines:
            f.write(s + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mteval", required=True, help="path of mteval-v13a.pl")
    ap.add_argument("outdir", nargs="?", default=os.path.join(ROOT, "tests", "fixtures", "scores"))
    a = ap.parse_args()
    rng = random.Random(12)
    groups = e2e_groups(36)
    cases = {}
    hold_h = [g[0] for g in groups]
    hold_r = [g[1:] for g in groups]
    cases["e2e-holdout"] = (hold_h, hold_r, "grouped")
    cases["e2e-perturbed"] = ([perturb(h, rng) for h in hold_h], hold_r, "grouped")
    yelp, amazon, imdb = uci("yelp", 30), uci("amazon", 30), uci("imdb", 30)
    plain_h = [perturb(yelp[i], rng) if i % 2 == 0 else imdb[i] for i in range(30)]
    plain_h[5], plain_h[7] = "", "Great"
    cases["plain"] = (plain_h, [[yelp[i], amazon[i]] for i in range(30)], "files")
    edge_h = [edge_text(rng, rng.randrange(1, 60)) for _ in range(40)]
    cases["unicode-edge"] = (edge_h, [[edge_text(rng, rng.randrange(1, 60)), h[::-1]] for h in edge_h], "files")
    os.makedirs(a.outdir, exist_ok=True)
    expected = {}
    for name, (hyps, refs, layout) in cases.items():
        d = os.path.join(a.outdir, name)
        os.makedirs(d, exist_ok=True)
        write_lines(os.path.join(d, "hyp.txt"), hyps)
        if layout == "grouped":
            with open(os.path.join(d, "refs-grouped.txt"), "w", encoding="utf-8") as f:
                f.write("\n\n".join("\n".join(rs) for rs in refs) + "\n")
        else:
            for k in range(len(refs[0])):
                write_lines(os.path.join(d, "ref%d.txt" % k), [rs[k] for rs in refs])
        expected[name] = score_case(hyps, refs, a.mteval, name != "unicode-edge")
        expected[name]["layout"] = layout
        print(name, json.dumps(expected[name]), file=sys.stderr)
    expected["_versions"] = {"sacrebleu": sacrebleu.__version__, "pycocoevalcap": "1.2", "nltk": "3.9.1",
                             "nist": "mteval-v13a.pl (" + os.path.basename(a.mteval) + ")"}
    with open(os.path.join(a.outdir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
