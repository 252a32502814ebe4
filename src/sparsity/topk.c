/* topk.c — exact, deterministic top-k by radix select (no sorting).
 *
 * score[numel] -> threshold (key_thr, index_cut) in O(numel):
 *   pass 1: histogram of the top 11 bits of every key (per-thread, merged);
 *   gather the elements of the boundary bucket (in index order) into a small list;
 *   passes 2-3: histograms of the next 11 and last 10 bits over that list only;
 *   ties at the final key: the lowest indices win (need-th equal element = index_cut). */
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

#define B1 11
#define NB1 (1 << B1)

/* Bucket from the top of a histogram: returns b such that count(bins > b) < want <=
 * count(bins >= b); *above receives count(bins > b). want >= 1. */
static int find_bucket(const long *hist, int nbins, long want, long *above) {
  long acc = 0;
  for (int b = nbins - 1; b >= 0; b--) {
    if (acc + hist[b] >= want) {
      *above = acc;
      return b;
    }
    acc += hist[b];
  }
  *above = acc;
  return 0;
}

pst_err pst_topk_select(pst_topk_threshold *thr, const float *score, long numel, long keep) {
  if (keep < 0 || keep > numel) PST_ERR(PST_ERR_ARG, "top-k: keep = %ld outside [0, %ld]", keep, numel);
  int nthreads = omp_get_max_threads();
  long *hist = calloc((size_t)nthreads * NB1, sizeof(long));
  if (!hist) PST_ERR(PST_ERR_MEM, "top-k: out of memory");
  long nan_at = -1;

  /* pass 1: top-11-bit histogram, NaN check */
#pragma omp parallel num_threads(nthreads)
  {
    long *h = hist + (size_t)omp_get_thread_num() * NB1;
    long my_nan = -1;
#pragma omp for schedule(static)
    for (long i = 0; i < numel; i++) {
      float x = score[i];
      if (x != x) { if (my_nan < 0) my_nan = i; continue; }
      h[pst_score_key(x) >> (32 - B1)]++;
    }
    if (my_nan >= 0) {
#pragma omp critical
      if (nan_at < 0 || my_nan < nan_at) nan_at = my_nan;
    }
  }
  if (nan_at >= 0) {
    free(hist);
    PST_ERR(PST_ERR_NUMERIC, "top-k: score %ld of %ld is NaN", nan_at, numel);
  }
  if (keep == 0) { /* nothing kept: threshold above every key */
    free(hist);
    thr->key_thr = UINT32_MAX;
    thr->index_cut = -1;
    /* no non-NaN float maps to key UINT32_MAX (that would be a NaN pattern), so nothing passes */
    return PST_OK;
  }
  for (int t = 1; t < nthreads; t++)
    for (int b = 0; b < NB1; b++) hist[b] += hist[(size_t)t * NB1 + b];
  long above = 0;
  int b1 = find_bucket(hist, NB1, keep, &above);
  long cand_n = hist[b1];
  free(hist);

  /* gather the boundary bucket's keys and indices in index order */
  uint32_t *ckey = malloc((size_t)cand_n * sizeof *ckey);
  long *cidx = malloc((size_t)cand_n * sizeof *cidx);
  if (!ckey || !cidx) {
    free(ckey);
    free(cidx);
    PST_ERR(PST_ERR_MEM, "top-k: out of memory for %ld candidates", cand_n);
  }
  long n = 0;
  for (long i = 0; i < numel; i++) {
    uint32_t k = pst_score_key(score[i]);
    if ((int)(k >> (32 - B1)) == b1) {
      ckey[n] = k;
      cidx[n++] = i;
    }
  }
  /* passes 2 and 3 over the candidates: bits [20:10) then [10:0) */
  long want = keep - above;
  uint32_t prefix = (uint32_t)b1 << (32 - B1), pmask = ~0u << (32 - B1);
  const int shifts[2] = {10, 0}, widths[2] = {11, 10};
  long h2[NB1];
  for (int p = 0; p < 2; p++) {
    memset(h2, 0, sizeof h2);
    int nb = 1 << widths[p];
    for (long j = 0; j < n; j++)
      if ((ckey[j] & pmask) == prefix) h2[(ckey[j] >> shifts[p]) & (uint32_t)(nb - 1)]++;
    long ab = 0;
    int b = find_bucket(h2, nb, want, &ab);
    want -= ab;
    prefix |= (uint32_t)b << shifts[p];
    pmask |= (uint32_t)(nb - 1) << shifts[p];
  }
  /* prefix is now the threshold key; `want` equal elements are kept, lowest index first */
  long cut = -1;
  for (long j = 0, seen = 0; j < n; j++)
    if (ckey[j] == prefix && ++seen == want) {
      cut = cidx[j];
      break;
    }
  free(ckey);
  free(cidx);
  if (cut < 0) PST_ERR(PST_ERR_INTERNAL, "top-k: threshold search lost elements");
  thr->key_thr = prefix;
  thr->index_cut = cut;
  return PST_OK;
}

void pst_topk_apply(uint8_t *mask, const float *score, long numel, const pst_topk_threshold *thr) {
  const uint32_t kt = thr->key_thr;
  const long cut = thr->index_cut;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < numel; i++) {
    uint32_t k = pst_score_key(score[i]);
    mask[i] = (uint8_t)(k > kt || (k == kt && i <= cut));
  }
}

pst_err pst_topk_mask(uint8_t *mask, const float *score, long numel, long keep) {
  pst_topk_threshold thr;
  PST_CHECK(pst_topk_select(&thr, score, numel, keep));
  pst_topk_apply(mask, score, numel, &thr);
  return PST_OK;
}
