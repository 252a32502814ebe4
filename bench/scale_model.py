#!/usr/bin/python3
"""scale_model.py — how a data-parallel step scales to 64 nodes: a latency-bandwidth model fed
with pst's measured compute time and message sizes (bench/comm.sh, bench/run.sh).

Assumptions (stated, not measured here):
  * one model replica per node (its tp group inside the node: tp traffic and the top-k
    histograms stay on the node and do not grow with the node count); global batch =
    nodes x per-node batch (weak scaling, the way a grid of fine-tuning runs uses nodes);
  * the dp gradient all-reduce between nodes is a ring: t = 2 (p - 1) alpha + 2 (p - 1) / p * n / beta,
    with alpha = 5 us per message step and beta = 12.5 GB/s (100 Gb/s InfiniBand / Slingshot
    class), not overlapped with compute (pst all-reduces after the backward pass);
  * 4 small all-reduces per step (loss weights, loss, stop flag, norm) cost 2 (p - 1) alpha each
    with a ring, log2(p) alpha in practice (recursive doubling): we charge log2(p) alpha.
Inputs: compute seconds per step (one replica) and the dp message bytes (trainable floats x 4).
  measured 2026-11-26 on the 2-core Xeon of bench/RESULTS.md: bert-base PST step 3.27 s at
  batch 8x128 (bench/run.sh); PST all-reduce payload 13,648,904 B (3,412,226 floats),
  dense 342,107,144 B (pst's dense: block linears + head), HF full fine-tuning 437,935,112 B.
  GPU what-if: the CUDA issue's target step of 30 ms for bert-base 32x128 on one H100.
Prints a markdown table of step time and parallel efficiency per node count."""
import math

ALPHA = 5e-6
BETA = 12.5e9
PST_BYTES = 13_648_904
DENSE_BYTES = 437_935_112


def allreduce(p, n):
    if p == 1:
        return 0.0
    return 2 * (p - 1) * ALPHA + 2 * (p - 1) / p * n / BETA


def step(p, compute, nbytes):
    small = 4 * math.log2(p) * ALPHA if p > 1 else 0.0
    return compute + allreduce(p, nbytes) + small


def main():
    cases = [("CPU node, measured (3.27 s)", 3.27), ("H100 node, target (30 ms)", 0.030)]
    print("| nodes | " + " | ".join("%s: PST step / eff. | dense step / eff." % c for c, _ in cases) + " |")
    print("|---|" + "---|---|" * len(cases))
    for p in (1, 2, 4, 8, 16, 32, 64):
        cells = []
        for _, comp in cases:
            ps, ds = step(p, comp, PST_BYTES), step(p, comp, DENSE_BYTES)
            cells.append("%.1f ms / %.1f%% | %.1f ms / %.1f%%" % (1e3 * ps, 100 * comp / ps, 1e3 * ds, 100 * comp / ds))
        print("| %d | %s |" % (p, " | ".join(cells)))
    print("\nall-reduce at 64 nodes: PST %.2f ms, dense %.1f ms (alpha %.0f us, beta %.1f GB/s)"
          % (1e3 * allreduce(64, PST_BYTES), 1e3 * allreduce(64, DENSE_BYTES), ALPHA * 1e6, BETA / 1e9))


if __name__ == "__main__":
    main()
