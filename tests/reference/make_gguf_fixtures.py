#!/usr/bin/python3
"""make_gguf_fixtures.py — the GGUF test fixtures, written with gguf-py (PyPI gguf 0.17.1, see
scripts/ref-gguf), and the seed corpus of the GGUF fuzz target.

Usage: PYTHONPATH=.ref/gguf /usr/bin/python3 tests/reference/make_gguf_fixtures.py [FIXDIR [CORPUSDIR]]
(defaults: tests/fixtures/gguf and tests/fuzz/corpus/gguf). Deterministic (seeded): rerunning
it rewrites the committed files byte for byte.

FIXDIR/quants.gguf + quants_expected.safetensors
    F32, F16 (with subnormals, +-0, +-inf), BF16, Q8_0, Q4_0, Q4_1 tensors, each quantized by
    gguf-py from random data and (quantized types) also random raw blocks with finite scales;
    2-D, 3-D and 1-D shapes. The expected fp32 values are gguf.quants.dequantize's, under
    the same names, in numpy (= PyTorch) order: test_gguf compares them bit for bit.
FIXDIR/llama-tiny.gguf + llama-tiny_expected.safetensors
    general.architecture = llama: 2 blocks, hidden 32, 4 heads (head dim 8), 2 kv heads,
    ffn 64, vocab 64, rope theta 500000, linear rope scaling x2, q/k/v/o biases (Llama's
    attention_bias), no output.weight (tied head), a small byte-level BPE tokenizer. The q and k weights and biases are stored
    PERMUTED as llama.cpp's convert_hf_to_gguf.py does (LlamaModel.permute), with mixed
    types; the expected file holds, under pst names (blk.N.q.w, .k.w, .q.b, .k.b), the
    Hugging Face order: the dequantized file tensors with the permutation undone in numpy.
FIXDIR/qwen2-tiny.gguf
    general.architecture = qwen2: 1 block, hidden 32, 4 heads, 2 kv heads, ffn 64, vocab 64,
    q/k/v biases, an untied output.weight; nothing permuted (Qwen2Model does not permute).
CORPUSDIR/*: small valid files (two of the above are too large for a seed; a minimal llama
    file with every metadata value type and a nested array is written instead) and broken
    ones, each breaking one rule of the reader (see tests/fuzz/README.md).
"""

import json
import os
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import quants

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
FIX = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "gguf")
CORPUS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fuzz", "corpus", "gguf")


def write_safetensors(path, tensors):
    """tensors: list of (name, float32 array); F32 little-endian, header padded to 8."""
    header, off, blobs = {}, 0, []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def quantize(x, qtype):
    """(raw array to store, its element shape, raw_dtype) for GGUFWriter.add_tensor."""
    if qtype == Q.F32:
        return x.astype(np.float32), None, None
    if qtype == Q.F16:
        return x.astype(np.float16), None, None
    return quants.quantize(x.astype(np.float32), qtype), None, qtype  # byte shape: the writer derives ne


def random_blocks(rng, shape, qtype):
    """Random raw blocks (uint8, byte shape) whose f16 scales (d, and m for Q4_1) are finite."""
    blk, size = gguf.GGML_QUANT_SIZES[qtype]
    nblk = int(np.prod(shape)) // blk
    raw = rng.integers(0, 256, size=(nblk, size), dtype=np.uint8)
    nscale = 2 if qtype == Q.Q4_1 else 1
    for k in range(nscale):
        s = (rng.standard_normal(nblk) * 10.0 ** rng.integers(-7, 3, nblk)).astype(np.float16)
        s[np.isinf(s)] = 1.0
        raw[:, 2 * k:2 * k + 2] = s.view(np.uint8).reshape(nblk, 2)
    return raw.reshape(*shape[:-1], shape[-1] // blk * size)


def stored_f32(raw, qtype):
    """What a reader must produce for a stored tensor: gguf-py's dequantization."""
    if qtype in (None, Q.F32):
        return np.asarray(raw, dtype=np.float32)
    if qtype == Q.F16:
        return np.asarray(raw).astype(np.float32)
    return quants.dequantize(raw, qtype)


def make_quants(rng):
    w = gguf.GGUFWriter(os.path.join(FIX, "quants.gguf"), "test")
    w.add_string("general.name", "pst dequantization fixture")
    expected = []

    def add(name, x, qtype):
        raw, shape, rd = quantize(x, qtype)
        w.add_tensor(name, raw, raw_shape=shape, raw_dtype=rd)
        expected.append((name, stored_f32(raw, rd if rd is not None else qtype).reshape(x.shape)))

    def add_raw(name, shape, qtype):
        raw = random_blocks(rng, shape, qtype)
        w.add_tensor(name, raw, raw_dtype=qtype)
        expected.append((name, quants.dequantize(raw, qtype).reshape(shape)))

    x = rng.standard_normal((3, 64)).astype(np.float32)
    add("f32", x, Q.F32)
    h = (rng.standard_normal((2, 3, 32)) * 4).astype(np.float32)
    h.flat[:8] = [0.0, -0.0, 6e-8, -3e-5, 65504.0, np.inf, -np.inf, 1e-7]  # subnormals, +-0, +-inf
    add("f16", h, Q.F16)
    add("bf16", (rng.standard_normal((4, 16)) * 1e3).astype(np.float32), Q.BF16)
    add("bf16_1d", rng.standard_normal(40).astype(np.float32), Q.BF16)
    for qt, nm in ((Q.Q8_0, "q8_0"), (Q.Q4_0, "q4_0"), (Q.Q4_1, "q4_1")):
        add(nm, (rng.standard_normal((5, 96)) * 0.05).astype(np.float32), qt)
        add(nm + "_3d", rng.standard_normal((2, 2, 64)).astype(np.float32), qt)
        add_raw(nm + "_raw", (4, 128), qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_safetensors(os.path.join(FIX, "quants_expected.safetensors"), expected)


def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute (n_head: heads of this tensor): rows of each
    head go from [first half | second half] to interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    """The inverse of permute: what pst loads."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def add_tokenizer(w, vocab):
    toks = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [chr(ord("a") + i % 26) * (1 + i // 26)
                                                              for i in range(vocab - 3)]
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "smollm")
    w.add_array("tokenizer.ggml.tokens", toks)
    w.add_key_value("tokenizer.ggml.token_type", [3, 3, 3] + [1] * (vocab - 3), gguf.GGUFValueType.ARRAY,
                    sub_type=gguf.GGUFValueType.INT32)
    w.add_array("tokenizer.ggml.merges", ["a a", "b b", "aa a"])
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_uint32("tokenizer.ggml.padding_token_id", 2)
    w.add_bool("tokenizer.ggml.add_bos_token", False)


def make_llama(rng):
    C, NH, KV, HD, F, V, L = 32, 4, 2, 8, 64, 64, 2
    w = gguf.GGUFWriter(os.path.join(FIX, "llama-tiny.gguf"), "llama")
    w.add_string("general.name", "pst tiny llama")
    w.add_block_count(L)
    w.add_context_length(256)
    w.add_embedding_length(C)
    w.add_feed_forward_length(F)
    w.add_head_count(NH)
    w.add_head_count_kv(KV)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HD)
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(2.0)
    w.add_vocab_size(V)
    add_tokenizer(w, V)
    expected = []

    def add(name, x, qtype):
        raw, shape, rd = quantize(x, qtype)
        w.add_tensor(name, raw, raw_shape=shape, raw_dtype=rd)
        return stored_f32(raw, rd if rd is not None else qtype).reshape(x.shape)

    g = lambda *s: (rng.standard_normal(s) * 0.1).astype(np.float32)  # noqa: E731
    add("token_embd.weight", g(V, C), Q.Q8_0)
    types = [(Q.Q4_1, Q.Q4_0, Q.F16, Q.BF16), (Q.F16, Q.BF16, Q.Q8_0, Q.Q4_1)]
    for l in range(L):
        tq, tk, tv, to = types[l]
        add(f"blk.{l}.attn_norm.weight", 1 + g(C), Q.F32)
        # Hugging Face tensors, stored permuted as the converter does
        q, k, qb, kb = g(NH * HD, C), g(KV * HD, C), g(NH * HD), g(KV * HD)
        sq = add(f"blk.{l}.attn_q.weight", permute(q, NH), tq)
        sk = add(f"blk.{l}.attn_k.weight", permute(k, KV), tk)
        sqb = add(f"blk.{l}.attn_q.bias", permute(qb, NH), Q.F32)
        skb = add(f"blk.{l}.attn_k.bias", permute(kb, KV), Q.F32)
        expected += [(f"blk.{l}.q.w", unpermute(sq, NH)), (f"blk.{l}.k.w", unpermute(sk, KV)),
                     (f"blk.{l}.q.b", unpermute(sqb, NH)), (f"blk.{l}.k.b", unpermute(skb, KV))]
        add(f"blk.{l}.attn_v.weight", g(KV * HD, C), tv)
        add(f"blk.{l}.attn_v.bias", g(KV * HD), Q.F32)
        add(f"blk.{l}.attn_output.weight", g(C, NH * HD), to)
        add(f"blk.{l}.attn_output.bias", g(C), Q.F32)
        add(f"blk.{l}.ffn_norm.weight", 1 + g(C), Q.F32)
        add(f"blk.{l}.ffn_gate.weight", g(F, C), Q.Q4_1)
        add(f"blk.{l}.ffn_up.weight", g(F, C), Q.Q4_0)
        add(f"blk.{l}.ffn_down.weight", g(C, F), Q.Q4_1)
    add("output_norm.weight", 1 + g(C), Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_safetensors(os.path.join(FIX, "llama-tiny_expected.safetensors"), expected)


def make_qwen2(rng):
    C, NH, KV, HD, F, V = 32, 4, 2, 8, 64, 64
    w = gguf.GGUFWriter(os.path.join(FIX, "qwen2-tiny.gguf"), "qwen2")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_embedding_length(C)
    w.add_feed_forward_length(F)
    w.add_head_count(NH)
    w.add_head_count_kv(KV)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    add_tokenizer(w, V)
    g = lambda *s: (rng.standard_normal(s) * 0.1).astype(np.float32)  # noqa: E731

    def add(name, x, qtype):
        raw, shape, rd = quantize(x, qtype)
        w.add_tensor(name, raw, raw_shape=shape, raw_dtype=rd)

    add("token_embd.weight", g(V, C), Q.Q8_0)
    add("output.weight", g(V, C), Q.Q8_0)
    add("output_norm.weight", 1 + g(C), Q.F32)
    add("blk.0.attn_norm.weight", 1 + g(C), Q.F32)
    add("blk.0.ffn_norm.weight", 1 + g(C), Q.F32)
    for nm, rows in (("q", NH * HD), ("k", KV * HD), ("v", KV * HD)):
        add(f"blk.0.attn_{nm}.weight", g(rows, C), Q.Q8_0)
        add(f"blk.0.attn_{nm}.bias", g(rows), Q.F32)
    add("blk.0.attn_output.weight", g(C, NH * HD), Q.Q8_0)
    add("blk.0.ffn_gate.weight", g(F, C), Q.Q8_0)
    add("blk.0.ffn_up.weight", g(F, C), Q.Q8_0)
    add("blk.0.ffn_down.weight", g(C, F), Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- seed corpus: a raw writer, so that broken files can be written too ----------------

def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def u32kv(key, v):
    return kv(key, 4, struct.pack("<I", v))


def tinfo(name, ne, ggml_type, off):
    return s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + \
        struct.pack("<IQ", ggml_type, off)


def gguf_file(kvs, tis, data=b"", version=3, align=32, nt=None, nkv=None):
    head = b"GGUF" + struct.pack("<IQQ", version, len(tis) if nt is None else nt, len(kvs) if nkv is None else nkv)
    body = head + b"".join(kvs) + b"".join(tis)
    body += b"\0" * ((align - len(body) % align) % align)
    return body + data


def llama_kvs(arch="llama"):
    return [kv("general.architecture", 8, s(arch)), u32kv(arch + ".block_count", 1),
            u32kv(arch + ".context_length", 64), u32kv(arch + ".embedding_length", 32),
            u32kv(arch + ".feed_forward_length", 32), u32kv(arch + ".attention.head_count", 2),
            u32kv(arch + ".attention.head_count_kv", 1),
            kv(arch + ".attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5))]


def make_corpus():
    os.makedirs(CORPUS, exist_ok=True)
    for f in os.listdir(CORPUS):
        os.remove(os.path.join(CORPUS, f))

    def put(name, b):
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(b)

    f32 = np.arange(32 * 2, dtype="<f4").tobytes()  # one [2, 32] F32 tensor
    q8 = (struct.pack("<e", 0.5) + bytes(range(32))) * 2  # [2, 32] Q8_0: two blocks
    # every value type, nested array, two tensors (F32 and Q8_0)
    every = [kv("t.u8", 0, b"\x07"), kv("t.i8", 1, b"\xfe"), kv("t.u16", 2, struct.pack("<H", 65535)),
             kv("t.i16", 3, struct.pack("<h", -2)), kv("t.i32", 5, struct.pack("<i", -7)),
             kv("t.f32", 6, struct.pack("<f", 0.25)), kv("t.bool", 7, b"\x01"), kv("t.str", 8, s("héllo")),
             kv("t.u64", 10, struct.pack("<Q", 2**40)), kv("t.i64", 11, struct.pack("<q", -2**40)),
             kv("t.f64", 12, struct.pack("<d", 1.5)),
             kv("t.arr_i32", 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, -2, 3)),
             kv("t.arr_f32", 9, struct.pack("<IQ", 6, 2) + struct.pack("<2f", 0.5, -1)),
             kv("t.arr_str", 9, struct.pack("<IQ", 8, 2) + s("a b") + s("")),
             kv("t.nested", 9, struct.pack("<IQ", 9, 2) + struct.pack("<IQ", 0, 2) + b"\x01\x02" +
                struct.pack("<IQ", 8, 1) + s("x"))]
    tis = [tinfo("token_embd.weight", [32, 2], 0, 0), tinfo("blk.0.attn_q.weight", [32, 2], 8, 256)]
    data = f32 + b"\0" * (256 - len(f32)) + q8
    put("valid_every_type.gguf", gguf_file(llama_kvs() + every, tis, data))
    put("valid_v2_empty.gguf", gguf_file([], [], version=2))
    put("valid_align64.gguf", gguf_file([u32kv("general.alignment", 64)], [tinfo("x", [32, 2], 0, 0)], f32, align=64))
    put("valid_unsupported_q6k.gguf", gguf_file([], [tinfo("w", [256], 14, 0)], b"\x11" * 210))
    put("valid_f16_bf16.gguf", gguf_file([], [tinfo("h", [4], 1, 0), tinfo("b", [4], 30, 32)],
                                         struct.pack("<4H", 0x3c00, 0x0001, 0x7c00, 0xfe00) + b"\0" * 24 +
                                         struct.pack("<4H", 0x3f80, 0xff80, 0x7fc1, 0x0001)))
    put("valid_qwen2.gguf", gguf_file(llama_kvs("qwen2"), [tinfo("token_embd.weight", [32, 2], 0, 0)], f32))
    put("bad_magic", b"GGML" + b"\0" * 40)
    put("bad_truncated_header", b"GGUF\x03\0\0\0\0\0")
    put("bad_version1.gguf", gguf_file([], [], version=1))
    put("bad_bigendian.gguf", b"GGUF" + struct.pack(">IQQ", 3, 0, 0))
    put("bad_kv_count.gguf", gguf_file([], [], nkv=2**62))
    put("bad_tensor_count.gguf", gguf_file([], [], nt=10**9))
    put("bad_string_len.gguf", gguf_file([s("k")[:0] + struct.pack("<Q", 2**63) + b"abc"], [], nkv=1))
    put("bad_array_count.gguf", gguf_file([kv("a", 9, struct.pack("<IQ", 4, 2**60))], []))
    put("bad_value_type.gguf", gguf_file([kv("a", 13, b"\0\0\0\0")], []))
    put("bad_bool.gguf", gguf_file([kv("a", 7, b"\x02")], []))
    put("bad_duplicate_key.gguf", gguf_file([u32kv("a", 1), u32kv("a", 2)], []))
    put("bad_duplicate_tensor.gguf", gguf_file([], [tinfo("x", [32], 0, 0), tinfo("x", [32], 0, 128)], f32 * 4))
    put("bad_align_type.gguf", gguf_file([kv("general.alignment", 8, s("32"))], []))
    put("bad_align_pow2.gguf", gguf_file([u32kv("general.alignment", 48)], []))
    put("bad_tensor_type.gguf", gguf_file([], [tinfo("x", [32], 4, 0)], f32))
    put("bad_block_divisible.gguf", gguf_file([], [tinfo("x", [33], 8, 0)], q8 * 2))
    put("bad_zero_dim.gguf", gguf_file([], [tinfo("x", [32, 0], 0, 0)], f32))
    put("bad_ndim.gguf", gguf_file([], [tinfo("x", [1, 1, 1, 1, 1], 0, 0)], f32))
    put("bad_shape_overflow.gguf", gguf_file([], [tinfo("x", [2**40, 2**40], 0, 0)], f32))
    put("bad_data_outside.gguf", gguf_file([], [tinfo("x", [32, 2], 0, 32)], f32))
    put("bad_misaligned.gguf", gguf_file([], [tinfo("x", [8], 0, 4)], f32))
    put("bad_overlap.gguf", gguf_file([], [tinfo("x", [32, 2], 0, 0), tinfo("y", [32], 0, 128)], f32))
    put("bad_name_long.gguf", gguf_file([], [tinfo("n" * 64, [8], 0, 0)], f32))
    put("bad_nesting_deep.gguf", gguf_file([kv("a", 9, struct.pack("<IQ", 9, 1) * 4 + struct.pack("<IQ", 0, 0))], []))
    put("bad_truncated_data.gguf", gguf_file(llama_kvs(), tis, data)[:-10])


def main():
    os.makedirs(FIX, exist_ok=True)
    rng = np.random.default_rng(20240601)
    make_quants(rng)
    make_llama(rng)
    make_qwen2(rng)
    make_corpus()
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (FIX, CORPUS) for f in os.listdir(d))
    print("make_gguf_fixtures: wrote %s and %s (%d bytes)" % (FIX, CORPUS, total))


if __name__ == "__main__":
    main()
