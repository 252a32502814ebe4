#!/usr/bin/python3
"""Reference logits of the real SmolLM2-135M-Instruct for tests/parity/run_smollm2_parity.sh.

Usage: PYTHONPATH=.ref/transformers:.ref/gguf /usr/bin/python3 tests/reference/smollm2_ref.py \
           MODEL.gguf HF_DIR DATA_DIR OUT.safetensors

HF_DIR is the directory tests/reference/gguf_smollm2_hf.py wrote from MODEL.gguf (transformers' own
GGUF reading, head tied). Ten real
sentences (five E2E references from DATA_DIR/e2e/lora/test.txt, five GLUE SST-2 dev sentences) are
tokenized with transformers' tokenizer of the GGUF file (AutoTokenizer, gguf_file=...), right-padded
to the longest, and run through LlamaForCausalLM (transformers 4.46, eager attention, float32).
OUT gets input_ids, attention_mask I32 [B,T], logits F32 [B,T,V] and the mean next-token loss of
each sentence in `loss` [B] (a working model: a few nats; an untied random head gives ~11).
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
    import transformers  # noqa: E402
    from transformers import AutoTokenizer, LlamaForCausalLM  # noqa: E402
except Exception as e:
    print("smollm2_ref: cannot import transformers (%s)" % e, file=sys.stderr)
    sys.exit(1)


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


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    gguf_file, hf_dir, data, out = sys.argv[1:]
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf_file)),
                                        gguf_file=os.path.basename(gguf_file))
    model = LlamaForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
    sents = sentences(data)
    enc = [tok(s).input_ids for s in sents]
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
    R.save_safetensors(out, {"input_ids": ids, "attention_mask": am, "logits": logits.contiguous(),
                             "loss": torch.tensor(losses, dtype=torch.float32)},
                       {"reference": "transformers %s LlamaForCausalLM" % transformers.__version__,
                        "sentences": "\n".join(sents)})
    print("smollm2_ref: %d sentences, T %d, per-sentence loss %s" % (B, T, " ".join("%.2f" % x for x in losses)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
