#!/usr/bin/python3
"""PyTorch run of pst's fine-tuning recipe on a GLUE classification task (SST-2, MRPC, RTE,
CoLA), for the quality table of bench/sst2_quality.sh and the MRPC comparison of issue 17.

Usage (Debian's torch 1.13: /usr/bin/python3):
  bench/ref_train.py --model-dir models/all-MiniLM-L6-v2 --train SUBSET.tsv --dev dev.tsv \
      --method pst --sparsity 0.9 --lr 5e-4 --out DIR [--epochs 2 --batch 32 --seq-len 64 ...]
  bench/ref_train.py --model-dir ... --method pst --check-init RUN/trainables.safetensors
      (compares this script's initial trainables with those a pst run saved after one step at
       lr 0, and exits)

What is taken from where (so that the two runs differ only in floating-point order):
  * model: the frozen MiniLM/BERT tensors from MODEL_DIR/model.safetensors, renamed to pst's
    names; forward, PST layers (W' = W0 + U V, S = |W'| + A B + R + C, exact top-k with a
    straight-through gradient), cubic sparsity schedule, AdamW (decay on ndim >= 2 only),
    linear warm-up/decay LR and gradient clipping are tests/reference/pst_ref.py, the
    reference pst passes its parity suite against (tests/reference/make_fixtures.py).
  * trainables as pst initialises them (src/sparsity/linear.c, src/model/model.c): U, A ~
    N(0, 1) from pst's counter RNG (src/core/rng.c) on stream "blk.{i}.{lin}.U" / ".A" under
    train.seed; V, B, R, C = 0; pooler from the checkpoint; cls.w ~ N(0, init_std) on stream
    "cls.w", cls.b = 0. Dense: the block weights themselves train, starting from W0.
  * data: the GLUE task's tsv (--task: SST-2 `sentence`/`label`; MRPC `#1 String`, `#2 String`,
    `Quality`; RTE `sentence1`, `sentence2`, `label` as entailment = 0, not_entailment = 1; CoLA
    without a header, sentence in column 4); tokenized with the `tokenizers` library from
    MODEL_DIR/tokenizer.json ([CLS] a [SEP] (b [SEP]), token types 0/1, longest-first truncation
    to seq_len); dev metrics as GLUE (MRPC: accuracy, F1 and their mean as the main score;
    CoLA: Matthews correlation); one epoch = the
    first floor(n / batch) * batch examples of pst_shuffle's permutation (src/data/idsfile.c),
    reshuffled with epoch + 1 when the next batch would run past the end, as pst does.
  * dev evaluation after every epoch (step % steps_per_epoch == 0, step < total) and at the
    end, at the schedule's current sparsity; "best" = best accuracy among the evaluations at
    the target sparsity (pst's results.json protocol).
  Batches are padded to the longest sequence of the batch, not to seq_len: with BERT's key
  padding mask the logits are the same (pst pads to seq_len), only faster.

Writes DIR/results.json ({"best", "final", "evals", "config", "wall_s", ...}) and
DIR/metrics.jsonl (one line per step: loss, lr, sparsity, grad_norm, elapsed_s).
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

import pst_ref as R  # noqa: E402
from make_hf_fixtures import load_weights, read_safetensors  # noqa: E402

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


# ---------------------------------------------------------------------------------------
# pst's counter RNG (src/core/rng.c) and shuffle (src/data/idsfile.c), bit for bit
# ---------------------------------------------------------------------------------------

def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def rng_u64(seed, stream, i):
    return mix64(((mix64(mix64((seed + GOLDEN) & M64) ^ stream)) + i * GOLDEN) & M64)


def rng_stream(name):
    h = 0xCBF29CE484222325
    for c in name.encode("utf-8"):
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


def rng_normal(n, mean, std, seed, stream):
    """pst_rng_normal: Box-Muller in double (libm log/cos via math), cast to float32, then
    mean + std * z in float32."""
    base = mix64((seed + GOLDEN) & M64) ^ stream
    base = mix64(base)
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        r = mix64((base + i * GOLDEN) & M64)
        u1 = ((r >> 32) + 1.0) / 4294967296.0
        u2 = (r & 0xFFFFFFFF) / 4294967296.0
        out[i] = math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2)
    return np.float32(mean) + np.float32(std) * out


def pst_shuffle(n, seed, epoch):
    order = list(range(n))
    stream = 0x5348554646 + epoch
    for i in range(n - 1, 0, -1):
        j = rng_u64(seed, stream, i) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


# ---------------------------------------------------------------------------------------
# model: HF BERT tensors under pst's names
# ---------------------------------------------------------------------------------------

HF_LIN = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "o": "attention.output.dense", "fc1": "intermediate.dense", "fc2": "output.dense"}


def load_frozen(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        hc = json.load(f)
    W = load_weights(model_dir)
    P = "bert." if "bert.embeddings.word_embeddings.weight" in W else ""
    e = P + "embeddings."
    t = {"emb.tok": W[e + "word_embeddings.weight"], "emb.pos": W[e + "position_embeddings.weight"],
         "emb.type": W[e + "token_type_embeddings.weight"], "emb.ln.w": W[e + "LayerNorm.weight"],
         "emb.ln.b": W[e + "LayerNorm.bias"]}
    for i in range(hc["num_hidden_layers"]):
        L = "%sencoder.layer.%d." % (P, i)
        for lin, hf in HF_LIN.items():
            t["blk.%d.%s.w" % (i, lin)] = W[L + hf + ".weight"]
            t["blk.%d.%s.b" % (i, lin)] = W[L + hf + ".bias"]
        t["blk.%d.ln1.w" % i] = W[L + "attention.output.LayerNorm.weight"]
        t["blk.%d.ln1.b" % i] = W[L + "attention.output.LayerNorm.bias"]
        t["blk.%d.ln2.w" % i] = W[L + "output.LayerNorm.weight"]
        t["blk.%d.ln2.b" % i] = W[L + "output.LayerNorm.bias"]
    t["pool.w"] = W[P + "pooler.dense.weight"]
    t["pool.b"] = W[P + "pooler.dense.bias"]
    if hc.get("hidden_act", "gelu") != "gelu":
        raise SystemExit("ref_train: only hidden_act gelu (erf) is implemented")
    if hc.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("ref_train: only absolute position embeddings are implemented")
    return hc, t


def init_trainables(cfg, frozen, seed, init_std):
    """pst_model_create's initial trainables, in pst's canonical order."""
    out = {}
    for name in R.trainable_names(cfg, frozen):
        if name in ("cls.w",):
            out[name] = torch.from_numpy(rng_normal(cfg.num_labels * cfg.hidden, 0.0, init_std, seed,
                                                    rng_stream(name)).reshape(cfg.num_labels, cfg.hidden))
            continue
        if name == "cls.b":
            out[name] = torch.zeros(cfg.num_labels)
            continue
        if name in frozen:  # pooler (from the checkpoint), dense block weights
            out[name] = frozen[name].clone()
            continue
        i, lin, x = name.split(".")[1:]
        m, k = R.linear_shape(cfg, lin)
        if x == "U":
            out[name] = torch.from_numpy(rng_normal(m * cfg.r2, 0.0, 1.0, seed, rng_stream(name)).reshape(m, cfg.r2))
        elif x == "A":
            out[name] = torch.from_numpy(rng_normal(m * cfg.r1, 0.0, 1.0, seed, rng_stream(name)).reshape(m, cfg.r1))
        elif x == "V":
            out[name] = torch.zeros(cfg.r2, k)
        elif x == "B":
            out[name] = torch.zeros(cfg.r1, k)
        elif x == "R":
            out[name] = torch.zeros(m)
        elif x == "C":
            out[name] = torch.zeros(k)
        else:
            raise KeyError(name)
    return out


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------

# task: (header?, first text column, second text column or None, label column, label names or None)
GLUE = {"SST-2": (True, "sentence", None, "label", None),
        "MRPC": (True, "#1 String", "#2 String", "Quality", None),
        "RTE": (True, "sentence1", "sentence2", "label", ("entailment", "not_entailment")),
        "CoLA": (False, 3, None, 1, None)}


def read_tsv(path, task="SST-2"):
    """Texts (str, or (a, b) pairs) and integer labels of a GLUE task file."""
    header, ca, cb, cl, names = GLUE[task]
    with open(path, encoding="utf-8-sig") as f:  # MRPC's files start with a byte-order mark
        lines = f.read().split("\n")
    if header:
        head = lines[0].split("\t")
        ca, cl = head.index(ca), head.index(cl)
        cb = head.index(cb) if cb else None
        lines = lines[1:]
    texts, labels = [], []
    for ln in lines:
        if not ln.strip():
            continue
        f = ln.split("\t")
        texts.append((f[ca], f[cb]) if cb is not None else f[ca])
        labels.append(names.index(f[cl]) if names else int(f[cl]))
    return texts, labels


def tokenize(model_dir, texts, seq_len):
    """(ids, token types) per example."""
    from tokenizers import Tokenizer
    tk = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tk.no_padding()
    tk.enable_truncation(max_length=seq_len)  # strategy longest_first, as pst_truncate_pair
    return [(e.ids, e.type_ids) for e in tk.encode_batch(texts)]


def make_batch(ids, labels, idx, pad_to=0):
    T = pad_to or max(len(ids[i][0]) for i in idx)
    x = torch.zeros(len(idx), T, dtype=torch.int64)
    tt = torch.zeros(len(idx), T, dtype=torch.int64)
    am = torch.zeros(len(idx), T, dtype=torch.int64)
    for r, i in enumerate(idx):
        n = len(ids[i][0])
        x[r, :n] = torch.tensor(ids[i][0])
        tt[r, :n] = torch.tensor(ids[i][1])
        am[r, :n] = 1
    return {"batch.input_ids": x, "batch.attention_mask": am, "batch.token_type_ids": tt,
            "batch.labels": torch.tensor([labels[i] for i in idx], dtype=torch.int64)}


def glue_scores(task, pred, gold):
    """The task's dev metrics and its main score (pst's src/data/glue.c)."""
    n = len(gold)
    acc = sum(int(p == g) for p, g in zip(pred, gold)) / n
    if task == "MRPC":
        tp = sum(int(p == 1 and g == 1) for p, g in zip(pred, gold))
        fp = sum(int(p == 1 and g == 0) for p, g in zip(pred, gold))
        fn = sum(int(p == 0 and g == 1) for p, g in zip(pred, gold))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        return {"accuracy": acc, "f1": f1, "combined_score": (acc + f1) / 2}, "combined_score"
    if task == "CoLA":
        tp = sum(int(p == 1 and g == 1) for p, g in zip(pred, gold))
        tn = sum(int(p == 0 and g == 0) for p, g in zip(pred, gold))
        fp = sum(int(p == 1 and g == 0) for p, g in zip(pred, gold))
        fn = sum(int(p == 0 and g == 1) for p, g in zip(pred, gold))
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return {"matthews_correlation": (tp * tn - fp * fn) / den if den else 0.0}, "matthews_correlation"
    return {"accuracy": acc}, "accuracy"


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------

def evaluate(cfg, P, s, dev_ids, dev_labels, B, pad_to=0):
    """Predictions and mean loss on dev with the masks at sparsity s (computed once)."""
    ecfg = R.Config(**{k: v for k, v in vars(cfg).items()})
    ecfg.method = "dense"
    E = dict(P)
    with torch.no_grad():
        for i in range(cfg.layers):
            for lin in R.LINEARS:
                prefix = "blk.%d.%s" % (i, lin)
                E[prefix + ".w"] = R.effective_weight(cfg, prefix, P, s).detach()
        pred, loss_sum, n = [], 0.0, len(dev_ids)
        for first in range(0, n, B):
            idx = list(range(first, min(n, first + B)))
            batch = make_batch(dev_ids, dev_labels, idx, pad_to)
            logits, _ = R.forward(ecfg, E, batch, s)
            lab = batch["batch.labels"]
            pred += logits.argmax(-1).tolist()
            loss_sum += float(torch.nn.functional.cross_entropy(logits.double(), lab, reduction="sum"))
    return pred, loss_sum / n


def fast_topk_mask(S, keep):
    """The same mask as pst_ref.topk_mask (the first `keep` of a stable descending sort:
    every score above the keep-th largest, then the ties at it in flat-index order), from
    torch.topk instead of a full sort (~15x faster on a 1536x384 matrix)."""
    flat = S.detach().reshape(-1)
    if torch.isnan(flat).any():
        raise ValueError("NaN in importance scores")
    numel = flat.numel()
    if keep >= numel:
        return torch.ones_like(S)
    if keep <= 0:
        return torch.zeros_like(S)
    thr = torch.topk(flat, keep, sorted=False).values.min()
    m = flat > thr
    need = keep - int(m.sum())
    if need > 0:
        m[torch.nonzero(flat == thr).reshape(-1)[:need]] = True
    return m.to(S.dtype).view_as(S)


def check_fast_topk():
    g = torch.Generator().manual_seed(0)
    for shape, q in (((384, 1536), 0), ((64, 96), 8), ((50, 40), 2)):
        S = torch.randn(*shape, generator=g)
        if q:  # many ties
            S = torch.round(S * q) / q
        for keep in (0, 1, S.numel() // 10, S.numel() // 2, S.numel() - 1, S.numel()):
            if not torch.equal(fast_topk_mask(S, keep), R.topk_mask(S, keep)):
                raise SystemExit("ref_train: fast top-k differs from pst_ref.topk_mask (shape %s keep %d)"
                                 % (shape, keep))


def achieved_sparsity(cfg, P, s):
    if cfg.method not in R.MASKED_METHODS:
        return 0.0
    kept = total = 0
    for prefix, (M, _) in R.final_masks(cfg, P, s).items():
        kept += int(M.sum())
        total += M.numel()
    return 1.0 - kept / total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--train")
    ap.add_argument("--dev")
    ap.add_argument("--task", choices=sorted(GLUE), default="SST-2", help="GLUE task of --train / --dev")
    ap.add_argument("--method", choices=("pst", "dense"), default="pst")
    ap.add_argument("--sparsity", type=float, default=0.9, help="target sparsity (pst)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="total steps; 0 = epochs x batches")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--warmup-steps", type=int, default=6)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--r1", type=int, default=8)
    ap.add_argument("--r2", type=int, default=8)
    ap.add_argument("--sparsity-warmup-frac", type=float, default=0.1)
    ap.add_argument("--sparsity-cooldown-frac", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--init-std", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (timing probe)")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--pad-to-seq-len", action="store_true",
                    help="pad every batch to seq_len as pst does (same logits, other float order; slower)")
    ap.add_argument("--check-init", metavar="SAFETENSORS")
    ap.add_argument("--eval-trainables", metavar="SAFETENSORS",
                    help="evaluate a pst run's final trainables.safetensors on --dev at the target sparsity "
                         "with this script's forward (its masks are checked against the recomputed top-k), "
                         "print accuracy and loss, and exit")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_start = time.time()
    check_fast_topk()
    R.topk_mask = fast_topk_mask  # used by pst_ref.TopK and final_masks

    hc, frozen = load_frozen(a.model_dir)
    cfg = R.Config(arch="bert", hidden=hc["hidden_size"], layers=hc["num_hidden_layers"],
                   heads=hc["num_attention_heads"], ffn=hc["intermediate_size"], vocab=hc["vocab_size"],
                   max_positions=hc["max_position_embeddings"], type_vocab=hc.get("type_vocab_size", 2),
                   num_labels=2, train_head=True, method=a.method, r1=a.r1, r2=a.r2,
                   sparsity_init=0.0, sparsity_final=a.sparsity if a.method == "pst" else 0.0,
                   lr=a.lr, weight_decay=a.weight_decay, warmup_steps=a.warmup_steps,
                   max_grad_norm=a.clip, adam_eps=a.eps, batch_size=a.batch, seq_len=a.seq_len)
    if abs(hc.get("layer_norm_eps", 1e-12) - 1e-12) > 0:
        raise SystemExit("ref_train: layer_norm_eps != 1e-12 is not implemented by pst_ref")
    init = init_trainables(cfg, frozen, a.seed, a.init_std)

    if a.check_init:
        got = read_safetensors(a.check_init)  # float tensors only (the U8 masks are skipped)
        bad = 0
        for name, t in init.items():
            d = (got[name] - t).abs().max().item()
            if d != 0.0:
                bad += 1
                print("ref_train: init differs: %s max|diff| %.3g" % (name, d))
        print("ref_train: initial trainables vs %s: %d tensors compared, %d differ" % (a.check_init, len(init), bad))
        sys.exit(1 if bad else 0)

    if a.eval_trainables:
        got = read_safetensors(a.eval_trainables)
        P = dict(frozen)
        for name in init:
            P[name] = got[name]
        msg = ""
        if cfg.method in R.MASKED_METHODS:
            import struct
            with open(a.eval_trainables, "rb") as f:  # the U8 masks pst saved
                data = f.read()
            (hl,) = struct.unpack("<Q", data[:8])
            hdr = json.loads(data[8:8 + hl])
            bad = 0
            for prefix, (M, _) in R.final_masks(cfg, P, cfg.sparsity_final).items():
                e = hdr["mask." + prefix]
                b0, b1 = e["data_offsets"]
                pm = np.frombuffer(data[8 + hl + b0:8 + hl + b1], dtype=np.uint8).reshape(e["shape"])
                bad += int((torch.from_numpy(pm.astype(np.float32)) != M).sum())
            msg = " | mask entries differing from the recomputed top-k: %d" % bad
        dtexts, dlabels = read_tsv(a.dev, a.task)
        dev_ids = tokenize(a.model_dir, dtexts, a.seq_len)
        pred, loss = evaluate(cfg, P, cfg.sparsity_final, dev_ids, dlabels, a.batch, a.seq_len if a.pad_to_seq_len else 0)
        sc, _ = glue_scores(a.task, pred, dlabels)
        print("ref_train: %s evaluated here: %d examples | loss %.4f | %s%s"
              % (a.eval_trainables, len(dev_ids), loss, " | ".join("%s %.4f" % kv for kv in sc.items()), msg))
        sys.exit(0)

    texts, labels = read_tsv(a.train, a.task)
    tr_ids = tokenize(a.model_dir, texts, a.seq_len)
    dtexts, dlabels = read_tsv(a.dev, a.task)
    dev_ids = tokenize(a.model_dir, dtexts, a.seq_len)
    n, B = len(tr_ids), a.batch
    pad = a.seq_len if a.pad_to_seq_len else 0
    steps_per_epoch = max(1, n // B)
    total = a.steps or a.epochs * steps_per_epoch
    cfg.steps = total

    # merged frozen + trainable dict; dense: the block weights are replaced by the leaves
    P, leaves = R.build_params(frozen, init)
    opt, sched = R.make_optimizer(cfg, [p for _, p in leaves])
    sparsity = lambda t: R.sparsity_at(t, total, cfg.sparsity_init, cfg.sparsity_final,  # noqa: E731
                                       a.sparsity_warmup_frac, a.sparsity_cooldown_frac)
    os.makedirs(a.out, exist_ok=True)
    metrics = open(os.path.join(a.out, "metrics.jsonl"), "w")
    print("ref_train: %s, %d layers, hidden %d; %d examples, %d steps (%d per epoch), batch %dx%d; "
          "%d trainable floats; torch %s, %d threads" % (a.method, cfg.layers, cfg.hidden, n, total, steps_per_epoch,
                                                         B, a.seq_len, sum(p.numel() for _, p in leaves),
                                                         torch.__version__, torch.get_num_threads()), flush=True)
    evals, best = [], None
    target = cfg.sparsity_final
    epoch, cursor = 0, 0
    order = pst_shuffle(n, a.seed, epoch)
    t0 = time.time()
    step = 0

    def do_eval():
        nonlocal best
        s = sparsity(step)
        pred, loss = evaluate(cfg, P, s, dev_ids, dlabels, B, pad)
        sc, main_key = glue_scores(a.task, pred, dlabels)
        e = dict({"step": step, "epoch": epoch, "sparsity": achieved_sparsity(cfg, P, s), "loss": loss}, **sc)
        e["positive_share"] = sum(pred) / len(pred)  # a collapse to one class shows as 0 or 1
        evals.append(e)
        metrics.write(json.dumps({"dev": e}) + "\n")
        metrics.flush()
        print("dev @ step %d: %d examples | loss %.4f | %s | predicted 1: %.3f | sparsity %.4f"
              % (step, len(dev_ids), loss, " | ".join("%s %.4f" % kv for kv in sc.items()), e["positive_share"],
                 e["sparsity"]), flush=True)
        if s >= target - 1e-12 and (best is None or e[main_key] > best[main_key]):
            best = e

    while step < total:
        if a.max_steps and step >= a.max_steps:
            break
        if cursor + B > n:
            epoch += 1
            order = pst_shuffle(n, a.seed, epoch)
            cursor = 0
        batch = make_batch(tr_ids, labels, order[cursor:cursor + B], pad)
        cursor += B
        s = sparsity(step)
        lr = sched.get_last_lr()[0]
        loss, gnorm = R.train_step(cfg, P, leaves, opt, sched, batch, s)
        step += 1
        now = time.time()
        metrics.write(json.dumps({"step": step, "epoch": epoch, "loss": float(loss), "lr": lr,
                                  "sparsity": sparsity(step), "grad_norm": float(gnorm), "elapsed_s": now - t0}) + "\n")
        if step % 10 == 0 or step == total or step <= 2:
            print("step %d/%d | loss %.4f | lr %.2e | sparsity %.3f | %.2f s/step"
                  % (step, total, float(loss), lr, sparsity(step), (now - t0) / step), flush=True)
        if not a.no_eval and step < total and step % steps_per_epoch == 0:
            do_eval()
    train_s = time.time() - t0
    if not a.no_eval:
        do_eval()
    metrics.close()
    res = {"task": a.task, "impl": "torch %s (tests/reference/pst_ref.py)" % torch.__version__,
           "method": a.method, "target_sparsity": target, "best": best, "final": evals[-1] if evals else None,
           "evals": evals, "steps": step, "train_s": train_s, "s_per_step": train_s / max(step, 1),
           "wall_s": time.time() - t_start, "config": vars(a)}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("ref_train: wrote %s/results.json (%.1f s)" % (a.out, res["wall_s"]), flush=True)


if __name__ == "__main__":
    main()
