#!/usr/bin/python3
"""export_ref.py -- reference side of tests/ckpt/test_export.sh: load a directory written by
`pst export --format hf` with Hugging Face transformers (AutoModelForSequenceClassification for
BERT/RoBERTa, GPT2LMHeadModel for GPT-2, LlamaForCausalLM (eager attention) for LLaMA; eval mode,
float32), run it on the token ids that
tests/ckpt/export_logits used (IDS.json: input_ids, token_type_ids, attention_mask, each [B][T])
and compare its logits with pst's (LOGITS.f32: float32 [B, num_labels] or [B, T, vocab]).

usage: export_ref.py DIR IDS.json LOGITS.f32 TOL
Prints the observed max |difference|; exit 0 if it is <= TOL, 1 if not or if the Python stack
(torch + a transformers that runs on it) is missing.
"""

import json
import sys


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    model_dir, ids_path, logits_path, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    try:
        import numpy as np
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM
    except Exception as e:  # noqa: BLE001 -- no reference stack: a failure, never a skip
        print(f"FAIL: the reference stack does not import: {e}")
        return 1
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(model_dir)
    if cfg.model_type == "gpt2":
        model = GPT2LMHeadModel.from_pretrained(model_dir, torch_dtype=torch.float32)
    elif cfg.model_type == "llama":
        model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    else:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, torch_dtype=torch.float32)
    model.eval()
    with open(ids_path) as f:
        ids = json.load(f)
    input_ids = torch.tensor(ids["input_ids"], dtype=torch.long)
    mask = torch.tensor(ids["attention_mask"], dtype=torch.long)
    B, T = input_ids.shape
    with torch.no_grad():
        if cfg.model_type in ("gpt2", "llama"):
            out = model(input_ids=input_ids, attention_mask=mask).logits  # [B, T, V]
        else:
            types = torch.tensor(ids["token_type_ids"], dtype=torch.long)
            out = model(input_ids=input_ids, token_type_ids=types, attention_mask=mask).logits  # [B, L]
    ref = out.float().numpy()
    pst = np.fromfile(logits_path, dtype="<f4")
    if pst.size != ref.size:
        print(f"FAIL: pst wrote {pst.size} logits, transformers gives {ref.size} {tuple(ref.shape)}")
        return 1
    pst = pst.reshape(ref.shape)
    diff = float(np.max(np.abs(pst - ref)))
    scale = float(np.max(np.abs(ref)))
    ok = diff <= tol
    print(f"{'ok' if ok else 'FAIL'}: {cfg.architectures[0]} (transformers {transformers.__version__}, "
          f"torch {torch.__version__}): logits {tuple(ref.shape)}, max |pst - HF| = {diff:.3e} "
          f"(tolerance {tol:g}; max |logit| {scale:.3g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
