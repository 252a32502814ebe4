#!/usr/bin/env python3
"""make_demo_data.py — builds the demo data set of inputs/demo/ from the UCI Sentiment
Labelled Sentences (Kotzias et al. 2015, CC BY 4.0; ../shared/data/uci-sentiment/).

Until the real tokenizers land (issue "real data"), the demo uses a word-level vocabulary:
lower-cased words and punctuation marks, ids 0 [PAD], 1 [CLS], 2 [SEP], 3 [UNK], then the
words of the training split by frequency (>= 2 occurrences). Each line of {train,dev}.ids.tsv
is "label<TAB>[CLS] ids [SEP]". The split is fixed: 3000 sentences shuffled with seed 13,
the first 2400 train, the last 600 dev.

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
                rows.append((int(label), words(sent)))
    random.Random(13).shuffle(rows)
    train, dev = rows[:2400], rows[2400:]
    counts = collections.Counter(w for _, ws in train for w in ws)
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"] + sorted(
        (w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(vocab)}
    with open(f"{out}/vocab.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    for split, data in (("train", train), ("dev", dev)):
        with open(f"{out}/{split}.ids.tsv", "w") as f:
            for label, ws in data:
                ids = [1] + [index.get(w, 3) for w in ws] + [2]
                f.write(f"{label}\t{' '.join(map(str, ids))}\n")
    print(f"vocab {len(vocab)}, train {len(train)}, dev {len(dev)}")


if __name__ == "__main__":
    main()
