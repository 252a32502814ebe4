"""PyTorch reference model code for pst (PST, Li et al. IJCAI 2022).

Shared by tests/reference/make_fixtures.py (parity fixtures for the C engine) and
bench/ref_step.py (the PyTorch side of the training-step benchmark).

Run with Debian's torch: /usr/bin/python3 (torch 1.13.x). float32 throughout unless a
caller converts the tensors (the self-check in make_fixtures.py runs in float64).

Everything the C side must reproduce exactly is written out in the comments below; the
numbered "CONTRACT" notes are the decisions the C engine has to match.

Tensor names (internal; every Linear weight is [out, in]):
  emb.tok [V,H], emb.pos [P,H], (bert) emb.type [2,H], emb.ln.w/.b [H]
  blk.{i}.{q,k,v,o,fc1,fc2}.w / .b   q,k,v,o: [H,H]; fc1: [F,H]; fc2: [H,F]
  blk.{i}.ln1.w/.b, blk.{i}.ln2.w/.b [H]
  bert: pool.w [H,H], pool.b [H], cls.w [num_labels,H], cls.b [num_labels]
  gpt2: lnf.w/.b [H]; logits use emb.tok (tied, frozen)
  trainable per block linear (method dependent), "blk.{i}.{lin}.<X>":
    pst: U [m,r2], V [r2,n], A [m,r1], B [r1,n], R [m], C [n]
    magnitude / lora: U, V;  movement: U, V, S [m,n]
  full fine-tuning methods (dense, magnitude-full, movement-full): every tensor of the model
    (embeddings, norms, biases, block weights "w"; the bert head unless train_head is false),
    movement-full also S [m,n]; magnitude-full / movement-full mask "w" by TopK(|w| detached)
    / TopK(S) (straight-through into S; the mask passes no gradient to w)
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

LINEARS = ("q", "k", "v", "o", "fc1", "fc2")
LLAMA_LINEARS = ("q", "k", "v", "o", "gate", "up", "down")


def linears(cfg):
    """The sparsified linears of one block of cfg's architecture."""
    return LLAMA_LINEARS if cfg.arch == "llama" else LINEARS


# forward of architectures whose reference lives elsewhere: arch -> f(cfg, P, batch, s, mask_fn,
# trace) -> (logits, loss). make_llama_fixtures.py registers "llama" (transformers' model).
FORWARDS = {}
METHODS = ("pst", "magnitude", "movement", "lora", "dense", "magnitude-full", "movement-full")
MASKED_METHODS = ("pst", "magnitude", "movement", "magnitude-full", "movement-full")
FULL_METHODS = ("dense", "magnitude-full", "movement-full")

# Trainable tensor suffixes per method, in the canonical order (see CONTRACT 9).
METHOD_TENSORS = {
    "pst": ("U", "V", "A", "B", "R", "C"),
    "magnitude": ("U", "V"),
    "movement": ("U", "V", "S"),
    "lora": ("U", "V"),
    "dense": ("w",),
    "magnitude-full": ("w",),
    "movement-full": ("w", "S"),
}

HEAD_TENSORS = ("pool.w", "pool.b", "cls.w", "cls.b")

SHAPES = {
    # name: (arch, H, L, NH, F, V, P)
    "bert-tiny": ("bert", 64, 2, 4, 128, 1000, 512),
    "bert-base": ("bert", 768, 12, 12, 3072, 30522, 512),
    "gpt2-small": ("gpt2", 768, 12, 12, 3072, 50257, 1024),
    "smollm2": ("llama", 576, 30, 9, 1536, 49152, 8192),  # SmolLM2-135M
}
# further Config fields of a shape (llama: key/value heads, rotary base, RMSNorm eps)
SHAPE_EXTRA = {"smollm2": dict(kv_heads=3, rope_theta=100000.0)}


class Config:
    """Plain attribute bag; defaults are the fixture defaults."""

    def __init__(self, **kw):
        self.arch = "bert"
        self.hidden = 64
        self.layers = 2
        self.heads = 4
        self.ffn = 128
        self.vocab = 100
        self.max_positions = 32
        self.type_vocab = 2
        self.num_labels = 3
        self.train_head = True
        self.detach_magnitude = False  # S uses |W'| without a gradient into U V (pst.detach_magnitude)
        self.method = "pst"
        self.r1 = 8
        self.r2 = 8
        self.alpha1 = 1.0
        self.alpha2 = 1.0
        self.beta = 1.0
        self.sparsity_init = 0.0
        self.sparsity_final = 0.5
        self.lr = 5e-3
        self.weight_decay = 0.01
        self.warmup_steps = 0
        self.max_grad_norm = 1.0
        self.label_smoothing = 0.0
        self.adam_eps = 1e-6  # RoBERTa's fine-tuning value; see make_fixtures.py for why not 1e-8
        self.warm = False     # V, B, R, C start nonzero (every gradient path live at step 0)
        self.steps = 5
        self.batch_size = 4
        self.seq_len = 16
        self.task = "classify"
        # llama only: grouped-query heads, rotary base and scaling, biases, head tying
        self.kv_heads = 0
        self.rope_theta = 10000.0
        self.rope_scaling = "none"
        self.rope_factor = 1.0
        self.rope_low_freq_factor = 1.0
        self.rope_high_freq_factor = 4.0
        self.rope_original_max_positions = 8192
        self.qkv_bias = False
        self.tie_embeddings = True
        self.hf_class = "llama"  # the transformers class of the reference: llama | qwen2
        for k, v in kw.items():
            if not hasattr(self, k):
                raise KeyError(k)
            setattr(self, k, v)
        if self.arch in ("gpt2", "llama"):
            self.train_head = False  # no head in GPT-2 (LM head is the tied emb.tok)
        assert self.method in METHODS, self.method

    @property
    def ln_eps(self):
        return {"bert": 1e-12, "gpt2": 1e-05, "llama": 1e-06}[self.arch]

    @property
    def activation(self):
        return {"bert": "gelu_erf", "gpt2": "gelu_tanh", "llama": "silu"}[self.arch]


def linear_shape(cfg, lin):
    H, Fd = cfg.hidden, cfg.ffn
    if cfg.arch == "llama":
        K = (cfg.kv_heads or cfg.heads) * (H // cfg.heads)
        return {"q": (H, H), "k": (K, H), "v": (K, H), "o": (H, H), "gate": (Fd, H), "up": (Fd, H),
                "down": (H, Fd)}[lin]
    return {"q": (H, H), "k": (H, H), "v": (H, H), "o": (H, H), "fc1": (Fd, H), "fc2": (H, Fd)}[lin]


# ----------------------------------------------------------------------------------------
# initialisation
# ----------------------------------------------------------------------------------------

def init_frozen(cfg, gen):
    """All model tensors at their 'pretrained' values (float32).

    Linear / embedding weights N(0, 0.02); linear biases N(0, 0.02);
    LayerNorm w = 1 + N(0, 0.1), LayerNorm b = N(0, 0.1) (so every tensor matters).
    """
    H, V, P = cfg.hidden, cfg.vocab, cfg.max_positions

    def n(shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    def ln(prefix, out):
        out[prefix + ".w"] = 1.0 + n((H,), 0.1)
        out[prefix + ".b"] = n((H,), 0.1)

    t = {}
    t["emb.tok"] = n((V, H), 0.02)
    if cfg.arch == "llama":  # RMSNorm weights only, biases where configured, own head if untied
        for i in range(cfg.layers):
            for lin in LLAMA_LINEARS:
                m, k = linear_shape(cfg, lin)
                t["blk.%d.%s.w" % (i, lin)] = n((m, k), 0.02)
                if cfg.qkv_bias and lin in ("q", "k", "v"):
                    t["blk.%d.%s.b" % (i, lin)] = n((m,), 0.02)
            t["blk.%d.ln1.w" % i] = 1.0 + n((H,), 0.1)
            t["blk.%d.ln2.w" % i] = 1.0 + n((H,), 0.1)
        t["lnf.w"] = 1.0 + n((H,), 0.1)
        if not cfg.tie_embeddings:
            t["head.w"] = n((V, H), 0.02)
        return t
    t["emb.pos"] = n((P, H), 0.02)
    if cfg.arch == "bert":
        t["emb.type"] = n((cfg.type_vocab, H), 0.02)
        ln("emb.ln", t)
    for i in range(cfg.layers):
        for lin in LINEARS:
            m, k = linear_shape(cfg, lin)
            t["blk.%d.%s.w" % (i, lin)] = n((m, k), 0.02)
            t["blk.%d.%s.b" % (i, lin)] = n((m,), 0.02)
        ln("blk.%d.ln1" % i, t)
        ln("blk.%d.ln2" % i, t)
    if cfg.arch == "bert":
        t["pool.w"] = n((H, H), 0.02)
        t["pool.b"] = n((H,), 0.02)
        t["cls.w"] = n((cfg.num_labels, H), 0.02)
        t["cls.b"] = n((cfg.num_labels,), 0.02)
    else:
        ln("lnf", t)
    return t


def trainable_names(cfg, frozen=None):
    """Trainable tensor names in the canonical order (CONTRACT 9)."""
    if cfg.method in FULL_METHODS:  # every tensor of the model, the scores, then the head
        names = [k for k in frozen if k not in HEAD_TENSORS]
        if cfg.method == "movement-full":
            names += ["blk.%d.%s.S" % (i, lin) for i in range(cfg.layers) for lin in linears(cfg)]
    else:
        names = []
        for i in range(cfg.layers):
            for lin in linears(cfg):
                for x in METHOD_TENSORS[cfg.method]:
                    names.append("blk.%d.%s.%s" % (i, lin, x))
    if cfg.arch == "bert" and cfg.train_head:
        names.extend(HEAD_TENSORS)
    return names


def init_trainable(cfg, frozen, gen):
    """Initial trainable tensors (float32).

    pst: U ~ N(0,1) [m,r2], V = 0 [r2,n], A ~ N(0,1) [m,r1], B = 0 [r1,n], R = 0 [m], C = 0 [n]
    (cfg.warm: V, B, R, C ~ N(0, 0.01) instead, drawn in the same order)
    magnitude / lora: U, V as above; movement: U, V as above and S ~ N(0, 0.02) [m,n]
    dense: w = W0 (copy).  Head tensors: copies of the frozen values.
    Draw order: per block, per linear, in METHOD_TENSORS order (only the random ones draw).
    """
    out = {}
    for name in trainable_names(cfg, frozen):
        if name in frozen:
            out[name] = frozen[name].clone()
            continue
        i, lin, x = name.split(".")[1:]
        m, k = linear_shape(cfg, lin)
        if x == "U":
            out[name] = torch.randn(m, cfg.r2, generator=gen, dtype=torch.float32)
        elif x == "V" and cfg.warm:
            out[name] = torch.randn(cfg.r2, k, generator=gen, dtype=torch.float32) * 0.01
        elif x == "V":
            out[name] = torch.zeros(cfg.r2, k, dtype=torch.float32)
        elif x == "A":
            out[name] = torch.randn(m, cfg.r1, generator=gen, dtype=torch.float32)
        elif x == "B" and cfg.warm:
            out[name] = torch.randn(cfg.r1, k, generator=gen, dtype=torch.float32) * 0.01
        elif x == "B":
            out[name] = torch.zeros(cfg.r1, k, dtype=torch.float32)
        elif x == "R":
            out[name] = (torch.randn(m, generator=gen, dtype=torch.float32) * 0.01 if cfg.warm
                         else torch.zeros(m, dtype=torch.float32))
        elif x == "C":
            out[name] = (torch.randn(k, generator=gen, dtype=torch.float32) * 0.01 if cfg.warm
                         else torch.zeros(k, dtype=torch.float32))
        elif x == "S":
            out[name] = torch.randn(m, k, generator=gen, dtype=torch.float32) * 0.02
        else:
            raise KeyError(name)
    return out


# ----------------------------------------------------------------------------------------
# sparsity: exact top-k and the cubic schedule
# ----------------------------------------------------------------------------------------

def keep_count(numel, s):
    """CONTRACT 1: keep = numel - floor(numel * s), numel * s in double (Python float)."""
    s = float(s)
    assert 0.0 <= s <= 1.0, s
    return int(numel - math.floor(numel * s))


def topk_mask(S, keep):
    """Float 0/1 mask with exactly `keep` ones at the `keep` largest entries of S.

    CONTRACT 2: the order is (score descending, flat row-major index ascending):
    torch.sort(stable=True, descending=True) keeps equal scores in index order, so taking
    the first `keep` sorted indices is exactly that order. Comparison is IEEE `<`, so
    -0.0 == +0.0 (a C radix key must map -0.0 to the key of +0.0). NaN is rejected.
    """
    flat = S.detach().reshape(-1)
    if torch.isnan(flat).any():
        raise ValueError("NaN in importance scores")
    numel = flat.numel()
    if keep >= numel:
        return torch.ones_like(S)
    mask = torch.zeros_like(flat)
    if keep > 0:
        idx = torch.sort(flat, descending=True, stable=True).indices[:keep]
        mask[idx] = 1.0
    return mask.view_as(S)


def official_mask(S, keep):
    """The official code's SparseBinarizer (alibaba/AliceMind S4/PST/pst/sparse.py): unstable
    ascending argsort, the numel - keep lowest set to 0. Same mask as topk_mask() when there
    are no ties at the threshold; used only by the benchmark (timing fidelity)."""
    flat = S.detach().reshape(-1)
    mask = torch.ones_like(flat)
    prune = flat.numel() - keep
    if prune > 0:
        mask[torch.argsort(flat)[:prune]] = 0.0
    return mask.view_as(S)


# "exact": topk_mask (fixtures, the C contract); "official": official_mask (bench only)
TOPK_MODE = "exact"


class TopK(torch.autograd.Function):
    """M = TopK(S); straight-through backward: dS = dM (unchanged)."""

    @staticmethod
    def forward(ctx, S, keep):
        if TOPK_MODE == "official":
            return official_mask(S, keep)
        return topk_mask(S, keep)

    @staticmethod
    def backward(ctx, g):
        return g, None


def sparsity_at(t, T, s_i, s_f, w_i=0.1, w_f=0.3):
    """CONTRACT 3: cubic schedule, evaluated in double exactly in this order.

    t = completed optimizer steps, T = total steps. `** 3` is C pow(x, 3.0).
    """
    if t <= w_i * T:
        return s_i
    if t > T - w_f * T:
        return s_f
    return s_f + (s_i - s_f) * (1 - (t - w_i * T) / (T - (w_i + w_f) * T)) ** 3


def lr_lambda_factory(warmup, T):
    """CONTRACT 4: lr(t) = lr * lambda(t), t = completed optimizer steps (0-based step index)."""

    def lam(t):
        if t < warmup:
            return t / warmup
        return max(0.0, (T - t) / (T - warmup))

    return lam


# ----------------------------------------------------------------------------------------
# sparse linear layers
# ----------------------------------------------------------------------------------------

def importance(cfg, prefix, P, Wp):
    """Importance score S of one block linear (methods with a mask), given W'.

    CONTRACT 5 (pst): S = ((|W'| + alpha1 * (A @ B)) + alpha2 * (R[:,None] + C[None,:]))
    """
    if cfg.detach_magnitude:
        Wp = Wp.detach()
    if cfg.method == "pst":
        low = P[prefix + ".A"] @ P[prefix + ".B"]
        rc = P[prefix + ".R"][:, None] + P[prefix + ".C"][None, :]
        return (Wp.abs() + cfg.alpha1 * low) + cfg.alpha2 * rc
    if cfg.method == "magnitude":
        return Wp.abs()
    if cfg.method == "magnitude-full":  # magnitude pruning: no gradient through the mask
        return Wp.detach().abs()
    if cfg.method in ("movement", "movement-full"):
        return P[prefix + ".S"]
    raise ValueError(cfg.method)


def wprime(cfg, prefix, P):
    """W' = W0 + beta * (U @ V); the full fine-tuning methods train w itself: W' = w."""
    if cfg.method in FULL_METHODS:
        return P[prefix + ".w"]
    return P[prefix + ".w"] + cfg.beta * (P[prefix + ".U"] @ P[prefix + ".V"])


def effective_weight(cfg, prefix, P, s, mask_fn=None, trace=None):
    """Returns the weight used in y = x @ Weff^T + b for block linear `prefix`.

    W' = W0 + beta * (U @ V) (pst, magnitude, movement, lora); dense: W' = w.
    Masked methods: Weff = W' * M with M = TopK(S, keep(numel, s)).
    """
    if cfg.method == "dense":
        return P[prefix + ".w"]
    Wp = wprime(cfg, prefix, P)
    if cfg.method == "lora":
        if trace is not None:
            trace[prefix] = {"Wp": Wp}
        return Wp
    S = importance(cfg, prefix, P, Wp)
    keep = keep_count(S.numel(), s)
    M = TopK.apply(S, keep) if mask_fn is None else mask_fn(prefix, S, keep)
    Weff = Wp * M
    if trace is not None:
        trace[prefix] = {"Wp": Wp, "S": S, "M": M, "Weff": Weff}
    return Weff


# ----------------------------------------------------------------------------------------
# model forward
# ----------------------------------------------------------------------------------------

def gelu(cfg, x):
    if cfg.activation == "gelu_erf":
        return F.gelu(x)  # 0.5 x (1 + erf(x / sqrt 2))
    return F.gelu(x, approximate="tanh")  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))


def attention(cfg, q, k, v, attn_mask):
    """q, k, v [B,T,H]; attn_mask bool [B,1,T,T] (True = may attend). Returns ctx [B,T,H].

    head h = columns [h*hs, (h+1)*hs); scores = (q_h @ k_h^T) * (1/sqrt(hs));
    masked scores set to -inf before softmax (masked probs exactly 0).
    """
    B, T, H = q.shape
    nh = cfg.heads
    hs = H // nh
    q = q.view(B, T, nh, hs).transpose(1, 2)
    k = k.view(B, T, nh, hs).transpose(1, 2)
    v = v.view(B, T, nh, hs).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs))
    scores = scores.masked_fill(~attn_mask, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    ctx = p @ v
    return ctx.transpose(1, 2).reshape(B, T, H)


def build_attn_mask(cfg, attention_mask):
    am = attention_mask.bool()  # [B,T]
    B, T = am.shape
    m = am[:, None, None, :].expand(B, 1, T, T)
    if cfg.arch == "gpt2":
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        m = m & causal[None, None]
    # no fully masked row allowed (softmax of all -inf would be NaN)
    assert m.any(dim=-1).all(), "fully masked attention row"
    return m


def forward(cfg, P, batch, s, mask_fn=None, trace=None):
    """Returns (logits, loss). P: name -> tensor (frozen and trainable merged)."""
    if cfg.arch in FORWARDS:
        return FORWARDS[cfg.arch](cfg, P, batch, s, mask_fn, trace)
    ids = batch["batch.input_ids"].long()
    B, T = ids.shape
    eps = cfg.ln_eps
    H = cfg.hidden
    attn_mask = build_attn_mask(cfg, batch["batch.attention_mask"])

    def lin(x, prefix):
        W = effective_weight(cfg, prefix, P, s, mask_fn, trace)
        return F.linear(x, W, P[prefix + ".b"])

    def ln(x, prefix):
        return F.layer_norm(x, (H,), P[prefix + ".w"], P[prefix + ".b"], eps)

    pos = P["emb.pos"][:T][None]
    if cfg.arch == "bert":
        tt = batch["batch.token_type_ids"].long()
        x = (P["emb.tok"][ids] + pos) + P["emb.type"][tt]
        x = ln(x, "emb.ln")
        for i in range(cfg.layers):
            b = "blk.%d." % i
            a = attention(cfg, lin(x, b + "q"), lin(x, b + "k"), lin(x, b + "v"), attn_mask)
            a = lin(a, b + "o")
            x = ln(x + a, b + "ln1")
            f = lin(gelu(cfg, lin(x, b + "fc1")), b + "fc2")
            x = ln(x + f, b + "ln2")
        pooled = torch.tanh(F.linear(x[:, 0], P["pool.w"], P["pool.b"]))
        logits = F.linear(pooled, P["cls.w"], P["cls.b"])
        if cfg.num_labels > 1:
            loss = F.cross_entropy(logits, batch["batch.labels"].long(),
                                   label_smoothing=cfg.label_smoothing)
        else:
            d = logits[:, 0] - batch["batch.labels_f"]
            loss = (d * d).mean()
        return logits, loss

    x = P["emb.tok"][ids] + pos
    for i in range(cfg.layers):
        b = "blk.%d." % i
        h = ln(x, b + "ln1")
        a = attention(cfg, lin(h, b + "q"), lin(h, b + "k"), lin(h, b + "v"), attn_mask)
        x = x + lin(a, b + "o")
        h = ln(x, b + "ln2")
        x = x + lin(gelu(cfg, lin(h, b + "fc1")), b + "fc2")
    x = ln(x, "lnf")
    logits = x @ P["emb.tok"].t()  # [B,T,V]
    V = logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, V), batch["batch.targets"].reshape(-1).long(),
                         reduction="none", label_smoothing=cfg.label_smoothing).view(B, T)
    lm = batch["batch.loss_mask"]
    loss = (lm * ce).sum() / lm.sum()
    return logits, loss


def final_masks(cfg, P, s):
    """Masks and scores at sparsity s from the tensors in P (no grad)."""
    out = {}
    if cfg.method not in MASKED_METHODS:
        return out
    with torch.no_grad():
        for i in range(cfg.layers):
            for lin in linears(cfg):
                prefix = "blk.%d.%s" % (i, lin)
                S = importance(cfg, prefix, P, wprime(cfg, prefix, P))
                out[prefix] = (topk_mask(S, keep_count(S.numel(), s)), S)
    return out


# ----------------------------------------------------------------------------------------
# optimizer and training
# ----------------------------------------------------------------------------------------

def make_optimizer(cfg, trainables):
    """CONTRACT 6: AdamW(lr, betas (0.9, 0.999), eps cfg.adam_eps); weight decay wd on tensors with
    ndim >= 2, 0 on ndim 1. LambdaLR with lr_lambda_factory(warmup, steps)."""
    decay = [p for p in trainables if p.ndim >= 2]
    no_decay = [p for p in trainables if p.ndim < 2]
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": cfg.weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=cfg.adam_eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda_factory(cfg.warmup_steps, cfg.steps))
    return opt, sched


def build_params(frozen, trainable):
    """Merged name -> tensor dict; trainables become leaf tensors with requires_grad."""
    P = dict(frozen)
    leaves = []
    for name, t in trainable.items():
        leaf = t.clone().requires_grad_(True)
        P[name] = leaf
        leaves.append((name, leaf))
    return P, leaves


def train_step(cfg, P, leaves, opt, sched, batch, s, record=None):
    """One optimizer step: forward at sparsity s, backward, clip, AdamW, LR schedule.

    CONTRACT 7: clip_grad_norm_: total = ||(||g_1||, ..., ||g_n||)||_2 over all trainables,
    coef = max_norm / (total + 1e-6) (float32), grads *= min(coef, 1.0). Skipped if
    max_grad_norm <= 0.
    """
    opt.zero_grad(set_to_none=True)
    logits, loss = forward(cfg, P, batch, s)
    loss.backward()
    if record is not None:
        record["logits"] = logits.detach().clone()
        record["loss"] = loss.detach().clone().reshape(1)
        for name, p in leaves:
            record["grad." + name] = p.grad.detach().clone()
    total = None
    if cfg.max_grad_norm > 0:
        total = torch.nn.utils.clip_grad_norm_([p for _, p in leaves], cfg.max_grad_norm)
    opt.step()
    sched.step()
    return loss.detach(), total


# ----------------------------------------------------------------------------------------
# safetensors (F32 / I32 / F64 only), written and read without the safetensors package
# ----------------------------------------------------------------------------------------

_DT = {torch.float32: ("F32", "<f4"), torch.int32: ("I32", "<i4"), torch.float64: ("F64", "<f8")}
_DT_REV = {"F32": "<f4", "I32": "<i4", "F64": "<f8"}


def save_safetensors(path, tensors, metadata=None):
    """tensors: name -> torch tensor (float32 / int32). Written in the given order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        code, npdt = _DT[t.dtype]
        b = t.numpy().astype(npdt, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Returns (dict name -> torch tensor, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (hl,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hl].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + hl
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        arr = np.frombuffer(data[base + b:base + en], dtype=_DT_REV[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta
