#!/usr/bin/python3
"""Reference outputs of transformers 4.46's generate() for tests/parity/run_generate_parity.sh.

Usage: PYTHONPATH=.ref/transformers:.ref/gguf /usr/bin/python3 tests/reference/generate_ref.py \
           processors OUTDIR                 (the logits processors: OUTDIR/processors.json,
                                              committed as tests/fixtures/generate/processors.json)
       ... generate_ref.py \
           gpt2 OUTDIR VOCAB_DIR             (a tiny random GPT-2, written to OUTDIR/model)
       ... generate_ref.py smollm2 OUTDIR MODEL.gguf HF_DIR   (the real SmolLM2-135M-Instruct)

Writes OUTDIR/prompts.ids (one prompt per line, token ids) and OUTDIR/cases.json: a list of
{"name", "args" (the pst generate options), "outputs": [[new token ids] per prompt]}. Every
prompt is generated alone (batch 1, no padding) with an explicit GenerationConfig, so the
model's own generation defaults play no part.

generate() of transformers 4.46 imports torch.distributed.fsdp to ask whether the model is
FSDP-managed; on Debian's torch 1.13 with Python 3.11 that import dies (a dataclass error in
torch.distributed._shard). The model is not FSDP-managed, so the check is answered directly
(transformers.generation.utils.is_fsdp_managed_module -> False); generate() is otherwise
untouched.

gpt2: GPT2LMHeadModel (2 layers, hidden 64, 4 heads, the real GPT-2 vocabulary of VOCAB_DIR,
weights N(0, 0.3) so that the next-token distributions are peaked, seed 1234), saved with the
vocabulary so that pst loads it with model.hf_dir. Eight prompts of random ids (lengths 1 to
12). The EOS id is the token the model's own greedy continuations produce most often, so that the
EOS paths of greedy and beam search are exercised.
smollm2: five real prompts (E2E meaning representations and questions) in SmolLM2's ChatML
template, tokenized by smollm2_ref.py's tokenizer; EOS = <|im_end|>.
"""

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402
import transformers  # noqa: E402
import transformers.generation.utils as gen_utils  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

gen_utils.is_fsdp_managed_module = lambda module: False  # see the module docstring


def generate(model, prompt, eos, **kw):
    gc = GenerationConfig(do_sample=False, eos_token_id=eos, pad_token_id=eos if eos is not None else 0,
                          bos_token_id=None, **kw)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gc)
    return out[0, len(prompt):].tolist()


def args_of(kw, eos):
    a = ["--max-new-tokens", str(kw["max_new_tokens"])]
    if kw.get("num_beams", 1) > 1:
        a += ["--beams", str(kw["num_beams"])]
    if "length_penalty" in kw:
        a += ["--length-penalty", repr(kw["length_penalty"])]
    if kw.get("no_repeat_ngram_size"):
        a += ["--no-repeat-ngram", str(kw["no_repeat_ngram_size"])]
    if kw.get("min_new_tokens"):
        a += ["--min-new-tokens", str(kw["min_new_tokens"])]
    if kw.get("early_stopping"):
        a += ["--early-stopping"]
    a += ["--eos", str(eos)] if eos is not None else ["--no-eos"]
    return a


def run_cases(model, prompts, cases, eos, out):
    res = []
    for name, kw in cases:
        outputs = [generate(model, p, eos, **kw) for p in prompts]
        res.append({"name": name, "args": args_of(kw, eos), "outputs": outputs})
        ended = sum(1 for o in outputs if eos is not None and o and o[-1] == eos)
        print("%-28s %d prompts, %d ended by EOS, lengths %s" % (name, len(outputs), ended,
                                                                 [len(o) for o in outputs]))
    with open(os.path.join(out, "prompts.ids"), "w") as f:
        for p in prompts:
            f.write(" ".join(map(str, p)) + "\n")
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(res, f)


def gpt2(out, vocab_dir):
    torch.manual_seed(1234)
    cfg = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                  initializer_range=0.3)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    mdir = os.path.join(out, "model")
    model.save_pretrained(mdir, safe_serialization=True)
    for src, dst in (("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt")):  # OpenAI's names
        shutil.copy(os.path.join(vocab_dir, src), os.path.join(mdir, dst))
    g = torch.Generator().manual_seed(99)
    prompts = [torch.randint(0, 50257, (n,), generator=g).tolist() for n in (1, 3, 5, 7, 8, 10, 12, 4)]
    counts = {}  # EOS = the token greedy decoding produces most often
    for p in prompts:
        for t in generate(model, p, None, max_new_tokens=20):
            counts[t] = counts.get(t, 0) + 1
    eos = max(sorted(counts), key=lambda t: counts[t])
    cases = [
        ("greedy", dict(max_new_tokens=20)),
        ("greedy-norepeat3-min4", dict(max_new_tokens=16, no_repeat_ngram_size=3, min_new_tokens=4)),
        ("beam3", dict(max_new_tokens=16, num_beams=3)),
        ("beam4-lp0.8-norepeat3", dict(max_new_tokens=16, num_beams=4, length_penalty=0.8, no_repeat_ngram_size=3)),
        ("beam5-lp2-min6", dict(max_new_tokens=14, num_beams=5, length_penalty=2.0, min_new_tokens=6)),
        ("beam3-early", dict(max_new_tokens=16, num_beams=3, early_stopping=True)),
        ("beam6-lp-0.5", dict(max_new_tokens=12, num_beams=6, length_penalty=-0.5)),
    ]
    run_cases(model, prompts, cases, eos, out)


def smollm2(out, gguf, hf_dir):
    from smollm2_ref import smollm2_tokenizer
    tk = smollm2_tokenizer(gguf)
    texts = [
        "name[The Vaults], eatType[pub], food[Italian], priceRange[more than £30], near[Café Adriatic]",
        "Write one sentence describing a coffee shop called Blue Spice in the city centre.",
        "What is the capital of France?",
        "name[Alimentum], area[city centre], familyFriendly[no]",
        "List three colours.",
    ]
    prompts = [tk.encode("<|im_start|>user\n" + t + "<|im_end|>\n<|im_start|>assistant\n").ids for t in texts]
    eos = tk.token_to_id("<|im_end|>")
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
    cases = [
        ("greedy", dict(max_new_tokens=40)),
        ("beam4-lp0.8-norepeat4", dict(max_new_tokens=32, num_beams=4, length_penalty=0.8, no_repeat_ngram_size=4)),
        ("beam10-lp0.8-norepeat4", dict(max_new_tokens=24, num_beams=10, length_penalty=0.8, no_repeat_ngram_size=4)),
        ("beam3-lp1.5", dict(max_new_tokens=24, num_beams=3, length_penalty=1.5)),
    ]
    run_cases(model, prompts, cases, eos, out)


def processors(out):
    """The logits processors on random rows: HF's TemperatureLogitsWarper, TopKLogitsWarper,
    TopPLogitsWarper (applied in generate()'s order), NoRepeatNGramLogitsProcessor and
    log_softmax; written to OUT/processors.json (tests/unit/test_generate.c)."""
    from transformers.generation.logits_process import (NoRepeatNGramLogitsProcessor, TemperatureLogitsWarper,
                                                        TopKLogitsWarper, TopPLogitsWarper)
    g = torch.Generator().manual_seed(5)
    cases = []
    for i, (V, temp, k, p) in enumerate([(50, 1.0, 5, 1.0), (50, 0.7, 0, 0.9), (200, 1.3, 20, 0.5), (1000, 1.0, 0, 0.95),
                                         (1000, 0.5, 100, 0.8), (64, 2.0, 64, 0.3), (30, 1.0, 1, 1.0), (30, 1.0, 0, 0.01)]):
        x = torch.randn(1, V, generator=g) * (1 + i)
        if i == 3:
            x[0, 10:20] = x[0, 0]  # ties
        y = x.clone()
        ids = torch.zeros(1, 1, dtype=torch.long)
        if temp != 1.0:
            y = TemperatureLogitsWarper(temp)(ids, y)
        if k > 0:
            y = TopKLogitsWarper(k)(ids, y)
        if p < 1.0:
            y = TopPLogitsWarper(p)(ids, y)
        cases.append({"kind": "warp", "temperature": temp, "top_k": k, "top_p": p, "logits": x[0].tolist(),
                      "want": [None if v == float("-inf") else v for v in y[0].tolist()],
                      "log_softmax": torch.log_softmax(x[0], -1).tolist()})
    for n, seq in [(2, [1, 2, 1, 2, 1]), (3, [5, 6, 7, 5, 6]), (4, [1, 1, 1, 1, 1, 1]), (3, [9, 8]), (1, [3, 4, 3]),
                   (4, [0, 1, 2, 3, 0, 1, 2, 4, 0, 1, 2])]:
        x = torch.randn(1, 12, generator=g)
        y = NoRepeatNGramLogitsProcessor(n)(torch.tensor([seq]), x.clone())
        cases.append({"kind": "ngram", "n": n, "seq": seq, "logits": x[0].tolist(),
                      "want": [None if v == float("-inf") else v for v in y[0].tolist()]})
    with open(os.path.join(out, "processors.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "cases": cases}, f, indent=0)


def main():
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if kind == "gpt2":
        gpt2(out, sys.argv[3])
    elif kind == "processors":
        processors(out)
    elif kind == "smollm2":
        smollm2(out, sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: generate_ref.py gpt2 OUTDIR VOCAB_DIR | smollm2 OUTDIR MODEL.gguf HF_DIR")


if __name__ == "__main__":
    main()
