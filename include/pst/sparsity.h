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

/* Cubic schedule (Zhu & Gupta) with warm-up / cool-down fractions; t completed steps of T. */
typedef struct {
  double s_init, s_final, warmup_frac, cooldown_frac;
} pst_schedule;
double pst_schedule_at(const pst_schedule *sch, long t, long T);

#endif
