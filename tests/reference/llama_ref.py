#!/usr/bin/python3
"""The LLaMA-family reference forward for pst's tests and benchmarks: transformers 4.46's own
LlamaForCausalLM / Qwen2ForCausalLM (eager attention, float32) run through
torch.nn.utils.stateless.functional_call with every block linear's weight replaced by PST's
effective weight from pst_ref.effective_weight (M ⊙ (W0 + U V), or W0 itself for dense), so that
autograd gives the straight-through gradients exactly as pst_ref.forward does for BERT/GPT-2.
Used by make_llama_fixtures.py (parity fixtures) and bench/ref_step.py --shape smollm2 (the
PyTorch PST step with the official semantics on a real LLaMA architecture).

Needs transformers 4.46.3 (scripts/ref-transformers; PYTHONPATH=.ref/transformers).
"""

import sys

import torch
from torch.nn.utils import stateless

import pst_ref as R

try:
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
except Exception as e:  # the reference must exist: fail, never skip
    print("llama_ref: cannot import transformers (%s); run scripts/ref-transformers and set "
          "PYTHONPATH=.ref/transformers" % e, file=sys.stderr)
    sys.exit(1)

HF_LIN = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
          "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}

_models = {}


def hf_model(cfg, tie=False):
    """The transformers model of cfg (random weights: every one is replaced at call time)."""
    key = (cfg.hf_class, cfg.kv_heads, cfg.rope_theta, cfg.rope_scaling, cfg.rope_factor,
           cfg.rope_original_max_positions, tie)
    if key in _models:
        return _models[key]
    kw = dict(vocab_size=cfg.vocab, hidden_size=cfg.hidden, intermediate_size=cfg.ffn,
              num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
              max_position_embeddings=cfg.max_positions, rms_norm_eps=cfg.ln_eps, rope_theta=cfg.rope_theta,
              hidden_act="silu", tie_word_embeddings=tie, attn_implementation="eager")
    if cfg.rope_scaling == "linear":
        kw["rope_scaling"] = {"rope_type": "linear", "factor": cfg.rope_factor}
    elif cfg.rope_scaling == "llama3":
        kw["rope_scaling"] = {"rope_type": "llama3", "factor": cfg.rope_factor,
                              "low_freq_factor": cfg.rope_low_freq_factor,
                              "high_freq_factor": cfg.rope_high_freq_factor,
                              "original_max_position_embeddings": cfg.rope_original_max_positions}
    if cfg.hf_class == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(use_sliding_window=False, **kw))
    else:
        model = LlamaForCausalLM(LlamaConfig(attention_bias=False, mlp_bias=False, **kw))
    model.eval()
    _models[key] = model
    return model


def llama_forward(cfg, P, batch, s, mask_fn=None, trace=None):
    model = hf_model(cfg)
    params = {"model.embed_tokens.weight": P["emb.tok"], "model.norm.weight": P["lnf.w"],
              "lm_head.weight": P["emb.tok"] if cfg.tie_embeddings else P["head.w"]}
    for i in range(cfg.layers):
        h = "model.layers.%d." % i
        params[h + "input_layernorm.weight"] = P["blk.%d.ln1.w" % i]
        params[h + "post_attention_layernorm.weight"] = P["blk.%d.ln2.w" % i]
        for lin in R.LLAMA_LINEARS:
            prefix = "blk.%d.%s" % (i, lin)
            params[h + HF_LIN[lin] + ".weight"] = R.effective_weight(cfg, prefix, P, s, mask_fn, trace)
            if prefix + ".b" in P:
                params[h + HF_LIN[lin] + ".bias"] = P[prefix + ".b"]
    ids = batch["batch.input_ids"].long()
    am = batch["batch.attention_mask"].long()
    logits = stateless.functional_call(model, params, (ids,), {"attention_mask": am, "use_cache": False}).logits
    B, T, V = logits.shape
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), batch["batch.targets"].reshape(-1).long(),
                                           reduction="none", label_smoothing=cfg.label_smoothing).view(B, T)
    lm = batch["batch.loss_mask"]
    return logits, (lm * ce).sum() / lm.sum()


