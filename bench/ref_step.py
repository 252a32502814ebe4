#!/usr/bin/python3
"""PyTorch reference timing of one PST (or dense) fine-tuning step.

  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/ref_step.py --shape bert-base \
      --method pst --batch 8 --seq 128 --steps 3 --threads 2

Builds a randomly initialised model of the given shape with the model code of
tests/reference/pst_ref.py: PST layers as the official code does them (full-size W' and S
products and an argsort-based top-k mask per layer in every forward, --topk official;
--topk exact uses the fixtures' stable sort instead), sparsity fixed at 0.5.
One warm-up step, then `steps` timed training steps (forward, backward, grad clipping,
AdamW step). Prints one JSON line.

--method dense is full fine-tuning of every tensor (embeddings, LayerNorms, biases, head),
the dense baseline. lora / magnitude / movement are accepted too.
--shape smollm2 (SmolLM2-135M's LLaMA architecture) runs transformers 4.46's LlamaForCausalLM
(tests/reference/llama_ref.py) with the PST weights: PYTHONPATH=.ref/transformers.
"""

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import torch  # noqa: E402

import pst_ref as R  # noqa: E402


def make_batch(cfg, B, T, gen):
    ids = torch.randint(1, cfg.vocab, (B, T), generator=gen, dtype=torch.int64).to(torch.int32)
    batch = {"batch.input_ids": ids, "batch.attention_mask": torch.ones(B, T, dtype=torch.int32)}
    if cfg.arch == "bert":
        tt = torch.zeros(B, T, dtype=torch.int32)
        tt[:, T // 2:] = 1
        batch["batch.token_type_ids"] = tt
        batch["batch.labels"] = torch.randint(0, cfg.num_labels, (B,), generator=gen,
                                              dtype=torch.int64).to(torch.int32)
    else:
        tg = torch.zeros(B, T, dtype=torch.int32)
        tg[:, :-1] = ids[:, 1:]
        lm = torch.ones(B, T, dtype=torch.float32)
        lm[:, -1] = 0.0
        batch["batch.targets"] = tg
        batch["batch.loss_mask"] = lm
    return batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="bert-base", choices=sorted(R.SHAPES))
    ap.add_argument("--method", default="pst", choices=R.METHODS)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--topk", default="official", choices=("official", "exact"),
                    help="official: argsort as in the official PST code (default); "
                         "exact: the fixtures' stable-sort top-k")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    R.TOPK_MODE = a.topk
    torch.manual_seed(a.seed)
    arch, H, L, NH, Fd, V, P = R.SHAPES[a.shape]
    if a.seq > P:
        ap.error("--seq %d exceeds max positions %d of %s" % (a.seq, P, a.shape))
    cfg = R.Config(arch=arch, hidden=H, layers=L, heads=NH, ffn=Fd, vocab=V, max_positions=P,
                   num_labels=2, method=a.method,
                   sparsity_init=a.sparsity, sparsity_final=a.sparsity,
                   lr=5e-5, weight_decay=0.01, warmup_steps=0, max_grad_norm=1.0,
                   label_smoothing=0.0, steps=a.steps + 1, batch_size=a.batch, seq_len=a.seq,
                   task="classify" if arch == "bert" else "lm", **R.SHAPE_EXTRA.get(a.shape, {}))
    if arch == "llama":  # transformers' LlamaForCausalLM with PST weights (PYTHONPATH=.ref/transformers)
        import llama_ref
        R.FORWARDS["llama"] = llama_ref.llama_forward
    gen = torch.Generator().manual_seed(a.seed)
    frozen = R.init_frozen(cfg, gen)
    trainable = R.init_trainable(cfg, frozen, gen)
    params, leaves = R.build_params(frozen, trainable)
    opt, sched = R.make_optimizer(cfg, [p for _, p in leaves])
    batch = make_batch(cfg, a.batch, a.seq, gen)

    R.train_step(cfg, params, leaves, opt, sched, batch, a.sparsity)  # warm-up
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss, _ = R.train_step(cfg, params, leaves, opt, sched, batch, a.sparsity)
        times.append(time.perf_counter() - t0)
        if not torch.isfinite(loss):
            print("non-finite loss", file=sys.stderr)
            return 1
    ms = 1000.0 * sum(times) / len(times)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    print(json.dumps({
        "impl": "torch", "shape": a.shape, "method": a.method, "batch": a.batch,
        "seq": a.seq, "ms_per_step": round(ms, 3),
        "tokens_per_s": round(a.batch * a.seq / (ms / 1000.0), 3),
        "peak_rss_mb": round(rss_mb, 1), "torch": torch.__version__, "threads": a.threads,
        "steps": a.steps, "topk": a.topk,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
