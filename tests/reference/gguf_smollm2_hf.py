#!/usr/bin/python3
"""gguf_smollm2_hf.py — an independent reading of a llama GGUF file: transformers' own GGUF loader
(transformers 4.46.3 load_gguf_checkpoint, scripts/ref-transformers, with gguf-py from
scripts/ref-gguf) dequantizes every tensor, renames it to Hugging Face's names and undoes the q/k
permutation (its reverse_permute_weights); the result is written as a Hugging Face model
directory (config.json + model.safetensors, fp32) for pst's Hugging Face loader, so that
tests/parity/gguf_smollm2 can compare pst's GGUF loader against it tensor for tensor.

Usage: PYTHONPATH=.ref/transformers:.ref/gguf /usr/bin/python3 tests/reference/gguf_smollm2_hf.py MODEL.gguf OUTDIR

tie_word_embeddings is set when the file has no output.weight (transformers returns no
lm_head.weight then); everything else comes from transformers' reading of the metadata.
"""

import os
import sys

import torch  # noqa: F401  (transformers' loader returns torch tensors)
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig
from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint


def main():
    model, out = sys.argv[1], sys.argv[2]
    transformers.logging.set_verbosity_error()
    os.environ.setdefault("TQDM_DISABLE", "1")
    r = load_gguf_checkpoint(model, return_tensors=True)
    tensors = {k: v.contiguous() for k, v in r["tensors"].items()}
    cfg = dict(r["config"])
    if cfg.pop("model_type") != "llama":
        sys.exit("gguf_smollm2_hf: not a llama file")
    cfg.pop("_model_name_or_path", None)
    cfg["tie_word_embeddings"] = "lm_head.weight" not in tensors
    cfg["architectures"] = ["LlamaForCausalLM"]
    os.makedirs(out, exist_ok=True)
    LlamaConfig(**cfg).save_pretrained(out)
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    print("gguf_smollm2_hf: %d tensors from %s into %s (transformers %s)" % (len(tensors), model, out,
                                                                              transformers.__version__))


if __name__ == "__main__":
    main()
