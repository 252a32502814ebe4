/* topk_shard.c — tensor-parallel exact top-k: the masks of pst_topk_mask, bit for bit, with
 * each layer's score matrix split into rectangles over the ranks of a group.
 *
 * layers[l]: global scores [grows, gcols] (flat index g = r * gcols + c, numel < 2^32); this
 * rank holds [rows, cols] at (row0, col0) and writes the local mask [rows * cols] row-major.
 * Order: the u64 key K = pst_score_key(x) << 32 | ~(u32)g; keys are distinct and the top
 * `keep` are exactly K >= K_thr. Radix select on K, most significant digit first, digits of
 * 12/12/8 bits (score key) then 12/12/8 bits (inverted index):
 *   pass 1:  score() once per layer -> histogram of K >> 52, NaN count, element count;
 *            one group sum_u32 over all layers at once;
 *   gather:  score() again -> top digit above the boundary bucket: mask 1, below: 0, in it:
 *            a per-layer candidate list (K, local index);
 *   pass 2..6: histogram of the next digit over the candidates of the layers still open (one
 *            sum_u32 per pass), then mask 1 above the new boundary, 0 below, the rest stay.
 * A layer closes as soon as its boundary bucket is kept whole (want == its count), so the
 * index digits only run when equal scores straddle the threshold; keep 0 / numel need no
 * histogram. Every decision comes from the summed buffer, so all ranks take the same ones.
 * Each buffer starts with one error flag per code: a local failure (bad shard, score
 * callback, memory) fails every rank with the same code, as does a NaN on any rank; pass 1
 * also sums each layer's local element counts (must add up to grows * gcols) and a
 * fingerprint of (keep, grows, gcols) (must be equal on all ranks), a cheap check that the
 * shards tile the matrix and the ranks agree. The buffer layouts depend only on nlayers and
 * on which layers have keep 0 or numel, so those must agree for the sums to match.
 * Memory: one layer's scores at a time (the caller's `out`) plus the candidates. */
#include "pst/sparsity.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NPASS 6
static const int pass_shift[NPASS] = {52, 40, 32, 20, 8, 0};
static const int pass_bits[NPASS] = {12, 12, 8, 12, 12, 8};
#define MAXBINS 4096
#define HEAD 8          /* buf[c] != 0: some rank failed with code c (1..7) */
#define L1_WORDS 3      /* pass 1, per layer: NaN count, element count, shape check */
#define PAR_MIN 32768   /* loops over fewer elements run on one thread */

typedef struct {
  long n;         /* local elements */
  long numel;     /* global elements */
  int trivial;    /* keep == 0 or keep == numel: no histogram */
  int open;       /* still in the digit passes */
  long want;      /* still to keep among the candidates */
  uint64_t *ck;   /* candidates: key K and local index */
  uint32_t *ci;
  long nc;
} layer_state;

/* b with count(bins > b) < want <= count(bins >= b); *above = count(bins > b); -1 when the
 * histogram holds fewer than want elements. */
static long find_bucket(const uint32_t *h, int nb, long want, long *above) {
  long acc = 0;
  for (int b = nb - 1; b >= 0; b--) {
    if (acc + (long)h[b] >= want) {
      *above = acc;
      return b;
    }
    acc += h[b];
  }
  return -1;
}

static inline uint64_t comp_key(float x, const pst_topk_shard *s, long i) {
  const long r = s->row0 + i / s->cols, c = s->col0 + i % s->cols;
  return (uint64_t)pst_score_key(x) << 32 | (uint32_t) ~(uint32_t)(r * s->gcols + c);
}

/* A cheap fingerprint of what must agree across ranks (keep, shape). */
static uint32_t shape_check(const pst_topk_shard *s) {
  uint64_t v = (uint64_t)s->keep * 0x9E3779B97F4A7C15ull ^ (uint64_t)s->grows * 0xC2B2AE3D27D4EB4Full ^
               (uint64_t)s->gcols * 0x165667B19E3779F9ull;
  return (uint32_t)(v >> 32) ^ (uint32_t)v;
}

/* 0, or the first check a layer's arguments fail: 1 shape, 2 shard, 3 keep, 4 pointers. */
static int shard_fault(const pst_topk_shard *s, const float *out) {
  if (s->grows < 0 || s->gcols < 0 || s->grows > (long)UINT32_MAX || s->gcols > (long)UINT32_MAX ||
      (uint64_t)s->grows * (uint64_t)s->gcols > UINT32_MAX)
    return 1;
  if (s->rows < 0 || s->cols < 0 || s->row0 < 0 || s->col0 < 0 || s->row0 > s->grows - s->rows ||
      s->col0 > s->gcols - s->cols)
    return 2;
  if (s->keep < 0 || s->keep > s->grows * s->gcols) return 3;
  if (s->rows * s->cols > 0 && (!s->mask || !out)) return 4;
  return 0;
}

static void report_fault(int f, const pst_topk_shard *s, int l) {
  if (f == 1)
    pst_err_set(PST_ERR_ARG, __FILE__, __LINE__, __func__,
                "sharded top-k: layer %d: global shape [%ld, %ld] must have < 2^32 elements", l, s->grows, s->gcols);
  else if (f == 2)
    pst_err_set(PST_ERR_ARG, __FILE__, __LINE__, __func__,
                "sharded top-k: layer %d: shard [%ld, %ld] at (%ld, %ld) outside [%ld, %ld]", l, s->rows, s->cols,
                s->row0, s->col0, s->grows, s->gcols);
  else if (f == 3)
    pst_err_set(PST_ERR_ARG, __FILE__, __LINE__, __func__, "sharded top-k: layer %d: keep = %ld outside [0, %ld]",
                l, s->keep, s->grows * s->gcols);
  else
    pst_err_set(PST_ERR_ARG, __FILE__, __LINE__, __func__, "sharded top-k: layer %d: NULL mask or score buffer", l);
}

/* hist[nb] += histogram of (K >> 52) over x[n] (NaN counted in *nan, not binned). */
static void hist_scores(uint32_t *hist, uint32_t *nan, const float *x, long n, uint32_t *tmp, int nt) {
  int used = 1;
  long nans = 0;
#pragma omp parallel num_threads(nt) if (n >= PAR_MIN) reduction(+ : nans)
  {
    const int tid = omp_get_thread_num(), T = omp_get_num_threads();
    if (tid == 0) used = T;
    uint32_t *h = tmp + (size_t)tid * MAXBINS;
    memset(h, 0, MAXBINS * sizeof *h);
    const long lo = n * tid / T, hi = n * (tid + 1) / T;
    for (long i = lo; i < hi; i++) {
      const float v = x[i];
      if (v != v) { nans++; continue; }
      h[pst_score_key(v) >> 20]++;
    }
  }
  for (int t = 0; t < used; t++)
    for (int b = 0; b < MAXBINS; b++) hist[b] += tmp[(size_t)t * MAXBINS + b];
  *nan += (uint32_t)nans;
}

static uint32_t count_nan(const float *x, long n) {
  long nans = 0;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN) reduction(+ : nans)
  for (long i = 0; i < n; i++) nans += x[i] != x[i];
  return (uint32_t)nans;
}

/* hist[nb] += histogram of digit (K >> shift) & (nb - 1) over the candidates. */
static void hist_cands(uint32_t *hist, int nb, int shift, const uint64_t *ck, long nc, uint32_t *tmp, int nt) {
  int used = 1;
#pragma omp parallel num_threads(nt) if (nc >= PAR_MIN)
  {
    const int tid = omp_get_thread_num(), T = omp_get_num_threads();
    if (tid == 0) used = T;
    uint32_t *h = tmp + (size_t)tid * MAXBINS;
    memset(h, 0, (size_t)nb * sizeof *h);
    const long lo = nc * tid / T, hi = nc * (tid + 1) / T;
    for (long j = lo; j < hi; j++) h[(ck[j] >> shift) & (uint64_t)(nb - 1)]++;
  }
  for (int t = 0; t < used; t++)
    for (int b = 0; b < nb; b++) hist[b] += tmp[(size_t)t * MAXBINS + b];
}

/* Whether any of x[64] has top digit b (a fixed-length loop: vectorised). */
static inline int block_has(const float *x, uint32_t b) {
  uint32_t any = 0;
  for (int k = 0; k < 64; k++) any |= (uint32_t)((pst_score_key(x[k]) >> 20) == b);
  return any != 0;
}

/* Gather pass of one layer: mask from the top digit against boundary b; unless the bucket
 * is kept whole (close), its elements become the candidates, in local index order. */
static pst_err gather(layer_state *L, const pst_topk_shard *s, const float *x, uint32_t b, int close, long *cnt,
                      int nt) {
  const long n = L->n;
  uint8_t *mask = s->mask;
  int oom = 0;
  cnt[0] = 0;
#pragma omp parallel num_threads(nt) if (n >= PAR_MIN)
  {
    const int tid = omp_get_thread_num(), T = omp_get_num_threads();
    const long lo = n * tid / T, hi = n * (tid + 1) / T;
    long c = 0;
    if (close) {
      for (long i = lo; i < hi; i++) mask[i] = (uint8_t)((pst_score_key(x[i]) >> 20) >= b);
    } else {
      for (long i = lo; i < hi; i++) {
        const uint32_t d = pst_score_key(x[i]) >> 20;
        mask[i] = (uint8_t)(d > b);
        c += d == b;
      }
    }
    cnt[tid + 1] = c;
#pragma omp barrier
#pragma omp single
    {
      for (int t = 0; t < T; t++) cnt[t + 1] += cnt[t];
      L->nc = cnt[T];
      if (L->nc > 0) {
        L->ck = malloc((size_t)L->nc * sizeof *L->ck);
        L->ci = malloc((size_t)L->nc * sizeof *L->ci);
        oom = !L->ck || !L->ci;
      }
    }
    if (!close && !oom) { /* blocks of 64 without a candidate are skipped by a vector test */
      long w = cnt[tid];
      for (long i0 = lo; i0 < hi && w < cnt[tid + 1]; i0 += 64) {
        const long i1 = i0 + 64 < hi ? i0 + 64 : hi;
        if (i1 - i0 == 64 && !block_has(x + i0, b)) continue;
        for (long i = i0; i < i1 && w < cnt[tid + 1]; i++)
          if ((pst_score_key(x[i]) >> 20) == b) {
            L->ck[w] = comp_key(x[i], s, i);
            L->ci[w++] = (uint32_t)i;
          }
      }
    }
  }
  if (oom) PST_ERR(PST_ERR_MEM, "sharded top-k: out of memory for %ld candidates", L->nc);
  return PST_OK;
}

/* After a digit pass with boundary b: candidates above it -> mask 1; if close, those equal
 * too and the list is dropped; otherwise the ones equal to b stay (in order). */
static pst_err filter(layer_state *L, uint8_t *mask, int shift, int nb, uint32_t b, int close, long *cnt, int nt) {
  const long nc = L->nc;
  const uint64_t dm = (uint64_t)(nb - 1);
  uint64_t *ck = L->ck, *nk = NULL;
  uint32_t *ci = L->ci, *ni = NULL;
  int oom = 0;
  long kept = 0;
  cnt[0] = 0;
#pragma omp parallel num_threads(nt) if (nc >= PAR_MIN)
  {
    const int tid = omp_get_thread_num(), T = omp_get_num_threads();
    const long lo = nc * tid / T, hi = nc * (tid + 1) / T;
    long c = 0;
    for (long j = lo; j < hi; j++) {
      const uint32_t d = (uint32_t)((ck[j] >> shift) & dm);
      if (d > b || (close && d == b)) mask[ci[j]] = 1;
      c += d == b;
    }
    cnt[tid + 1] = c;
    if (!close) {
#pragma omp barrier
#pragma omp single
      {
        for (int t = 0; t < T; t++) cnt[t + 1] += cnt[t];
        kept = cnt[T];
        if (kept > 0) {
          nk = malloc((size_t)kept * sizeof *nk);
          ni = malloc((size_t)kept * sizeof *ni);
          oom = !nk || !ni;
        }
      }
      if (!oom) {
        long w = cnt[tid];
        for (long j = lo; j < hi; j++)
          if ((uint32_t)((ck[j] >> shift) & dm) == b) {
            nk[w] = ck[j];
            ni[w++] = ci[j];
          }
      }
    }
  }
  free(L->ck);
  free(L->ci);
  L->ck = NULL;
  L->ci = NULL;
  L->nc = 0;
  if (close) return PST_OK;
  if (oom) {
    free(nk);
    free(ni);
    PST_ERR(PST_ERR_MEM, "sharded top-k: out of memory for candidates");
  }
  L->ck = nk;
  L->ci = ni;
  L->nc = kept;
  return PST_OK;
}

/* One collective sum (nothing for a single process), then the error flags: the lowest
 * code any rank raised is returned on every rank. lerr: this rank's own error (its message
 * is kept). */
static pst_err sum_and_check(const pst_group *g, uint32_t *buf, long n, pst_err lerr) {
  if (lerr) buf[(lerr >= 1 && lerr < HEAD) ? lerr : HEAD - 1] = 1;
  if (pst_group_active(g)) PST_CHECK(g->sum_u32(g->ctx, buf, n));
  for (int c = 1; c < HEAD; c++)
    if (buf[c]) {
      if (lerr) {
        pst_err_trace(__FILE__, __LINE__, __func__);
        return c;
      }
      PST_ERR(c, "sharded top-k: another rank of the group failed (code %d)", c);
    }
  return PST_OK;
}

pst_err pst_topk_sharded(pst_topk_shard *layers, int nlayers,
                         pst_err (*score)(void *ctx, int layer, float *out), void *ctx, float *out,
                         const pst_group *group) {
  if (nlayers < 0 || (nlayers > 0 && (!layers || !score)))
    PST_ERR(PST_ERR_ARG, "sharded top-k: bad arguments (nlayers = %d)", nlayers);
  if (nlayers == 0) return PST_OK;
  const int nt = omp_get_max_threads();
  const uint32_t gsize = pst_group_active(group) ? (uint32_t)group->size : 1u;
  layer_state *st = calloc((size_t)nlayers, sizeof *st);
  long *off = calloc((size_t)nlayers, sizeof *off);
  uint32_t *tmp = malloc((size_t)nt * MAXBINS * sizeof *tmp);
  long *cnt = malloc(((size_t)nt + 1) * sizeof *cnt);
  uint32_t *buf = NULL;
  pst_err rc = PST_OK, lerr = PST_OK;
  if (!st || !off || !tmp || !cnt) {
    free(st); free(off); free(tmp); free(cnt);
    PST_ERR(PST_ERR_MEM, "sharded top-k: out of memory");
  }

  /* ---- pass 1: layout, validation, histograms of the top digit ---- */
  long len = HEAD;
  for (int l = 0; l < nlayers; l++) {
    const pst_topk_shard *s = &layers[l];
    layer_state *L = &st[l];
    off[l] = len;
    const int bad = shard_fault(s, out);
    if (bad && !lerr) { /* the first bad layer's message */
      report_fault(bad, s, l);
      lerr = PST_ERR_ARG;
    }
    L->n = bad ? 0 : s->rows * s->cols;
    L->numel = bad ? 0 : s->grows * s->gcols;
    /* the layout depends on this flag only, so it must agree across ranks (a bad keep
     * counts as non-trivial: same layout as a good one) */
    L->trivial = !bad && (s->keep == 0 || s->keep == L->numel);
    len += L1_WORDS + (L->trivial ? 0 : MAXBINS);
  }
  buf = calloc((size_t)len, sizeof *buf);
  if (!buf && !lerr) { pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "sharded top-k: out of memory"); lerr = PST_ERR_MEM; }
  if (!buf) goto done; /* cannot take part: the others fail in their own allocation or hang */
  for (int l = 0; l < nlayers && !lerr; l++) {
    const pst_topk_shard *s = &layers[l];
    layer_state *L = &st[l];
    uint32_t *w = buf + off[l];
    if ((lerr = score(ctx, l, out))) {
      pst_err_trace(__FILE__, __LINE__, __func__);
      break;
    }
    if (L->trivial) {
      w[0] = count_nan(out, L->n);
      if (L->n > 0) memset(s->mask, s->keep > 0, (size_t)L->n);
    } else {
      hist_scores(w + L1_WORDS, &w[0], out, L->n, tmp, nt);
    }
    w[1] = (uint32_t)L->n;
    w[2] = shape_check(s);
  }
  if ((rc = sum_and_check(group, buf, len, lerr))) goto done;
  for (int l = 0; l < nlayers; l++) {
    const uint32_t *w = buf + off[l];
    if (w[0]) {
      pst_err_set(PST_ERR_NUMERIC, __FILE__, __LINE__, __func__, "sharded top-k: layer %d: %u of %ld scores are NaN",
                  l, w[0], st[l].numel);
      rc = PST_ERR_NUMERIC;
      goto done;
    }
  }
  for (int l = 0; l < nlayers; l++) {
    const uint32_t *w = buf + off[l];
    if (w[1] != (uint32_t)st[l].numel || w[2] != (uint32_t)((uint64_t)gsize * shape_check(&layers[l]))) {
      pst_err_set(PST_ERR_ARG, __FILE__, __LINE__, __func__,
                  "sharded top-k: layer %d: the shards do not tile [%ld, %ld] once, or keep/shape differ across ranks",
                  l, layers[l].grows, layers[l].gcols);
      rc = PST_ERR_ARG;
      goto done;
    }
  }

  /* ---- boundary of the top digit, then the gather pass ---- */
  for (int l = 0; l < nlayers; l++) { /* decisions for every layer, even after a local error */
    layer_state *L = &st[l];
    if (L->trivial) continue;
    const uint32_t *h = buf + off[l] + L1_WORDS;
    long above = 0;
    const long b = find_bucket(h, MAXBINS, layers[l].keep, &above);
    if (b < 0) {
      pst_err_set(PST_ERR_INTERNAL, __FILE__, __LINE__, __func__, "sharded top-k: layer %d: histogram lost elements", l);
      rc = PST_ERR_INTERNAL;
      goto done;
    }
    L->want = layers[l].keep - above;
    const int close = L->want == (long)h[b];
    L->open = !close;
    if (lerr) continue;
    if ((lerr = score(ctx, l, out)) || (lerr = gather(L, &layers[l], out, (uint32_t)b, close, cnt, nt)))
      pst_err_trace(__FILE__, __LINE__, __func__);
  }

  /* ---- digit passes 2..6 over the candidates of the open layers ---- */
  for (int p = 1; p < NPASS; p++) {
    const int nb = 1 << pass_bits[p], shift = pass_shift[p];
    len = HEAD;
    for (int l = 0; l < nlayers; l++)
      if (st[l].open) {
        off[l] = len;
        len += nb;
      }
    /* pass 2 runs even with no layer open: it carries the gather pass's error flags */
    if (len == HEAD && p > 1) break;
    memset(buf, 0, (size_t)len * sizeof *buf);
    for (int l = 0; l < nlayers && !lerr; l++)
      if (st[l].open) hist_cands(buf + off[l], nb, shift, st[l].ck, st[l].nc, tmp, nt);
    if ((rc = sum_and_check(group, buf, len, lerr))) goto done;
    if (len == HEAD) break;
    for (int l = 0; l < nlayers; l++) {
      layer_state *L = &st[l];
      if (!L->open) continue;
      const uint32_t *h = buf + off[l];
      long above = 0;
      const long b = find_bucket(h, nb, L->want, &above);
      if (b < 0) {
        pst_err_set(PST_ERR_INTERNAL, __FILE__, __LINE__, __func__, "sharded top-k: layer %d: histogram lost elements", l);
        rc = PST_ERR_INTERNAL;
        goto done;
      }
      L->want -= above;
      const int close = L->want == (long)h[b];
      if (!lerr && (lerr = filter(L, layers[l].mask, shift, nb, (uint32_t)b, close, cnt, nt)))
        pst_err_trace(__FILE__, __LINE__, __func__);
      L->open = !close;
    }
  }
  for (int l = 0; l < nlayers; l++)
    if (st[l].open) {
      pst_err_set(PST_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                  "sharded top-k: layer %d: equal keys after all digits (shards overlap?)", l);
      rc = PST_ERR_INTERNAL;
      goto done;
    }
  rc = lerr;

done:
  for (int l = 0; l < nlayers; l++) {
    free(st[l].ck);
    free(st[l].ci);
  }
  free(st);
  free(off);
  free(tmp);
  free(cnt);
  free(buf);
  return rc;
}
