#!/usr/bin/python3
"""gguf_smollm2_ref.py — reference values for tests/parity/gguf_smollm2 from gguf-py (PyPI gguf
0.17.1, scripts/ref-gguf): a few tensors of each type of SmolLM2-135M-Instruct.Q4_1.gguf
dequantized by gguf.quants.dequantize, written to an F32 safetensors file.

Usage: PYTHONPATH=.ref/gguf /usr/bin/python3 tests/reference/gguf_smollm2_ref.py MODEL.gguf OUT.safetensors

Names in OUT:
  <gguf name>                    the whole tensor (PyTorch order)
  <gguf name>@rows:R0:NR         rows [R0, R0 + NR) of it (the token embedding is 113 MB in fp32)
  pst:<pst name>                 q/k weights in Hugging Face order: the file's rows un-permuted
                                 (the inverse of convert_hf_to_gguf.py's LlamaModel.permute)
"""

import json
import struct
import sys

import numpy as np
from importlib.metadata import version

import gguf
from gguf import quants

WHOLE = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight", "blk.17.ffn_gate.weight",
         "blk.29.attn_output.weight", "blk.0.attn_norm.weight", "blk.29.ffn_norm.weight", "output_norm.weight"]
ROWS = [("token_embd.weight", 0, 16), ("token_embd.weight", 12345, 7), ("token_embd.weight", 49136, 16)]
PST = [("blk.0.q.w", "blk.0.attn_q.weight", 9), ("blk.0.k.w", "blk.0.attn_k.weight", 3),
       ("blk.29.q.w", "blk.29.attn_q.weight", 9), ("blk.29.k.w", "blk.29.attn_k.weight", 3)]


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    model, out = sys.argv[1], sys.argv[2]
    r = gguf.GGUFReader(model)
    by = {t.name: t for t in r.tensors}

    def deq(name):
        t = by[name]
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            return np.asarray(t.data, dtype=np.float32).reshape(list(reversed([int(x) for x in t.shape])))
        return quants.dequantize(t.data, t.tensor_type)

    tensors = [(n, deq(n)) for n in WHOLE]
    emb = deq("token_embd.weight")
    tensors += [("%s@rows:%d:%d" % (n, r0, nr), emb[r0:r0 + nr]) for n, r0, nr in ROWS]
    tensors += [("pst:" + p, unpermute(deq(g), h)) for p, g, h in PST]
    header, off, blobs = {}, 0, []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print("gguf_smollm2_ref: %d reference tensors from %s (gguf-py %s)" % (len(tensors), model, version("gguf")))


if __name__ == "__main__":
    main()
