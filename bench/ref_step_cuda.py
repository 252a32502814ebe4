#!/usr/bin/python3
"""PyTorch reference timing of PST / dense fine-tuning steps on a CUDA device.

  python3 bench/ref_step_cuda.py --shape bert-base --batch 32 --seq 128 --steps 5 \
      --runs pst:fp32,pst:tf32,pst:bf16,dense:tf32

bench/ref_step.py's model and step (tests/reference/pst_ref.py: PST layers as the official code
does them, with full-size W' and S products and the official per-layer argsort top-k mask in
every forward; sparsity fixed at 0.5) with every tensor and the batch on the device. Each run
METHOD:MODE builds a fresh randomly initialised model (same seed), takes `warmup` untimed steps,
then `steps` timed ones (forward, backward, grad clipping, AdamW, LR schedule; the device is
synchronised around the timed loop) and prints one JSON line. Modes:
  fp32  TF32 off for matmuls and cuDNN (torch.backends.*.allow_tf32 = False)
  tf32  TF32 on
  bf16  torch.autocast(bfloat16) around the forward and the loss (TF32 on for what stays fp32);
        the parameters, gradients and AdamW stay fp32 (standard mixed precision)
--method dense (as METHOD) is full fine-tuning of every tensor, the dense baseline.
Exit status 3 when torch has no usable CUDA device (--device cpu runs the same code on the CPU,
a smoke test of this script only).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import torch  # noqa: E402

import pst_ref as R  # noqa: E402
from ref_step import make_batch  # noqa: E402

MODES = ("fp32", "tf32", "bf16")
DEV_TYPE = "cuda"  # --device cpu: a smoke test of this script on a machine without a GPU


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def build_attn_mask(cfg, attention_mask):
    """pst_ref.build_attn_mask with the causal mask made on the batch's device (the original
    makes it on the CPU) and without its all-rows check (a device sync; the batches here are
    full-length)."""
    am = attention_mask.bool()
    B, T = am.shape
    m = am[:, None, None, :].expand(B, 1, T, T)
    if cfg.arch == "gpt2":
        causal = torch.ones(T, T, dtype=torch.bool, device=am.device).tril()
        m = m & causal[None, None]
    return m


def set_mode(mode):
    tf32 = mode != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def train_step(cfg, P, leaves, opt, sched, batch, s, amp):
    """pst_ref.train_step with the forward and loss under autocast when amp is set."""
    opt.zero_grad(set_to_none=True)
    with torch.autocast(DEV_TYPE, dtype=torch.bfloat16, enabled=amp):
        _, loss = R.forward(cfg, P, batch, s)
    loss.backward()
    if cfg.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for _, p in leaves], cfg.max_grad_norm)
    opt.step()
    sched.step()
    return loss.detach()


def run(a, method, mode, dev):
    set_mode(mode)
    torch.manual_seed(a.seed)
    arch, H, L, NH, Fd, V, P = R.SHAPES[a.shape]
    cfg = R.Config(arch=arch, hidden=H, layers=L, heads=NH, ffn=Fd, vocab=V, max_positions=P,
                   num_labels=2, method=method,
                   sparsity_init=a.sparsity, sparsity_final=a.sparsity,
                   lr=5e-5, weight_decay=0.01, warmup_steps=0, max_grad_norm=1.0,
                   label_smoothing=0.0, steps=a.steps + a.warmup + 1, batch_size=a.batch,
                   seq_len=a.seq, task="classify" if arch == "bert" else "lm")
    gen = torch.Generator().manual_seed(a.seed)
    frozen = {k: v.to(dev) for k, v in R.init_frozen(cfg, gen).items()}
    trainable = {k: v.to(dev) for k, v in R.init_trainable(cfg, frozen, gen).items()}
    params, leaves = R.build_params(frozen, trainable)
    opt, sched = R.make_optimizer(cfg, [p for _, p in leaves])
    batch = {k: v.to(dev) for k, v in make_batch(cfg, a.batch, a.seq, gen).items()}
    amp = mode == "bf16"

    for _ in range(a.warmup):
        train_step(cfg, params, leaves, opt, sched, batch, a.sparsity, amp)
    sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = train_step(cfg, params, leaves, opt, sched, batch, a.sparsity, amp)
    sync(dev)
    ms = 1000.0 * (time.perf_counter() - t0) / a.steps
    peak = torch.cuda.max_memory_allocated(dev) / 1048576.0 if dev.type == "cuda" else 0.0
    lossf = float(loss)
    del params, leaves, opt, sched, frozen, trainable, batch
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "impl": "torch-cuda", "shape": a.shape, "method": method, "mode": mode,
        "batch": a.batch, "seq": a.seq, "ms_per_step": round(ms, 3),
        "tokens_per_s": round(a.batch * a.seq / (ms / 1000.0), 1),
        "peak_device_mb": round(peak, 1), "loss": round(lossf, 4),
        "finite": bool(torch.isfinite(torch.tensor(lossf))), "steps": a.steps,
        "topk": "official", "torch": torch.__version__,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="bert-base", choices=sorted(R.SHAPES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--runs", default="pst:fp32,pst:tf32,pst:bf16,dense:tf32",
                    help="comma-separated METHOD:MODE (MODE: fp32, tf32, bf16)")
    a = ap.parse_args()

    global DEV_TYPE
    DEV_TYPE = torch.device(a.device).type
    if DEV_TYPE == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"impl": "torch-cuda", "skipped": "torch %s has no usable CUDA device"
                          % torch.__version__}))
        return 3
    arch, H, L, NH, Fd, V, P = R.SHAPES[a.shape]
    if a.seq > P:
        ap.error("--seq %d exceeds max positions %d of %s" % (a.seq, P, a.shape))
    runs = []
    for r in a.runs.split(","):
        method, _, mode = r.partition(":")
        if method not in R.METHODS or mode not in MODES:
            ap.error("bad run %r (METHOD:MODE, METHOD in %s, MODE in %s)" % (r, R.METHODS, MODES))
        runs.append((method, mode))
    R.TOPK_MODE = "official"
    R.build_attn_mask = build_attn_mask
    dev = torch.device(a.device)
    rc = 0
    for method, mode in runs:
        try:
            out = run(a, method, mode, dev)
        except Exception as e:  # one failing run (e.g. out of memory) does not stop the others
            out = {"impl": "torch-cuda", "shape": a.shape, "method": method, "mode": mode,
                   "error": "%s: %s" % (type(e).__name__, str(e)[:300])}
            rc = 1
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        print(json.dumps(out), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
