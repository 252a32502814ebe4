#!/usr/bin/python3
"""Write a Hugging Face LlamaForCausalLM directory from a LLaMA-architecture GGUF file, with
llama.cpp's own Python reader (PyPI gguf), independently of pst's C GGUF reader.

Usage: PYTHONPATH=.ref/gguf /usr/bin/python3 tests/reference/gguf_to_hf.py MODEL.gguf OUTDIR

Every tensor is dequantized to float32 by gguf.quants.dequantize (ggml's definitions), q and k
weights get the row permutation of llama.cpp's convert_hf_to_gguf.py (LlamaModel.permute) undone,
and the head is tied to the token embedding when the file has no output.weight (SmolLM2-135M-
Instruct: transformers 4.46's own GGUF loader leaves that head untied and random). OUTDIR receives
config.json (from the llama.* metadata) and model.safetensors (F32). The tokenizer is not
converted: the parity test feeds token ids.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

import pst_ref as R  # noqa: E402  (save_safetensors)

try:
    import gguf  # noqa: E402
    from gguf.quants import dequantize  # noqa: E402
except Exception as e:
    print("gguf_to_hf: cannot import gguf (%s): run scripts/ref-gguf and set PYTHONPATH=.ref/gguf" % e,
          file=sys.stderr)
    sys.exit(1)


def field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    v = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(v).decode("utf-8")
    return v.tolist()[0]


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf.py's permute(w, n_head): rows of each head go back from
    (hd/2, 2) interleaved to (2, hd/2) halves (Hugging Face rotate-half layout)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src, out = sys.argv[1], sys.argv[2]
    r = gguf.GGUFReader(src)
    arch = field(r, "general.architecture")
    if arch != "llama":
        print("gguf_to_hf: %s: general.architecture = %s, expected llama" % (src, arch), file=sys.stderr)
        return 1
    heads = field(r, "llama.attention.head_count")
    kv = field(r, "llama.attention.head_count_kv", heads)
    tensors = {}
    for t in r.tensors:
        ne = [int(x) for x in t.shape]  # ggml order: ne[0] innermost
        a = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(list(reversed(ne)))
        tensors[t.name] = a
    hidden = field(r, "llama.embedding_length")
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    per = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
           "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
           "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    sd = {}
    for name, a in tensors.items():
        if name in names:
            sd[names[name]] = a
            continue
        _, i, kind, wb = name.split(".")
        if kind == "attn_q":
            a = unpermute(a, heads)
        elif kind == "attn_k":
            a = unpermute(a, kv)
        sd["model.layers.%s.%s.%s" % (i, per[kind], wb)] = a
    tie = "lm_head.weight" not in sd
    vocab = sd["model.embed_tokens.weight"].shape[0]
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "num_hidden_layers": field(r, "llama.block_count"),
        "num_attention_heads": heads, "num_key_value_heads": kv,
        "intermediate_size": field(r, "llama.feed_forward_length"), "vocab_size": vocab,
        "max_position_embeddings": field(r, "llama.context_length"),
        "rms_norm_eps": field(r, "llama.attention.layer_norm_rms_epsilon"),
        "rope_theta": field(r, "llama.rope.freq_base", 10000.0), "hidden_act": "silu",
        "tie_word_embeddings": tie, "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
        "bos_token_id": field(r, "tokenizer.ggml.bos_token_id"), "eos_token_id": field(r, "tokenizer.ggml.eos_token_id"),
        "pst_source": {"gguf": os.path.basename(src), "converter": "tests/reference/gguf_to_hf.py (gguf %s)"
                       % getattr(gguf, "__version__", "?")},
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    R.save_safetensors(os.path.join(out, "model.safetensors"),
                       {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sorted(sd.items())},
                       {"format": "pt"})
    print("gguf_to_hf: %s -> %s (%d tensors, head %s)" % (src, out, len(sd), "tied" if tie else "own"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
