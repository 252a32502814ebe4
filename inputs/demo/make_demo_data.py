#!/usr/bin/env python3
"""make_demo_data.py — builds the demo data set of inputs/demo/ from the UCI Sentiment
Labelled Sentences (Kotzias et al. 2015, CC BY 4.0; ../shared/data/uci-sentiment/).

Two forms of one fixed split (3000 sentences shuffled with seed 13: the first 2400 train, the
last 600 dev):
 - {train,dev}.tsv: "sentence<TAB>label" with a header, the text as the UCI files have it
   (the demo, tokenized by the model's own tokenizer);
 - {train,dev}.ids.tsv: "label<TAB>[CLS] ids [SEP]" over a word-level vocabulary (vocab.txt:
   0 [PAD], 1 [CLS], 2 [SEP], 3 [UNK], then the lower-cased words and punctuation marks of the
   training split with >= 2 occurrences, by frequency), for the random-weight test models.

usage: make_demo_data.py SHARED_DATA_DIR OUT_DIR
"""
import collections
import random
import re
import sys


def words(s):
    return re.findall(r"[a-z0-9']+|[^\sa-z0-9']", s.lower())


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = []
    for name in ("amazon", "imdb", "yelp"):
        with open(f"{src}/uci-sentiment/{name}.tsv", encoding="utf-8") as f:
            next(f)
            for line in f:
                sent, label = line.rstrip("\n").rsplit("\t", 1)
                rows.append((int(label), words(sent), sent.strip()))
    random.Random(13).shuffle(rows)
    train, dev = rows[:2400], rows[2400:]
    counts = collections.Counter(w for _, ws, _ in train for w in ws)
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"] + sorted(
        (w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(vocab)}
    with open(f"{out}/vocab.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    for split, data in (("train", train), ("dev", dev)):
        with open(f"{out}/{split}.ids.tsv", "w") as f:
            for label, ws, _ in data:
                ids = [1] + [index.get(w, 3) for w in ws] + [2]
                f.write(f"{label}\t{' '.join(map(str, ids))}\n")
        with open(f"{out}/{split}.tsv", "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            for label, _, sent in data:
                assert "\t" not in sent
                f.write(f"{sent}\t{label}\n")
    print(f"vocab {len(vocab)}, train {len(train)}, dev {len(dev)}")


if __name__ == "__main__":
    main()
