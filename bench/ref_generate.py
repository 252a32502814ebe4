#!/usr/bin/python3
"""transformers 4.46's generate() speed for bench/generate.sh: tokens/s of the same decoding pst
runs (fixed length: no EOS, min_new_tokens = max_new_tokens), timed around generate() only.

Usage: PYTHONPATH=.ref/transformers /usr/bin/python3 bench/ref_generate.py HF_DIR PROMPTS.ids \
           MODE MAX_NEW THREADS
MODE: greedy1 (each prompt alone), greedy8 (the prompts as one batch; they have equal lengths,
so no padding), beam10 (each prompt alone, 10 beams). Prints "MODE tokens seconds tokens/s".
generate()'s torch.distributed.fsdp import fails on Debian's torch 1.13 + Python 3.11; the
model is not FSDP-managed, so that check is answered directly (as tests/reference/generate_ref.py).
"""
import sys
import time

import torch
import transformers
import transformers.generation.utils as gen_utils
from transformers import GenerationConfig

gen_utils.is_fsdp_managed_module = lambda module: False


def main():
    hf, ids_file, mode, max_new, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    model = transformers.AutoModelForCausalLM.from_pretrained(hf, torch_dtype=torch.float32).eval()
    prompts = [[int(t) for t in line.split()] for line in open(ids_file)]
    beams = 10 if mode == "beam10" else 1
    gc = GenerationConfig(do_sample=False, num_beams=beams, max_new_tokens=max_new, min_new_tokens=max_new,
                          eos_token_id=None, pad_token_id=0)
    batches = [prompts] if mode == "greedy8" else [[p] for p in prompts]
    tokens, seconds = 0, 0.0
    with torch.no_grad():
        for b in batches:
            x = torch.tensor(b)
            t0 = time.perf_counter()
            out = model.generate(x, attention_mask=torch.ones_like(x), generation_config=gc)
            seconds += time.perf_counter() - t0
            tokens += (out.shape[1] - x.shape[1]) * out.shape[0]
    print("%s %d %.3f %.2f" % (mode, tokens, seconds, tokens / seconds))


if __name__ == "__main__":
    main()
