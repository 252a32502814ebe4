#!/usr/bin/python3
"""Parity fixtures of pst's LLaMA family against transformers 4.46's own models.

Usage: PYTHONPATH=.ref/transformers /usr/bin/python3 tests/reference/make_llama_fixtures.py OUTDIR

The reference forward is transformers' LlamaForCausalLM (or Qwen2ForCausalLM for the case with
q/k/v biases), eager attention, float32, run through torch.nn.utils.stateless.functional_call with
every block linear's weight replaced by PST's effective weight M ⊙ (W0 + U V) from pst_ref.py, so
that autograd gives the straight-through gradients of every PST trainable exactly as for the
BERT/GPT-2 fixtures. Everything else (cases, 5 AdamW steps, candidates far from top-k ties,
noise floors, the fixture files read by tests/parity/test_parity) is make_fixtures.py's.
The head: tied cases pass emb.tok as lm_head.weight (what tie_word_embeddings does), untied ones
their own head.w. Loss: token cross-entropy weighted by the batch's loss mask, as pst computes it.

Cases (tiny random models: hidden 64, 2 blocks, 4 query heads, 2 key/value heads, ffn 96):
  llama-pst            tied head, rope theta 10000
  llama-pst-untied     untied head, rope_scaling llama3 (factor 8, original 16 positions so that
                       low, medium and high frequencies all occur), rope theta 500000
  llama-lora-linear    LoRA, rope_scaling linear (factor 2)
  qwen2-pst            Qwen2ForCausalLM: q, k, v biases, one key/value head
  llama-dense          the block weights themselves train
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402
from torch.nn.utils import stateless  # noqa: E402

import make_fixtures as MF  # noqa: E402
import pst_ref as R  # noqa: E402

try:
    import transformers  # noqa: E402
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM  # noqa: E402
except Exception as e:  # the reference must exist: fail, never skip
    print("make_llama_fixtures: cannot import transformers (%s); run scripts/ref-transformers and set "
          "PYTHONPATH=.ref/transformers" % e, file=sys.stderr)
    sys.exit(1)

HF_LIN = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
          "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}

BASE = dict(hidden=64, layers=2, heads=4, ffn=96, vocab=100, max_positions=32, kv_heads=2)
CASES = (
    ("llama-pst", "pst", {}),
    ("llama-pst-untied", "pst", dict(tie_embeddings=False, rope_theta=500000.0, rope_scaling="llama3",
                                     rope_factor=8.0, rope_low_freq_factor=1.0, rope_high_freq_factor=4.0,
                                     rope_original_max_positions=16)),
    ("llama-lora-linear", "lora", dict(rope_scaling="linear", rope_factor=2.0)),
    ("qwen2-pst", "pst", dict(hf_class="qwen2", qkv_bias=True, kv_heads=1, rope_theta=1000000.0)),
    ("llama-dense", "dense", {}),
)

# Four perturbations for the noise floors of the 5-step comparison (make_fixtures.noise_floors):
# with two, llama-pst-untied's blk.0.gate.V floor came out at < 5e-5 while pst differed by 1.02e-4
# (step-0 gradients of the same case agree to 1e-6): two samples underestimate Adam's noise.
FLOOR_SEEDS = (99, 100, 101, 102)

# cases also written as Hugging Face directories (qwen2-pst sharded, with an index)
HF_DIRS = ("llama-pst", "llama-pst-untied", "qwen2-pst")

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


def save_hf(cfg, frozen, path, shard):
    """A Hugging Face directory (config.json + safetensors, sharded when `shard`) holding the case's
    frozen weights under transformers' names, written by save_pretrained: tests/parity/test_hf_llama
    loads it through pst's loader and compares with the .init.safetensors tensors."""
    model = hf_model(cfg, tie=cfg.tie_embeddings)
    sd = {"model.embed_tokens.weight": frozen["emb.tok"], "model.norm.weight": frozen["lnf.w"]}
    if not cfg.tie_embeddings:
        sd["lm_head.weight"] = frozen["head.w"]
    for i in range(cfg.layers):
        h = "model.layers.%d." % i
        sd[h + "input_layernorm.weight"] = frozen["blk.%d.ln1.w" % i]
        sd[h + "post_attention_layernorm.weight"] = frozen["blk.%d.ln2.w" % i]
        for lin in R.LLAMA_LINEARS:
            sd[h + HF_LIN[lin] + ".weight"] = frozen["blk.%d.%s.w" % (i, lin)]
            if "blk.%d.%s.b" % (i, lin) in frozen:
                sd[h + HF_LIN[lin] + ".bias"] = frozen["blk.%d.%s.b" % (i, lin)]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    if cfg.tie_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    model.save_pretrained(path, safe_serialization=True, max_shard_size="60KB" if shard else "10GB")


def main():
    if len(sys.argv) != 2:
        print("usage: %s OUTDIR" % sys.argv[0], file=sys.stderr)
        return 2
    assert transformers.__version__ == "4.46.3", transformers.__version__
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    R.FORWARDS["llama"] = llama_forward
    t0 = time.time()
    for name, method, extra in CASES:
        cfg, frozen = MF.write_case(outdir, name, "llama", method, None, False, dict(BASE, **extra),
                                    generator="tests/reference/make_llama_fixtures.py (transformers %s)"
                                    % transformers.__version__, floor_seeds=FLOOR_SEEDS)
        if name in HF_DIRS:
            save_hf(cfg, frozen, os.path.join(outdir, name + ".hf"), shard=name == "qwen2-pst")
    print("wrote %d llama cases to %s in %.1f s" % (len(CASES), outdir, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
