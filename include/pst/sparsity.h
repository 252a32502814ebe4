/* sparsity.h — exact top-k masks, the cubic sparsity schedule, and the sparsified linear
 * layer that hosts every method (dense, lora, magnitude, movement, soft-movement, pst).
 *
 * Top-k order: (score desc, flat index asc). A score maps to an order-preserving u32 key
 * (-0.0 is folded onto +0.0, as float comparison treats them equal); ties at the threshold
 * key are resolved by taking the lowest flat indices first. This is exactly the radix
 * select over the u64 key (score_key << 32 | ~index) of DESIGN.md §1, done as histogram
 * passes over the score key plus one index cut-off. */
#ifndef PST_SPARSITY_H
#define PST_SPARSITY_H

#include <stdint.h>

#include "pst/comm.h"
#include "pst/core.h"

/* Order-preserving map of a float score to u32 (NaN must be rejected before). */
static inline uint32_t pst_score_key(float x) {
  union { float f; uint32_t u; } v = {x};
  uint32_t u = v.u & (0u - (uint32_t)((v.u << 1) != 0));   /* -0.0 -> +0.0 */
  return u ^ ((0u - (u >> 31)) | 0x80000000u);           /* negative: ~u, else u | sign */
}

/* keep = numel - floor(numel * s) (computed in double, as the reference does). */
long pst_keep_count(long numel, double sparsity);

/* Threshold of a top-k selection: every element with key > key_thr is kept, and of the
 * elements with key == key_thr exactly those with flat index <= index_cut. */
typedef struct {
  uint32_t key_thr;
  long index_cut;   /* -1: none of the equal elements is kept */
} pst_topk_threshold;

/* Find the threshold of the `keep` largest of score[numel] (0 <= keep <= numel).
 * NaN anywhere -> PST_ERR_NUMERIC. */
pst_err pst_topk_select(pst_topk_threshold *thr, const float *score, long numel, long keep);
/* mask[i] = 1 if element i is in the top-k described by thr. */
void pst_topk_apply(uint8_t *mask, const float *score, long numel, const pst_topk_threshold *thr);
/* Both in one: the exact top-k mask of score. */
pst_err pst_topk_mask(uint8_t *mask, const float *score, long numel, long keep);

/* Tensor-parallel top-k (DESIGN.md §4): every rank of a group holds one rectangular shard
 * [rows, cols] at (row0, col0) of each layer's global [grows, gcols] score matrix, and all
 * ranks together select each layer's global top `keep` in the same (score desc, global flat
 * index asc) order as pst_topk_mask, so the union of the local masks equals the
 * single-process mask bit for bit. Radix select over the u64 key (score key << 32 | ~global
 * index) with 12/12/8-bit digits; one sum_u32 over the group per digit pass carries the
 * histograms of all layers at once (plus a NaN count), and a layer leaves the passes as
 * soon as its boundary bucket is kept whole (index digits only when ties straddle it). */
typedef struct {
  long rows, cols, row0, col0, grows, gcols;
  long keep;        /* of grows * gcols (< 2^32) */
  uint8_t *mask;    /* out: local [rows * cols] */
} pst_topk_shard;

/* score(ctx, layer, out) writes layer's local scores [rows * cols] into out (called twice per
 * layer; out has room for the largest local shard). group NULL or size 1 = single process.
 * A NaN on any rank fails on every rank with PST_ERR_NUMERIC. Collective over group. */
pst_err pst_topk_sharded(pst_topk_shard *layers, int nlayers,
                         pst_err (*score)(void *ctx, int layer, float *out), void *ctx, float *out,
                         const struct pst_group *group);

/* Cubic schedule (Zhu & Gupta) with warm-up / cool-down fractions; t completed steps of T. */
typedef struct {
  double s_init, s_final, warmup_frac, cooldown_frac;
} pst_schedule;
double pst_schedule_at(const pst_schedule *sch, long t, long T);

#endif
