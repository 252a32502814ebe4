#!/usr/bin/python3
"""Reference logits of the real SmolLM2-135M-Instruct for tests/parity/run_smollm2_parity.sh.

Usage: PYTHONPATH=.ref/transformers:.ref/gguf /usr/bin/python3 tests/reference/smollm2_ref.py \
           MODEL.gguf HF_DIR DATA_DIR OUT.safetensors

HF_DIR is the directory tests/reference/gguf_smollm2_hf.py wrote from MODEL.gguf (transformers' own
GGUF reading, head tied). Ten real sentences (five E2E references from DATA_DIR/e2e/lora/test.txt,
five GLUE SST-2 dev sentences) are tokenized, right-padded to the longest, and run through
LlamaForCausalLM (transformers 4.46, eager attention, float32).

The tokenizer: PyPI `tokenizers` built from the GGUF's vocabulary and merges (read by gguf-py) with
SmolLM2's own pre-tokenizer — Sequence[Digits(individual_digits), ByteLevel(use_regex)], what
SmolLM2's tokenizer.json says and what llama.cpp's "smollm" pre-tokenizer does — and no bos, as
SmolLM2's tokenizer. (transformers 4.46's GGUF tokenizer ignores tokenizer.ggml.pre: it uses the
plain GPT-2 regex and prepends a bos, so it splits "2 ½" differently from the real tokenizer.)
OUT gets input_ids, attention_mask I32 [B,T], logits F32 [B,T,V] and the mean next-token loss of
each sentence in `loss` [B] (a working model: a few nats; an untied random head gives ~11).
For the tokenizer: 2,000 more real texts (E2E references and meaning representations, SST-2 and
MRPC sentences) in OUT.texts (one per line) and their ids from the same tokenizer in tok.ids I32
(concatenated) and tok.offsets I32 [n+1].
"""

import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402

import pst_ref as R  # noqa: E402

try:
    import gguf  # noqa: E402
    import tokenizers  # noqa: E402
    import transformers  # noqa: E402
    from tokenizers import pre_tokenizers  # noqa: E402
    from transformers import LlamaForCausalLM  # noqa: E402
except Exception as e:
    print("smollm2_ref: cannot import transformers (%s)" % e, file=sys.stderr)
    sys.exit(1)


def smollm2_tokenizer(path):
    """SmolLM2's tokenizer from the GGUF metadata (see the top of this file)."""
    r = gguf.GGUFReader(path)

    def strs(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    tokens, merges = strs("tokenizer.ggml.tokens"), strs("tokenizer.ggml.merges")
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
    bpe = tokenizers.models.BPE({t: i for i, t in enumerate(tokens)}, [tuple(m.split(" ", 1)) for m in merges])
    tk = tokenizers.Tokenizer(bpe)
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = tokenizers.decoders.ByteLevel()
    tk.add_special_tokens([tokenizers.AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == 3])
    return tk


def sentences(data):
    out = []
    with open(os.path.join(data, "e2e", "lora", "test.txt"), encoding="utf-8") as f:
        for line in f:
            ref = line.split("||", 1)[1].strip()
            if ref not in out:
                out.append(ref)
            if len(out) == 5:
                break
    with open(os.path.join(data, "glue", "SST-2", "dev.tsv"), encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        for row in rows:
            out.append(row[0].strip())
            if len(out) == 10:
                break
    return out


def tok_texts(data, n=2000):
    """n distinct real texts without newlines: E2E references and MRs, SST-2 and MRPC sentences."""
    out, seen = [], set()

    def add(t):
        t = t.strip()
        if t and "\n" not in t and t not in seen and len(out) < n:
            seen.add(t)
            out.append(t)
    with open(os.path.join(data, "e2e", "lora", "train.txt"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            mr, ref = line.split("||", 1)
            add(ref)
            if i % 4 == 0:
                add(mr)
            if len(out) >= n // 2:
                break
    for task, cols in (("SST-2", (0,)), ("MRPC", (3, 4))):
        with open(os.path.join(data, "glue", task, "train.tsv"), encoding="utf-8") as f:
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows)
            for row in rows:
                for c in cols:
                    add(row[c])
                if len(out) >= n * (3 if task == "SST-2" else 4) // 4:
                    break
    return out


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    gguf_file, hf_dir, data, out = sys.argv[1:]
    torch.set_num_threads(2)
    tok = smollm2_tokenizer(gguf_file)
    model = LlamaForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
    sents = sentences(data)
    enc = [tok.encode(s).ids for s in sents]
    T = max(len(e) for e in enc)
    B = len(enc)
    ids = torch.zeros(B, T, dtype=torch.int32)
    am = torch.zeros(B, T, dtype=torch.int32)
    for b, e in enumerate(enc):
        ids[b, :len(e)] = torch.tensor(e, dtype=torch.int32)
        am[b, :len(e)] = 1
    with torch.no_grad():
        logits = model(input_ids=ids.long(), attention_mask=am.long()).logits.float()
    losses = []
    for b, e in enumerate(enc):
        n = len(e)
        losses.append(torch.nn.functional.cross_entropy(logits[b, :n - 1], ids[b, 1:n].long()).item())
    texts = tok_texts(data)
    tids, offs = [], [0]
    for t in texts:
        tids.extend(tok.encode(t).ids)
        offs.append(len(tids))
    with open(out + ".texts", "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    R.save_safetensors(out, {"input_ids": ids, "attention_mask": am, "logits": logits.contiguous(),
                             "loss": torch.tensor(losses, dtype=torch.float32),
                             "tok.ids": torch.tensor(tids, dtype=torch.int32),
                             "tok.offsets": torch.tensor(offs, dtype=torch.int32)},
                       {"reference": "transformers %s LlamaForCausalLM, tokenizers %s" % (transformers.__version__,
                                                                                       tokenizers.__version__),
                        "sentences": "\n".join(sents)})
    print("smollm2_ref: %d sentences, T %d, per-sentence loss %s; %d texts (%d ids) for the tokenizer"
          % (B, T, " ".join("%.2f" % x for x in losses), len(texts), len(tids)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
