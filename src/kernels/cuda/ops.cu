/* ops.cu — the CUDA twins of the CPU kernels (src/kernels/cpu) and src/train/adamw.c (see cuda.h).
 *
 * Float expressions are the CPU's, in the CPU's order; this file is compiled with -fmad=false
 * (no a*b+c contraction), and the AdamW update spells its operations with __f*_rn, so those
 * element-wise results equal the CPU's bit for bit; expf/erff/tanhf are CUDA's (within 2 ulp),
 * not glibc's. Reductions (layernorm statistics, softmax and loss sums) accumulate in double as
 * the CPU does, in a fixed order (warp butterflies, per-chunk partials summed in chunk order):
 * deterministic, and within ~1e-15 relative of the CPU's double sums before the final
 * rounding to float. */
#include <math.h>

#include "common.h"

#define ELT_BLOCK 256

/* ---- embedding (forward only: PST keeps the embeddings frozen) ------------------------- */

__global__ void k_embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids, const float *tok,
                                    const float *pos, const float *type, long N, int T, int C) {
  const long total = N * C;
  for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
    const long n = e / C;
    const int c = (int)(e % C);
    const float t = tok[(size_t)ids[n] * C + c], p = pos[(size_t)(n % T) * C + c];
    if (type) {
      const float y = type[(size_t)(type_ids ? type_ids[n] : 0) * C + c];
      out[e] = __fadd_rn(__fadd_rn(t, p), y);
    } else {
      out[e] = __fadd_rn(t, p);
    }
  }
}

extern "C" pst_err pst_cuda_embedding_forward(pst_cuda_ctx *ctx, float *out, const int32_t *ids,
                                              const int32_t *type_ids, const float *tok, const float *pos,
                                              const float *type, int B, int T, int C) {
  const long N = (long)B * T;
  if (N <= 0 || C <= 0) return PST_OK;
  k_embedding_forward<<<pst_cu_grid(ctx, N * C, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(out, ids, type_ids, tok,
                                                                                       pos, type, N, T, C);
  PST_CU_LAUNCHED("embedding_forward");
  return PST_OK;
}

/* ---- layernorm -------------------------------------------------------------------------- */

#define LN_BLOCK 256
#define LN_ROWS_PER_CHUNK 32

/* One block per row: the statistics as layernorm.c (double sums, two passes). */
__global__ void __launch_bounds__(LN_BLOCK) k_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                                                const float *w, const float *b, int C, float eps) {
  __shared__ double sh[32];
  const long n = blockIdx.x;
  const float *x = inp + n * C;
  float *o = out + n * C;
  double s = 0.0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c];
  s = pst_block_sum(s, sh);
  const double m = s / C;
  double v = 0.0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const double d = x[c] - m;
    v += d * d;
  }
  v = pst_block_sum(v, sh);
  v /= C;
  const float mf = (float)m;
  const float rf = (float)(1.0 / sqrt(v + (double)eps));
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    o[c] = __fadd_rn(__fmul_rn(__fmul_rn((float)(x[c] - m), rf), w[c]), b[c]);
  if (threadIdx.x == 0) {
    if (mean) mean[n] = mf;
    if (rstd) rstd[n] = rf;
  }
}

__global__ void __launch_bounds__(LN_BLOCK) k_layernorm_backward_dinp(float *dinp, const float *dout, const float *inp,
                                                                      const float *w, const float *mean,
                                                                      const float *rstd, int C) {
  __shared__ double sh[32];
  const long n = blockIdx.x;
  const float *x = inp + n * C, *g = dout + n * C;
  float *dx = dinp + n * C;
  const float m = mean[n], r = rstd[n];
  double sg = 0.0, sgx = 0.0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float gw = __fmul_rn(g[c], w[c]);
    sg += gw;
    sgx += (double)gw * (double)__fmul_rn(__fsub_rn(x[c], m), r);
  }
  sg = pst_block_sum(sg, sh);
  sgx = pst_block_sum(sgx, sh);
  const float mg = (float)(sg / C), mgx = (float)(sgx / C);
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float xhat = __fmul_rn(__fsub_rn(x[c], m), r);
    const float t = __fsub_rn(__fsub_rn(__fmul_rn(g[c], w[c]), mg), __fmul_rn(xhat, mgx));
    dx[c] = __fadd_rn(dx[c], __fmul_rn(r, t));
  }
}

/* dw/db partials: chunk ch of LN_ROWS_PER_CHUNK rows, column c, summed in row order. */
__global__ void k_layernorm_backward_dwdb_part(double *pw, double *pb, const float *dout, const float *inp,
                                               const float *mean, const float *rstd, int N, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int ch = blockIdx.y;
  if (c >= C) return;
  const int n0 = ch * LN_ROWS_PER_CHUNK, n1 = min(N, n0 + LN_ROWS_PER_CHUNK);
  double aw = 0.0, ab = 0.0;
  for (int n = n0; n < n1; n++) {
    const float g = dout[(size_t)n * C + c], x = inp[(size_t)n * C + c];
    aw += (double)g * (double)__fmul_rn(__fsub_rn(x, mean[n]), rstd[n]);
    ab += g;
  }
  pw[(size_t)ch * C + c] = aw;
  pb[(size_t)ch * C + c] = ab;
}

__global__ void k_layernorm_backward_dwdb_sum(float *dw, float *db, const double *pw, const double *pb, int nch,
                                              int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double aw = 0.0, ab = 0.0;
  for (int ch = 0; ch < nch; ch++) {
    aw += pw[(size_t)ch * C + c];
    ab += pb[(size_t)ch * C + c];
  }
  if (dw) dw[c] = __fadd_rn(dw[c], (float)aw);
  if (db) db[c] = __fadd_rn(db[c], (float)ab);
}

extern "C" pst_err pst_cuda_layernorm_forward(pst_cuda_ctx *ctx, float *out, float *mean, float *rstd,
                                              const float *inp, const float *w, const float *b, int N, int C,
                                              float eps) {
  if (N <= 0 || C <= 0) return PST_OK;
  k_layernorm_forward<<<N, LN_BLOCK, 0, ctx->stream>>>(out, mean, rstd, inp, w, b, C, eps);
  PST_CU_LAUNCHED("layernorm_forward");
  return PST_OK;
}

extern "C" pst_err pst_cuda_layernorm_backward(pst_cuda_ctx *ctx, float *dinp, float *dw, float *db,
                                               const float *dout, const float *inp, const float *w,
                                               const float *mean, const float *rstd, int N, int C) {
  if (N <= 0 || C <= 0) return PST_OK;
  if (dinp) {
    k_layernorm_backward_dinp<<<N, LN_BLOCK, 0, ctx->stream>>>(dinp, dout, inp, w, mean, rstd, C);
    PST_CU_LAUNCHED("layernorm_backward (dinp)");
  }
  if (dw || db) {
    const int nch = (N + LN_ROWS_PER_CHUNK - 1) / LN_ROWS_PER_CHUNK;
    void *ws;
    PST_CHECK(pst_cu_workspace(ctx, (size_t)2 * nch * C * sizeof(double), &ws));
    double *pw = (double *)ws, *pb = pw + (size_t)nch * C;
    dim3 grid((C + 127) / 128, nch);
    k_layernorm_backward_dwdb_part<<<grid, 128, 0, ctx->stream>>>(pw, pb, dout, inp, mean, rstd, N, C);
    PST_CU_LAUNCHED("layernorm_backward (dw, db partials)");
    k_layernorm_backward_dwdb_sum<<<(C + 127) / 128, 128, 0, ctx->stream>>>(dw, db, pw, pb, nch, C);
    PST_CU_LAUNCHED("layernorm_backward (dw, db)");
  }
  return PST_OK;
}

/* ---- matmul (cuBLAS) --------------------------------------------------------------------- */

__global__ void k_fill_rows(float *out, const float *row, long N, int M) {
  const long total = N * M;
  for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x)
    out[e] = row[e % M];
}

/* dbias[m] += sum_n dout[n,m] (double, row order; one thread per column). */
__global__ void k_colsum_add(float *dbias, const float *dout, int N, int M) {
  const int m = blockIdx.x * blockDim.x + threadIdx.x;
  if (m >= M) return;
  double acc = 0.0;
  for (int n = 0; n < N; n++) acc += dout[(size_t)n * M + m];
  dbias[m] = __fadd_rn(dbias[m], (float)acc);
}

extern "C" pst_err pst_cuda_matmul_forward(pst_cuda_ctx *ctx, float *out, const float *inp, const float *w,
                                           const float *bias, int N, int K, int M) {
  if (N <= 0 || M <= 0) return PST_OK;
  if (bias) {
    k_fill_rows<<<pst_cu_grid(ctx, (long)N * M, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(out, bias, N, M);
    PST_CU_LAUNCHED("matmul_forward (bias)");
  } else if (K <= 0) {
    PST_CHECK(pst_cuda_zero(ctx, out, (size_t)N * M * sizeof(float)));
  }
  if (K <= 0) return PST_OK;
  PST_CHECK(pst_cu_gemm(ctx, 0, 1, N, M, K, 1.0f, inp, K, w, K, bias ? 1.0f : 0.0f, out, M, 0));
  return PST_OK;
}

extern "C" pst_err pst_cuda_matmul_backward(pst_cuda_ctx *ctx, float *dinp, float *dw, float *dbias,
                                            const float *dout, const float *inp, const float *w, int N, int K,
                                            int M) {
  if (N <= 0 || M <= 0) return PST_OK;
  if (K > 0) {
    if (dinp) PST_CHECK(pst_cu_gemm(ctx, 0, 0, N, K, M, 1.0f, dout, M, w, K, 1.0f, dinp, K, 0));
    if (dw) PST_CHECK(pst_cu_gemm(ctx, 1, 0, M, K, N, 1.0f, dout, M, inp, K, 1.0f, dw, K, 0));
  }
  if (dbias) {
    /* one thread per column walks the rows: coalesced across the warp; N is the token count */
    k_colsum_add<<<(M + 127) / 128, 128, 0, ctx->stream>>>(dbias, dout, N, M);
    PST_CU_LAUNCHED("matmul_backward (dbias)");
  }
  return PST_OK;
}

/* ---- activations (activation.c's expressions) ------------------------------------------ */

#define GELU_SQRT1_2 0.70710678118654752440f
#define GELU_INV_SQRT_2PI 0.39894228040143267794f
#define GELU_SQRT_2_PI 0.79788456080286535588f
#define GELU_KAPPA 0.044715f

__global__ void k_gelu_forward(float *out, const float *inp, long n, int tanh_form) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const float x = inp[i];
    if (tanh_form) {
      const float u = GELU_SQRT_2_PI * (x + GELU_KAPPA * x * x * x);
      out[i] = x / (1.0f + expf(-2.0f * u));
    } else {
      out[i] = 0.5f * x * (1.0f + erff(x * GELU_SQRT1_2));
    }
  }
}

__global__ void k_gelu_backward(float *dinp, const float *inp, const float *dout, long n, int tanh_form) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
    const float x = inp[i];
    if (tanh_form) {
      const float x2 = x * x;
      const float e = expf(-2.0f * GELU_SQRT_2_PI * (x + GELU_KAPPA * x2 * x));
      const float s = 1.0f / (1.0f + e);
      const float om = e > 1.0f ? 1.0f - s : e * s;
      const float dright = 2.0f * x * s * om * GELU_SQRT_2_PI * (1.0f + 3.0f * GELU_KAPPA * x2);
      dinp[i] += dout[i] * (s + dright);
    } else {
      const float cdf = 0.5f * (1.0f + erff(x * GELU_SQRT1_2));
      const float pdf = GELU_INV_SQRT_2PI * expf(-0.5f * x * x);
      dinp[i] += dout[i] * (cdf + x * pdf);
    }
  }
}

__global__ void k_tanh_forward(float *out, const float *inp, long n) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
    out[i] = tanhf(inp[i]);
}

__global__ void k_tanh_backward(float *dinp, const float *out, const float *dout, long n) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
    dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

extern "C" pst_err pst_cuda_gelu_forward(pst_cuda_ctx *ctx, float *out, const float *inp, long n,
                                         pst_gelu_kind kind) {
  if (n <= 0) return PST_OK;
  k_gelu_forward<<<pst_cu_grid(ctx, n, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(out, inp, n, kind == PST_GELU_TANH);
  PST_CU_LAUNCHED("gelu_forward");
  return PST_OK;
}

extern "C" pst_err pst_cuda_gelu_backward(pst_cuda_ctx *ctx, float *dinp, const float *inp, const float *dout, long n,
                                          pst_gelu_kind kind) {
  if (!dinp || n <= 0) return PST_OK;
  k_gelu_backward<<<pst_cu_grid(ctx, n, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(dinp, inp, dout, n,
                                                                               kind == PST_GELU_TANH);
  PST_CU_LAUNCHED("gelu_backward");
  return PST_OK;
}

extern "C" pst_err pst_cuda_tanh_forward(pst_cuda_ctx *ctx, float *out, const float *inp, long n) {
  if (n <= 0) return PST_OK;
  k_tanh_forward<<<pst_cu_grid(ctx, n, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(out, inp, n);
  PST_CU_LAUNCHED("tanh_forward");
  return PST_OK;
}

extern "C" pst_err pst_cuda_tanh_backward(pst_cuda_ctx *ctx, float *dinp, const float *out, const float *dout,
                                          long n) {
  if (!dinp || n <= 0) return PST_OK;
  k_tanh_backward<<<pst_cu_grid(ctx, n, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(dinp, out, dout, n);
  PST_CU_LAUNCHED("tanh_backward");
  return PST_OK;
}

/* ---- attention (cuBLAS strided-batched products per sequence + warp-per-row softmax) ----- */

#define ROW_WARPS 8 /* warps (rows) per block of the row kernels */

/* attention.c's softmax_row on row r of probs (one warp). */
__global__ void __launch_bounds__(ROW_WARPS * 32) k_attn_softmax(float *probs, const uint8_t *key_mask, int causal,
                                                                  long rows, int T, int NH) {
  const long r = (long)blockIdx.x * ROW_WARPS + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return; /* whole warps leave together */
  const long bh = r / T;
  const int i = (int)(r % T), b = (int)(bh / NH);
  float *p = probs + r * T;
  const uint8_t *km = key_mask ? key_mask + (size_t)b * T : NULL;
  const int jend = causal ? i + 1 : T;
  float mx = -__int_as_float(0x7f800000);
  int any = 0;
  for (int j = lane; j < jend; j += 32) {
    if (km && !km[j]) continue;
    if (p[j] > mx) mx = p[j];
    any = 1;
  }
  mx = pst_warp_max(mx);
  any = __any_sync(PST_FULL_MASK, any);
  if (!any) {
    for (int j = lane; j < T; j += 32) p[j] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int j = lane; j < jend; j += 32) {
    if (km && !km[j]) {
      p[j] = 0.0f;
      continue;
    }
    const float e = expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  for (int j = jend + lane; j < T; j += 32) p[j] = 0.0f;
  sum = pst_warp_sum(sum);
  const float inv = (float)(1.0 / sum);
  for (int j = lane; j < jend; j += 32) p[j] *= inv;
}

/* attention_backward's row step: d = p * (d - sum_j p d) (one warp per row). */
__global__ void __launch_bounds__(ROW_WARPS * 32) k_attn_dsoftmax(float *ds, const float *P, long rows, int T) {
  const long r = (long)blockIdx.x * ROW_WARPS + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  const float *p = P + r * T;
  float *d = ds + r * T;
  double s = 0.0;
  for (int j = lane; j < T; j += 32) s += (double)p[j] * (double)d[j];
  s = pst_warp_sum(s);
  const float sf = (float)s;
  for (int j = lane; j < T; j += 32) d[j] = p[j] * (d[j] - sf);
}

extern "C" pst_err pst_cuda_attention_forward(pst_cuda_ctx *ctx, float *out, float *probs, const float *q,
                                              const float *k, const float *v, const uint8_t *key_mask, int causal,
                                              int B, int T, int C, int NH) {
  if (B <= 0 || T <= 0 || C <= 0 || NH <= 0) return PST_OK;
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const long long TT = (long long)T * T;
  for (int b = 0; b < B; b++) { /* the NH heads of sequence b: column offsets h*hs */
    const size_t base = (size_t)b * T * C;
    PST_CHECK(pst_cu_gemm_batched(ctx, 0, 1, T, T, hs, scale, q + base, C, hs, k + base, C, hs, 0.0f,
                                  probs + (size_t)b * NH * TT, T, TT, NH, 0));
  }
  const long rows = (long)B * NH * T;
  k_attn_softmax<<<(unsigned)((rows + ROW_WARPS - 1) / ROW_WARPS), ROW_WARPS * 32, 0, ctx->stream>>>(
      probs, key_mask, causal, rows, T, NH);
  PST_CU_LAUNCHED("attention_forward (softmax)");
  for (int b = 0; b < B; b++) {
    const size_t base = (size_t)b * T * C;
    PST_CHECK(pst_cu_gemm_batched(ctx, 0, 0, T, hs, T, 1.0f, probs + (size_t)b * NH * TT, T, TT, v + base, C, hs,
                                  0.0f, out + base, C, hs, NH, 0));
  }
  return PST_OK;
}

extern "C" pst_err pst_cuda_attention_backward(pst_cuda_ctx *ctx, float *dq, float *dk, float *dv,
                                               const float *dout, const float *probs, const float *q,
                                               const float *k, const float *v, int B, int T, int C, int NH) {
  if (!dq && !dk && !dv) return PST_OK;
  if (B <= 0 || T <= 0 || C <= 0 || NH <= 0) return PST_OK;
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const long long TT = (long long)T * T;
  if (dv)
    for (int b = 0; b < B; b++) {
      const size_t base = (size_t)b * T * C;
      PST_CHECK(pst_cu_gemm_batched(ctx, 1, 0, T, hs, T, 1.0f, probs + (size_t)b * NH * TT, T, TT, dout + base, C,
                                    hs, 1.0f, dv + base, C, hs, NH, 0));
    }
  if (!dq && !dk) return PST_OK;
  void *ws;
  PST_CHECK(pst_cu_workspace(ctx, (size_t)NH * TT * sizeof(float), &ws));
  float *ds = (float *)ws; /* [NH, T, T] of one sequence */
  const long rows = (long)NH * T;
  for (int b = 0; b < B; b++) {
    const size_t base = (size_t)b * T * C;
    const float *P = probs + (size_t)b * NH * TT;
    PST_CHECK(pst_cu_gemm_batched(ctx, 0, 1, T, T, hs, 1.0f, dout + base, C, hs, v + base, C, hs, 0.0f, ds, T, TT,
                                  NH, 0));
    k_attn_dsoftmax<<<(unsigned)((rows + ROW_WARPS - 1) / ROW_WARPS), ROW_WARPS * 32, 0, ctx->stream>>>(ds, P, rows,
                                                                                                       T);
    PST_CU_LAUNCHED("attention_backward (softmax)");
    if (dq)
      PST_CHECK(pst_cu_gemm_batched(ctx, 0, 0, T, hs, T, scale, ds, T, TT, k + base, C, hs, 1.0f, dq + base, C, hs,
                                    NH, 0));
    if (dk)
      PST_CHECK(pst_cu_gemm_batched(ctx, 1, 0, T, hs, T, scale, ds, T, TT, q + base, C, hs, 1.0f, dk + base, C, hs,
                                    NH, 0));
  }
  return PST_OK;
}

/* ---- losses (loss.c) --------------------------------------------------------------------- */

#define CE_BLOCK 256

/* Row maximum and sum_j exp(x_j - max) (double), and optionally sum_j x_j (double). */
__device__ void ce_row_stats(const float *x, int V, float *mx_out, double *se_out, double *sx_out, float *shf,
                             double *shd) {
  float mx = -__int_as_float(0x7f800000);
  for (int j = threadIdx.x; j < V; j += blockDim.x)
    if (x[j] > mx) mx = x[j];
  mx = pst_block_max(mx, shf);
  double se = 0.0, sx = 0.0;
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    se += expf(x[j] - mx);
    if (sx_out) sx += x[j];
  }
  se = pst_block_sum(se, shd);
  if (sx_out) *sx_out = pst_block_sum(sx, shd);
  *mx_out = mx;
  *se_out = se;
}

/* loss_row[n] = w_n l_n (0 for rows with w_n = 0). */
__global__ void __launch_bounds__(CE_BLOCK) k_ce_rows(double *loss_row, const float *logits, const int32_t *targets,
                                                      const float *weights, int V, float ls) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const long n = blockIdx.x;
  const float w = weights ? weights[n] : 1.0f;
  if (w == 0.0f) { /* uniform over the block */
    if (threadIdx.x == 0) loss_row[n] = 0.0;
    return;
  }
  const float *x = logits + n * V;
  float mx;
  double se, sx = 0.0;
  ce_row_stats(x, V, &mx, &se, ls != 0.0f ? &sx : NULL, shf, shd);
  if (threadIdx.x == 0) {
    const double lse = (double)mx + log(se);
    double l = (1.0 - (double)ls) * (lse - (double)x[targets[n]]);
    if (ls != 0.0f) l += (double)ls * (lse - sx / V);
    loss_row[n] = (double)w * l;
  }
}

/* out[0] = sum(a[0..n)) (double, fixed order), out[1] = sum of weights (n if NULL). One block. */
__global__ void __launch_bounds__(1024) k_sum_rows(double *out, const double *a, const float *weights, int n) {
  __shared__ double sh[32];
  double s = 0.0, w = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    if (a) s += a[i];
    w += weights ? (double)weights[i] : 1.0;
  }
  s = pst_block_sum(s, sh);
  w = pst_block_sum(w, sh);
  if (threadIdx.x == 0) {
    out[0] = s;
    out[1] = w;
  }
}

__global__ void k_ce_finish(double *d_loss, const double *sums) {
  const double W = sums[1];
  *d_loss = W == 0.0 ? 0.0 : sums[0] / W;
}

__global__ void __launch_bounds__(CE_BLOCK) k_ce_backward(float *dlogits, const float *logits, const int32_t *targets,
                                                          const float *weights, const double *sums, int V, float ls,
                                                          float dloss) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const double W = sums[1];
  if (W == 0.0) return;
  const long n = blockIdx.x;
  const float w = weights ? weights[n] : 1.0f;
  if (w == 0.0f) return;
  const float *x = logits + n * V;
  float *g = dlogits + n * V;
  float mx;
  double se;
  ce_row_stats(x, V, &mx, &se, NULL, shf, shd);
  const double smooth = (double)ls / V, hit = 1.0 - (double)ls;
  const double inv = 1.0 / se, scale = (double)dloss * w / W;
  const int t = targets[n];
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    const double d = expf(x[j] - mx) * inv - smooth - (j == t ? hit : 0.0);
    g[j] += (float)(scale * d);
  }
}

extern "C" pst_err pst_cuda_crossentropy_forward(pst_cuda_ctx *ctx, double *d_loss, const float *logits,
                                                 const int32_t *targets, const float *weights, int N, int V,
                                                 float ls) {
  if (N <= 0) {
    PST_CHECK(pst_cuda_zero(ctx, d_loss, sizeof(double)));
    return PST_OK;
  }
  void *ws;
  PST_CHECK(pst_cu_workspace(ctx, ((size_t)N + 2) * sizeof(double), &ws));
  double *sums = (double *)ws, *rows = sums + 2;
  k_ce_rows<<<N, CE_BLOCK, 0, ctx->stream>>>(rows, logits, targets, weights, V, ls);
  PST_CU_LAUNCHED("crossentropy_forward (rows)");
  k_sum_rows<<<1, 1024, 0, ctx->stream>>>(sums, rows, weights, N);
  PST_CU_LAUNCHED("crossentropy_forward (sum)");
  k_ce_finish<<<1, 1, 0, ctx->stream>>>(d_loss, sums);
  PST_CU_LAUNCHED("crossentropy_forward (mean)");
  return PST_OK;
}

extern "C" pst_err pst_cuda_crossentropy_backward(pst_cuda_ctx *ctx, float *dlogits, const float *logits,
                                                  const int32_t *targets, const float *weights, int N, int V,
                                                  float ls, float dloss) {
  if (!dlogits || N <= 0) return PST_OK;
  void *ws;
  PST_CHECK(pst_cu_workspace(ctx, 2 * sizeof(double), &ws));
  double *sums = (double *)ws;
  k_sum_rows<<<1, 1024, 0, ctx->stream>>>(sums, NULL, weights, N);
  PST_CU_LAUNCHED("crossentropy_backward (weights)");
  k_ce_backward<<<N, CE_BLOCK, 0, ctx->stream>>>(dlogits, logits, targets, weights, sums, V, ls, dloss);
  PST_CU_LAUNCHED("crossentropy_backward");
  return PST_OK;
}

__global__ void __launch_bounds__(1024) k_mse_forward(double *d_loss, const float *pred, const float *target, int N) {
  __shared__ double sh[32];
  double s = 0.0;
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    const double d = (double)pred[n] - target[n];
    s += d * d;
  }
  s = pst_block_sum(s, sh);
  if (threadIdx.x == 0) *d_loss = N > 0 ? s / N : 0.0;
}

__global__ void k_mse_backward(float *dpred, const float *pred, const float *target, int N, float k) {
  for (int n = blockIdx.x * blockDim.x + threadIdx.x; n < N; n += gridDim.x * blockDim.x)
    dpred[n] = __fadd_rn(dpred[n], __fmul_rn(k, __fsub_rn(pred[n], target[n])));
}

extern "C" pst_err pst_cuda_mse_forward(pst_cuda_ctx *ctx, double *d_loss, const float *pred, const float *target,
                                        int N) {
  k_mse_forward<<<1, 1024, 0, ctx->stream>>>(d_loss, pred, target, N);
  PST_CU_LAUNCHED("mse_forward");
  return PST_OK;
}

extern "C" pst_err pst_cuda_mse_backward(pst_cuda_ctx *ctx, float *dpred, const float *pred, const float *target,
                                         int N, float dloss) {
  if (!dpred || N <= 0) return PST_OK;
  const float k = 2.0f * dloss / (float)N;
  k_mse_backward<<<pst_cu_grid(ctx, N, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(dpred, pred, target, N, k);
  PST_CU_LAUNCHED("mse_backward");
  return PST_OK;
}

/* ---- AdamW (adamw.c), gradient norm and scaling ------------------------------------------ */

struct adam_scalars {
  float step_size, bc2_sqrt, b1, b2, eps, omb1, omb2, decay;
};

__global__ void k_adamw(float *x, const float *g, float *m, float *v, long n, adam_scalars s) {
  for (long j = blockIdx.x * (long)blockDim.x + threadIdx.x; j < n; j += (long)gridDim.x * blockDim.x) {
    const float gj = g[j];
    const float xj = __fmul_rn(x[j], s.decay);
    const float mj = __fadd_rn(__fmul_rn(m[j], s.b1), __fmul_rn(s.omb1, gj));
    const float vj = __fadd_rn(__fmul_rn(v[j], s.b2), __fmul_rn(__fmul_rn(s.omb2, gj), gj));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vj), s.bc2_sqrt), s.eps);
    x[j] = __fadd_rn(xj, __fmul_rn(-s.step_size, __fdiv_rn(mj, denom)));
    m[j] = mj;
    v[j] = vj;
  }
}

extern "C" pst_err pst_cuda_adamw_step(pst_cuda_ctx *ctx, float *x, const float *g, float *m, float *v,
                                       const pst_cuda_segment *segs, int nseg, long t, double lr, double beta1,
                                       double beta2, double eps, double weight_decay) {
  if (t < 1) PST_ERR(PST_ERR_ARG, "AdamW: step number %ld < 1", t);
  /* the scalars exactly as pst_adamw_step computes them */
  const double bc1 = 1.0 - pow(beta1, (double)t);
  const double bc2 = 1.0 - pow(beta2, (double)t);
  adam_scalars s;
  s.step_size = (float)(lr / bc1);
  s.bc2_sqrt = (float)sqrt(bc2);
  s.b1 = (float)beta1;
  s.b2 = (float)beta2;
  s.eps = (float)eps;
  s.omb1 = (float)(1.0 - beta1);
  s.omb2 = (float)(1.0 - beta2);
  /* one launch per run of adjacent segments with the same decay */
  for (int i = 0; i < nseg;) {
    int j = i + 1;
    size_t end = segs[i].offset + segs[i].numel;
    while (j < nseg && segs[j].offset == end && !segs[j].decay == !segs[i].decay) end += segs[j++].numel;
    const size_t off = segs[i].offset;
    const long n = (long)(end - off);
    s.decay = (float)(1.0 - lr * (segs[i].decay ? weight_decay : 0.0));
    if (n > 0) {
      k_adamw<<<pst_cu_grid(ctx, n, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(x + off, g + off, m + off, v + off, n, s);
      PST_CU_LAUNCHED("adamw_step");
    }
    i = j;
  }
  return PST_OK;
}

#define SUMSQ_BLOCKS 256

__global__ void __launch_bounds__(256) k_sumsq_part(double *part, const float *x, long n) {
  __shared__ double sh[32];
  double s = 0.0;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
    s += (double)x[i] * x[i];
  s = pst_block_sum(s, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void __launch_bounds__(SUMSQ_BLOCKS) k_sum_parts(double *out, const double *part) {
  __shared__ double sh[32];
  const double s = pst_block_sum(part[threadIdx.x], sh);
  if (threadIdx.x == 0) *out = s;
}

extern "C" pst_err pst_cuda_sumsq(pst_cuda_ctx *ctx, double *d_out, const float *x, long n) {
  void *ws;
  PST_CHECK(pst_cu_workspace(ctx, SUMSQ_BLOCKS * sizeof(double), &ws));
  double *part = (double *)ws;
  /* a fixed grid: the summation order depends on n only */
  k_sumsq_part<<<SUMSQ_BLOCKS, 256, 0, ctx->stream>>>(part, x, n);
  PST_CU_LAUNCHED("sumsq");
  k_sum_parts<<<1, SUMSQ_BLOCKS, 0, ctx->stream>>>(d_out, part);
  PST_CU_LAUNCHED("sumsq (sum)");
  return PST_OK;
}

__global__ void k_scale(float *x, long n, float coef) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
    x[i] = __fmul_rn(x[i], coef);
}

extern "C" pst_err pst_cuda_scale(pst_cuda_ctx *ctx, float *x, long n, float coef) {
  if (n <= 0) return PST_OK;
  k_scale<<<pst_cu_grid(ctx, n, ELT_BLOCK), ELT_BLOCK, 0, ctx->stream>>>(x, n, coef);
  PST_CU_LAUNCHED("scale");
  return PST_OK;
}
