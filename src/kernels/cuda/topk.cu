/* topk.cu — exact top-k on the device: the same threshold as src/sparsity/topk.c, hence the
 * same mask bit for bit (order: pst_score_key(score) desc, flat index asc).
 *
 * Everything stays on the device until the end (one wait, to report NaN):
 *   hist 1  histogram of the high 16 bits of every key (NaN: lowest index kept aside). Per
 *           block in shared memory: 65536 16-bit counters packed in 32768 words (128 KiB), so
 *           a block covers at most 65535 elements; non-zero bins are then added to the global
 *           histogram with atomics. Devices without 128 KiB of shared memory per block use
 *           global atomics directly.
 *   find 1  one block scans the histogram from the top: bucket b1 with count(> b1) < keep <=
 *           count(>= b1); want = keep - count(> b1).
 *   hist 2  the same over the low 16 bits of the keys in bucket b1;
 *   find 2  bucket b2: key_thr = b1 << 16 | b2, want = how many elements equal to key_thr are
 *           kept.
 *   count   elements equal to key_thr per chunk of 4096 indices;
 *   cut     one block finds the chunk holding the want-th equal element (in index order), then
 *           that element inside it: index_cut.
 *   apply   mask[i] = key > key_thr || (key == key_thr && i <= index_cut).
 * keep = 0: key_thr = UINT32_MAX, index_cut = -1 (as on the CPU). */
#include <stdint.h>

#include "common.h"

#define TK_BINS 65536
#define TK_WORDS (TK_BINS / 2)
#define TK_SMEM_BYTES (TK_WORDS * 4)
#define TK_HIST_BLOCK 1024
#define TK_MAX_CHUNK 65535L /* 16-bit counters per block */
#define TK_FIND_BLOCK 1024
#define TK_CUT_CHUNK 4096L
#define TK_CUT_BLOCK 256
#define TK_NONE 0xffffffffffffffffull

struct topk_ctl {
  unsigned long long nan_at; /* lowest NaN index or TK_NONE */
  long long keep;
  long long want;            /* after find 1: how many to take from bucket b1; after find 2: of key_thr */
  long long cut;             /* index_cut, -1: none */
  unsigned b1, key_thr;
  unsigned done;             /* 1: the threshold is final (keep = 0 or NaN) */
  unsigned pad;
};

__global__ void k_tk_init(topk_ctl *c, long long keep) {
  c->nan_at = TK_NONE;
  c->keep = keep;
  c->want = 0;
  c->cut = -1;
  c->b1 = 0;
  c->key_thr = 0xffffffffu;
  c->done = 0;
  c->pad = 0;
}

/* Digit of score x for pass PASS (1: high half of every key; 2: low half of keys in b1). */
template <int PASS>
__device__ __forceinline__ bool tk_digit(float x, unsigned b1, unsigned *d) {
  const unsigned k = pst_cu_score_key(x);
  if (PASS == 1) {
    *d = k >> 16;
    return true;
  }
  if ((k >> 16) != b1) return false;
  *d = k & 0xffffu;
  return true;
}

template <int PASS>
__global__ void __launch_bounds__(TK_HIST_BLOCK) k_tk_hist_smem(const float *score, long numel, long chunk,
                                                               unsigned *hist, topk_ctl *c) {
  extern __shared__ unsigned tk_sh[]; /* TK_WORDS words, two 16-bit counters each */
  if (PASS == 2 && c->done) return;    /* uniform over the grid */
  const unsigned b1 = PASS == 2 ? c->b1 : 0u;
  for (int w = threadIdx.x; w < TK_WORDS; w += blockDim.x) tk_sh[w] = 0u;
  __syncthreads();
  const long lo = (long)blockIdx.x * chunk, hi = min(numel, lo + chunk);
  unsigned long long my_nan = TK_NONE;
  for (long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const float x = score[i];
    if (x != x) {
      if ((unsigned long long)i < my_nan) my_nan = (unsigned long long)i;
      continue;
    }
    unsigned d;
    if (tk_digit<PASS>(x, b1, &d)) atomicAdd(&tk_sh[d >> 1], 1u << ((d & 1u) * 16u));
  }
  if (PASS == 1 && my_nan != TK_NONE) atomicMin(&c->nan_at, my_nan);
  __syncthreads();
  for (int w = threadIdx.x; w < TK_WORDS; w += blockDim.x) {
    const unsigned v = tk_sh[w];
    if (v & 0xffffu) atomicAdd(&hist[2 * w], v & 0xffffu);
    if (v >> 16) atomicAdd(&hist[2 * w + 1], v >> 16);
  }
}

template <int PASS>
__global__ void k_tk_hist_global(const float *score, long numel, unsigned *hist, topk_ctl *c) {
  if (PASS == 2 && c->done) return;
  const unsigned b1 = PASS == 2 ? c->b1 : 0u;
  unsigned long long my_nan = TK_NONE;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < numel; i += (long)gridDim.x * blockDim.x) {
    const float x = score[i];
    if (x != x) {
      if ((unsigned long long)i < my_nan) my_nan = (unsigned long long)i;
      continue;
    }
    unsigned d;
    if (tk_digit<PASS>(x, b1, &d)) atomicAdd(&hist[d], 1u);
  }
  if (PASS == 1 && my_nan != TK_NONE) atomicMin(&c->nan_at, my_nan);
}

/* One block of TK_FIND_BLOCK threads; thread t owns the 64 bins [65535 - 64t - 63, 65535 - 64t]
 * (positions q = 64t .. 64t + 63 counted from the top). */
template <int PASS>
__global__ void __launch_bounds__(TK_FIND_BLOCK) k_tk_find(const unsigned *hist, topk_ctl *c) {
  if (PASS == 1) {
    if (c->nan_at != TK_NONE || c->keep == 0) { /* uniform */
      if (threadIdx.x == 0) {
        c->done = 1;
        c->key_thr = 0xffffffffu;
        c->cut = -1;
      }
      return;
    }
  } else if (c->done) {
    return;
  }
  const long long want = PASS == 1 ? c->keep : c->want; /* >= 1; read before the scan's barriers */
  const int per = TK_BINS / TK_FIND_BLOCK;
  const int q0 = threadIdx.x * per;
  unsigned long long s = 0;
  for (int q = q0; q < q0 + per; q++) s += hist[TK_BINS - 1 - q];
  unsigned long long total;
  const unsigned long long before = pst_block_excl_scan(s, &total);
  if ((long long)before < want && (long long)(before + s) >= want) { /* exactly one thread */
    unsigned long long acc = before;
    for (int q = q0; q < q0 + per; q++) {
      const unsigned b = (unsigned)(TK_BINS - 1 - q);
      const unsigned h = hist[b];
      if ((long long)(acc + h) >= want) {
        if (PASS == 1) {
          c->b1 = b;
        } else {
          c->key_thr = (c->b1 << 16) | b;
        }
        c->want = want - (long long)acc;
        break;
      }
      acc += h;
    }
  }
}

/* cnt[chunk] = number of elements of the chunk whose key equals key_thr. */
__global__ void __launch_bounds__(TK_CUT_BLOCK) k_tk_count_eq(const float *score, long numel, const topk_ctl *c,
                                                              unsigned *cnt) {
  if (c->done) return;
  const unsigned kt = c->key_thr;
  const long lo = (long)blockIdx.x * TK_CUT_CHUNK, hi = min(numel, lo + TK_CUT_CHUNK);
  unsigned long long n = 0;
  for (long i = lo + threadIdx.x; i < hi; i += blockDim.x) n += pst_cu_score_key(score[i]) == kt;
  unsigned long long total;
  (void)pst_block_excl_scan(n, &total);
  if (threadIdx.x == 0) cnt[blockIdx.x] = (unsigned)total;
}

/* One block: index of the want-th element (index order) whose key equals key_thr. */
__global__ void __launch_bounds__(TK_FIND_BLOCK) k_tk_cut(const float *score, long numel, topk_ctl *c,
                                                          const unsigned *cnt, long nch) {
  __shared__ long long s_chunk, s_rem;
  if (c->done) return;
  const long long want = c->want;
  const unsigned kt = c->key_thr;
  if (threadIdx.x == 0) s_chunk = -1;
  __syncthreads();
  unsigned long long base = 0;
  for (long t0 = 0; t0 < nch; t0 += blockDim.x) {
    const long ch = t0 + threadIdx.x;
    const unsigned long long v = ch < nch ? cnt[ch] : 0ull;
    unsigned long long tot;
    const unsigned long long ex = pst_block_excl_scan(v, &tot);
    if ((long long)(base + ex) < want && (long long)(base + ex + v) >= want) {
      s_chunk = ch;
      s_rem = want - (long long)(base + ex);
    }
    __syncthreads();
    if (s_chunk >= 0) break; /* uniform */
    base += tot;
  }
  if (s_chunk < 0) return; /* lost elements: cut stays -1, the host reports it */
  const long lo = (long)s_chunk * TK_CUT_CHUNK, hi = min(numel, lo + TK_CUT_CHUNK);
  const long long rem = s_rem;
  unsigned long long seen = 0;
  for (long i0 = lo; i0 < hi; i0 += blockDim.x) {
    const long i = i0 + threadIdx.x;
    const unsigned long long f = (i < hi && pst_cu_score_key(score[i]) == kt) ? 1ull : 0ull;
    unsigned long long tot;
    const unsigned long long ex = pst_block_excl_scan(f, &tot);
    if (f && (long long)(seen + ex + 1) == rem) c->cut = i;
    if ((long long)(seen + tot) >= rem) break; /* uniform */
    seen += tot;
  }
}

__global__ void k_tk_apply(uint8_t *mask, const float *score, long numel, const topk_ctl *c) {
  if (c->nan_at != TK_NONE) return; /* the mask stays untouched, as on the CPU */
  const unsigned kt = c->key_thr;
  const long long cut = c->cut;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < numel; i += (long)gridDim.x * blockDim.x) {
    const unsigned k = pst_cu_score_key(score[i]);
    mask[i] = (uint8_t)(k > kt || (k == kt && (long long)i <= cut));
  }
}

extern "C" pst_err pst_cuda_topk_mask(pst_cuda_ctx *ctx, uint8_t *mask, const float *score, long numel, long keep,
                                      pst_topk_threshold *thr) {
  if (keep < 0 || keep > numel) PST_ERR(PST_ERR_ARG, "top-k: keep = %ld outside [0, %ld]", keep, numel);
  if (numel > (long)UINT32_MAX) PST_ERR(PST_ERR_ARG, "top-k: %ld scores exceed 2^32", numel);
  if (numel == 0) {
    if (thr) {
      thr->key_thr = UINT32_MAX;
      thr->index_cut = -1;
    }
    return PST_OK;
  }
  const long nch = (numel + TK_CUT_CHUNK - 1) / TK_CUT_CHUNK;
  const size_t ctl_bytes = 256, hist_bytes = (size_t)TK_BINS * sizeof(unsigned);
  void *ws;
  PST_CHECK(pst_cu_workspace(ctx, ctl_bytes + 2 * hist_bytes + (size_t)nch * sizeof(unsigned), &ws));
  topk_ctl *c = (topk_ctl *)ws;
  unsigned *hist1 = (unsigned *)((char *)ws + ctl_bytes), *hist2 = hist1 + TK_BINS, *cnt = hist2 + TK_BINS;
  void *pin;
  PST_CHECK(pst_cu_pinned(ctx, sizeof(topk_ctl), &pin));
  cudaStream_t st = ctx->stream;
  PST_CU(cudaMemsetAsync(hist1, 0, 2 * hist_bytes, st), "top-k (clear histograms)");
  k_tk_init<<<1, 1, 0, st>>>(c, keep);
  PST_CU_LAUNCHED("top-k (init)");
  const int smem = ctx->smem_optin >= (size_t)TK_SMEM_BYTES;
  long chunk = 0;
  unsigned hblocks = 0;
  if (smem) {
    PST_CU(cudaFuncSetAttribute(k_tk_hist_smem<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, TK_SMEM_BYTES),
           "top-k (shared memory)");
    PST_CU(cudaFuncSetAttribute(k_tk_hist_smem<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, TK_SMEM_BYTES),
           "top-k (shared memory)");
    /* about one block per SM (128 KiB each), at most 65535 elements per block */
    chunk = (numel + ctx->sm_count - 1) / ctx->sm_count;
    if (chunk < 16384) chunk = 16384;
    if (chunk > TK_MAX_CHUNK) chunk = TK_MAX_CHUNK;
    hblocks = (unsigned)((numel + chunk - 1) / chunk);
  }
  const unsigned eblocks = pst_cu_grid(ctx, numel, 256);
  if (smem)
    k_tk_hist_smem<1><<<hblocks, TK_HIST_BLOCK, TK_SMEM_BYTES, st>>>(score, numel, chunk, hist1, c);
  else
    k_tk_hist_global<1><<<eblocks, 256, 0, st>>>(score, numel, hist1, c);
  PST_CU_LAUNCHED("top-k (histogram 1)");
  k_tk_find<1><<<1, TK_FIND_BLOCK, 0, st>>>(hist1, c);
  PST_CU_LAUNCHED("top-k (bucket 1)");
  if (smem)
    k_tk_hist_smem<2><<<hblocks, TK_HIST_BLOCK, TK_SMEM_BYTES, st>>>(score, numel, chunk, hist2, c);
  else
    k_tk_hist_global<2><<<eblocks, 256, 0, st>>>(score, numel, hist2, c);
  PST_CU_LAUNCHED("top-k (histogram 2)");
  k_tk_find<2><<<1, TK_FIND_BLOCK, 0, st>>>(hist2, c);
  PST_CU_LAUNCHED("top-k (bucket 2)");
  k_tk_count_eq<<<(unsigned)nch, TK_CUT_BLOCK, 0, st>>>(score, numel, c, cnt);
  PST_CU_LAUNCHED("top-k (ties)");
  k_tk_cut<<<1, TK_FIND_BLOCK, 0, st>>>(score, numel, c, cnt, nch);
  PST_CU_LAUNCHED("top-k (index cut)");
  k_tk_apply<<<eblocks, 256, 0, st>>>(mask, score, numel, c);
  PST_CU_LAUNCHED("top-k (mask)");
  PST_CU(cudaMemcpyAsync(pin, c, sizeof(topk_ctl), cudaMemcpyDeviceToHost, st), "top-k (status)");
  PST_CU(cudaStreamSynchronize(st), "top-k");
  const topk_ctl *h = (const topk_ctl *)pin;
  if (h->nan_at != TK_NONE)
    PST_ERR(PST_ERR_NUMERIC, "top-k: score %llu of %ld is NaN", (unsigned long long)h->nan_at, numel);
  if (!h->done && h->cut < 0) PST_ERR(PST_ERR_INTERNAL, "top-k: threshold search lost elements");
  if (thr) {
    thr->key_thr = h->key_thr;
    thr->index_cut = (long)h->cut;
  }
  return PST_OK;
}
