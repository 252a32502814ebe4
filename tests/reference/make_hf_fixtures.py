#!/usr/bin/python3
"""Reference hidden states of a real pretrained BERT for pst's Hugging Face loader.

Usage: PYTHONPATH=.ref/transformers /usr/bin/python3 tests/reference/make_hf_fixtures.py MODEL_DIR OUT.safetensors

MODEL_DIR is a Hugging Face BERT directory (config.json, model.safetensors, tokenizer files),
normally models/all-MiniLM-L6-v2 from scripts/get-model. Four real sentences (one of them a
sentence pair, so token type 1 is exercised) are tokenized by the directory's own tokenizer
(transformers' AutoTokenizer, else the `tokenizers` library on tokenizer.json), right-padded
to the longest, and run through the encoder in float32. OUT gets:
  input_ids, attention_mask, token_type_ids   I32 [B,T]
  last_hidden_state                          F32 [B,T,H]  (output of the last block)
  pooler_output                              F32 [B,H]    (tanh(pooler(h[:,0])))
and metadata naming the reference, the tokenizer and the sentences.

The reference: transformers' BertModel (4.46.3 from scripts/ref-transformers: Debian's torch 1.13
needs transformers <= 4.46), required: without it the script fails. The hand-written torch forward
below (HF BertModel's eager path, op for op) also runs and must agree with it to 1e-5 (relative to
max |h|), a cross-check of both.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import numpy as np  # noqa: E402
import torch  # noqa: E402

import pst_ref as R  # noqa: E402  (save_safetensors)

SENTENCES = [
    ("The quick brown fox jumps over the lazy dog.", None),
    ("Parameter-efficient sparse fine-tuning keeps most pretrained weights frozen.", None),
    ("Hello world!", None),
    ("A man is playing a guitar on stage.", "Someone performs music in front of an audience."),
]
CROSS_TOL = 1e-5


def die(msg):
    print("make_hf_fixtures: error: " + msg, file=sys.stderr)
    sys.exit(1)


def read_safetensors(path):
    """Float tensors of a safetensors file as float32 torch tensors (other dtypes skipped)."""
    dts = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    with open(path, "rb") as f:
        data = f.read()
    (hl,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hl].decode("utf-8"))
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        raw = data[8 + hl + b:8 + hl + en]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] in dts:
            arr = np.frombuffer(raw, dtype=np.dtype(dts[e["dtype"]]).newbyteorder("<")).astype(np.float32)
        else:
            continue
        out[name] = torch.from_numpy(arr.reshape(e["shape"]).copy())
    return out


def load_weights(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(model_dir, "model.safetensors.index.json")) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    w = {}
    for s in shards:
        w.update(read_safetensors(os.path.join(model_dir, s)))
    return w


def tokenize(model_dir):
    pairs = [(a, b) for a, b in SENTENCES]
    try:
        from transformers import AutoTokenizer
        import transformers
        tok = AutoTokenizer.from_pretrained(model_dir)
        enc = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        for a, b in pairs:  # one at a time: a batch may not mix single texts and pairs
            e = tok(a, b) if b is not None else tok(a)
            for k in enc:
                enc[k].append(e[k])
        used = "transformers %s %s" % (transformers.__version__, type(tok).__name__)
    except ImportError:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            die("neither transformers nor tokenizers imports in %s; install one: "
                "%s -m pip install --break-system-packages transformers" % (sys.executable, sys.executable))
        tk = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        tk.no_padding()
        tk.no_truncation()
        enc = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        for a, b in pairs:
            e = tk.encode(a, b) if b is not None else tk.encode(a)
            enc["input_ids"].append(e.ids)
            enc["token_type_ids"].append(e.type_ids)
            enc["attention_mask"].append(e.attention_mask)
        used = "tokenizers (tokenizer.json)"
    T = max(len(x) for x in enc["input_ids"])
    out = {}
    for k in enc:  # right padding with zeros ([PAD] = 0 for BERT vocabularies)
        out[k] = torch.tensor([x + [0] * (T - len(x)) for x in enc[k]], dtype=torch.int64)
    return out, used


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def bert_forward(W, cfg, ids, tt, am):
    """HF BertModel (eager attention, no dropout) for absolute positions, gelu (erf) MLP."""
    P = "bert." if "bert.embeddings.word_embeddings.weight" in W else ""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    if cfg.get("hidden_act", "gelu") != "gelu":
        die("the hand-written forward implements hidden_act gelu only")
    B, T = ids.shape
    hd = H // nh
    e = P + "embeddings."
    x = W[e + "word_embeddings.weight"][ids] + W[e + "token_type_embeddings.weight"][tt]
    x = x + W[e + "position_embeddings.weight"][:T].unsqueeze(0)
    x = layer_norm(x, W[e + "LayerNorm.weight"], W[e + "LayerNorm.bias"], eps)
    neg = (1.0 - am[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min

    def lin(v, name):
        return torch.nn.functional.linear(v, W[name + ".weight"], W[name + ".bias"])

    def heads(v):
        return v.view(B, T, nh, hd).permute(0, 2, 1, 3)

    for i in range(cfg["num_hidden_layers"]):
        L = "%sencoder.layer.%d." % (P, i)
        q = heads(lin(x, L + "attention.self.query"))
        k = heads(lin(x, L + "attention.self.key"))
        v = heads(lin(x, L + "attention.self.value"))
        s = torch.matmul(q, k.transpose(-1, -2)) / (hd ** 0.5) + neg
        p = torch.softmax(s, dim=-1)
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, T, H)
        a = lin(ctx, L + "attention.output.dense")
        x = layer_norm(a + x, W[L + "attention.output.LayerNorm.weight"], W[L + "attention.output.LayerNorm.bias"], eps)
        h = torch.nn.functional.gelu(lin(x, L + "intermediate.dense"))
        o = lin(h, L + "output.dense")
        x = layer_norm(o + x, W[L + "output.LayerNorm.weight"], W[L + "output.LayerNorm.bias"], eps)
    pooled = None
    if P + "pooler.dense.weight" in W:
        pooled = torch.tanh(lin(x[:, 0], P + "pooler.dense"))
    return x, pooled


def transformers_forward(model_dir, ids, tt, am):
    """(hidden, pooled, description) from transformers' BertModel, or None with the reason."""
    try:
        import transformers
        from transformers.utils import is_torch_available
    except ImportError as e:
        return None, "transformers not installed (%s)" % e
    if not is_torch_available():
        return None, "transformers %s cannot use torch %s" % (transformers.__version__, torch.__version__)
    try:
        from transformers import BertModel
        m = BertModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    except Exception as e:  # noqa: BLE001 (any failure means: not usable here)
        return None, "transformers %s BertModel failed: %s" % (transformers.__version__, e)
    with torch.no_grad():
        out = m(input_ids=ids, token_type_ids=tt, attention_mask=am)
    pooled = out.pooler_output if m.pooler is not None else None
    return (out.last_hidden_state, pooled), "transformers %s BertModel" % transformers.__version__


def rel_err(a, b):
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-6))


def main():
    if len(sys.argv) != 3:
        die("usage: make_hf_fixtures.py MODEL_DIR OUT.safetensors")
    model_dir, out_path = sys.argv[1], sys.argv[2]
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        die("%s/config.json not found: run scripts/get-model first" % model_dir)
    torch.manual_seed(0)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type", "bert") != "bert":
        die("%s: model_type %r; this reference implements BERT only" % (model_dir, cfg.get("model_type")))
    enc, tok_used = tokenize(model_dir)
    ids, tt, am = enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]
    W = load_weights(model_dir)
    with torch.no_grad():
        hand_h, hand_p = bert_forward(W, cfg, ids, tt, am)
    real = am.bool()
    tf, why = transformers_forward(model_dir, ids, tt, am)
    if tf is not None:
        tf_h, tf_p = tf
        err = rel_err(hand_h[real], tf_h[real])
        print("make_hf_fixtures: hand-written forward vs %s: rel. err %.2e on real tokens" % (why, err))
        if err > CROSS_TOL:
            die("the hand-written forward disagrees with %s (%.2e > %.0e)" % (why, err, CROSS_TOL))
        hidden, pooled, ref = tf_h, tf_p, why
    else:  # the reference is transformers itself: never a second hand-written model
        die("%s: the reference transformers is required (scripts/ref-transformers; "
            "PYTHONPATH=.ref/transformers)" % why)
    if pooled is None:
        die("%s: BertModel gave no pooler output" % why)
    tensors = {
        "input_ids": ids.to(torch.int32),
        "attention_mask": am.to(torch.int32),
        "token_type_ids": tt.to(torch.int32),
        "last_hidden_state": hidden.detach().to(torch.float32).contiguous(),
    }
    if pooled is not None:
        tensors["pooler_output"] = pooled.detach().to(torch.float32).contiguous()
    meta = {
        "reference": ref,
        "tokenizer": tok_used,
        "model_dir": os.path.abspath(model_dir),
        "sentences": json.dumps(SENTENCES),
        "torch": torch.__version__,
    }
    R.save_safetensors(out_path, tensors, meta)
    B, T = ids.shape
    print("make_hf_fixtures: wrote %s (B=%d, T=%d, real tokens %s, max|h| %.4g; reference: %s; tokenizer: %s)"
          % (out_path, B, T, am.sum(1).tolist(), float(hidden[real].abs().max()), ref, tok_used))


if __name__ == "__main__":
    main()
