/* topk.c — exact, deterministic top-k by radix select (no sorting).
 *
 * score[numel] -> threshold (key_thr, index_cut) in O(numel):
 *   pass 1: histogram of the high 16 bits of every key (per-thread, merged);
 *   pass 2: gather the elements of the boundary bucket into a short list, in index order (each
 *           thread's offset comes from the counts in its own histogram);
 *   then a histogram of the low 16 bits over that list only;
 *   ties at the final key: the lowest indices win (the want-th equal element = index_cut). */
#include "pst/sparsity.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

long pst_keep_count(long numel, double sparsity) {
  long drop = (long)floor((double)numel * sparsity);
  if (drop < 0) drop = 0;
  if (drop > numel) drop = numel;
  return numel - drop;
}

#define DIGIT 16
#define NBINS (1 << DIGIT)

/* Bucket from the top of a histogram: returns b such that count(bins > b) < want <=
 * count(bins >= b); *above receives count(bins > b). want >= 1. */
static int find_bucket(const uint32_t *hist, long want, long *above) {
  long acc = 0;
  for (int b = NBINS - 1; b >= 0; b--) {
    if (acc + (long)hist[b] >= want) {
      *above = acc;
      return b;
    }
    acc += hist[b];
  }
  *above = acc;
  return 0;
}

/* Two 16-bit digits: a histogram of the high halves of all keys (per-thread histograms;
 * 16 bits spread float keys over thousands of bins, so increments rarely collide), then the
 * boundary bucket's elements are gathered in index order and histogrammed on the low halves. */
pst_err pst_topk_select(pst_topk_threshold *thr, const float *score, long numel, long keep) {
  if (keep < 0 || keep > numel) PST_ERR(PST_ERR_ARG, "top-k: keep = %ld outside [0, %ld]", keep, numel);
  const int nthreads = omp_get_max_threads();
  uint32_t *hist = calloc((size_t)(nthreads + 1) * NBINS, sizeof(uint32_t)); /* + totals */
  long *cand_count = calloc((size_t)nthreads + 1, sizeof(long));
  if (!hist || !cand_count) { free(hist); free(cand_count); PST_ERR(PST_ERR_MEM, "top-k: out of memory"); }
  if (numel > (long)UINT32_MAX) { free(hist); free(cand_count); PST_ERR(PST_ERR_ARG, "top-k: %ld scores exceed 2^32", numel); }
  long nan_at = -1;
  uint32_t *ckey = NULL;
  long *cidx = NULL;
  long above = 0, want = 0, n = 0;
  int b1 = 0;
  pst_err rc = PST_OK;

#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    const long lo = numel * tid / nt, hi = numel * (tid + 1) / nt; /* contiguous, in order */
    uint32_t *h = hist + (size_t)tid * NBINS;
    long my_nan = -1;
    for (long i = lo; i < hi; i++) {
      float x = score[i];
      if (x != x) { if (my_nan < 0) my_nan = i; continue; }
      h[pst_score_key(x) >> DIGIT]++;
    }
    if (my_nan >= 0) {
#pragma omp critical
      if (nan_at < 0 || my_nan < nan_at) nan_at = my_nan;
    }
#pragma omp barrier
#pragma omp single
    {
      if (nan_at < 0 && keep > 0) {
        uint32_t *total = hist + (size_t)nt * NBINS; /* the per-thread histograms stay intact */
        for (int b = 0; b < NBINS; b++) {
          uint32_t c = 0;
          for (int t = 0; t < nt; t++) c += hist[(size_t)t * NBINS + b];
          total[b] = c;
        }
        b1 = find_bucket(total, keep, &above);
        want = keep - above;
        n = total[b1];
        for (int t = 0; t < nt; t++) cand_count[t + 1] = cand_count[t] + hist[(size_t)t * NBINS + b1];
        ckey = malloc((size_t)(n ? n : 1) * sizeof *ckey);
        cidx = malloc((size_t)(n ? n : 1) * sizeof *cidx);
        if (!ckey || !cidx) rc = PST_ERR_MEM;
      }
    } /* implicit barrier */
    if (nan_at < 0 && keep > 0 && !rc) {
      /* this thread's candidates go to its offset (its count is in its histogram): index order */
      long w = cand_count[tid];
      for (long i = lo; i < hi; i++) {
        uint32_t k = pst_score_key(score[i]);
        if ((long)(k >> DIGIT) == b1) {
          ckey[w] = k;
          cidx[w++] = i;
        }
      }
    }
  }
  free(hist);
  free(cand_count);
  if (nan_at >= 0) {
    free(ckey);
    free(cidx);
    PST_ERR(PST_ERR_NUMERIC, "top-k: score %ld of %ld is NaN", nan_at, numel);
  }
  if (rc) {
    free(ckey);
    free(cidx);
    PST_ERR(PST_ERR_MEM, "top-k: out of memory for %ld candidates", n);
  }
  if (keep == 0) { /* threshold above every key: no non-NaN float maps to UINT32_MAX */
    thr->key_thr = UINT32_MAX;
    thr->index_cut = -1;
    return PST_OK;
  }
  /* second digit over the candidates */
  uint32_t *h2 = calloc(NBINS, sizeof *h2);
  if (!h2) { free(ckey); free(cidx); PST_ERR(PST_ERR_MEM, "top-k: out of memory"); }
  for (long j = 0; j < n; j++) h2[ckey[j] & (NBINS - 1)]++;
  long above2 = 0;
  int b2 = find_bucket(h2, want, &above2);
  free(h2);
  want -= above2;
  const uint32_t key_thr = ((uint32_t)b1 << DIGIT) | (uint32_t)b2;
  /* `want` of the elements equal to key_thr are kept, lowest index first */
  long cut = -1;
  for (long j = 0, seen = 0; j < n; j++)
    if (ckey[j] == key_thr && ++seen == want) {
      cut = cidx[j];
      break;
    }
  free(ckey);
  free(cidx);
  if (cut < 0) PST_ERR(PST_ERR_INTERNAL, "top-k: threshold search lost elements");
  thr->key_thr = key_thr;
  thr->index_cut = cut;
  return PST_OK;
}

/* Two branch-free loops (indices up to the cut keep keys >= key_thr, later ones > key_thr),
 * so the compiler vectorises both. */
void pst_topk_apply(uint8_t *mask, const float *score, long numel, const pst_topk_threshold *thr) {
  const uint32_t kt = thr->key_thr;
  const long split = thr->index_cut + 1 < numel ? thr->index_cut + 1 : numel;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < split; i++) mask[i] = (uint8_t)(pst_score_key(score[i]) >= kt);
#pragma omp parallel for schedule(static)
  for (long i = split; i < numel; i++) mask[i] = (uint8_t)(pst_score_key(score[i]) > kt);
}

pst_err pst_topk_mask(uint8_t *mask, const float *score, long numel, long keep) {
  pst_topk_threshold thr;
  PST_CHECK(pst_topk_select(&thr, score, numel, keep));
  pst_topk_apply(mask, score, numel, &thr);
  return PST_OK;
}
