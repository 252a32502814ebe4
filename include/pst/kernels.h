/* kernels.h — the CPU op list: forward/backward pairs on plain float arrays (fp32).
 *
 * Conventions (llm.c style):
 *  - Activations are row-major [N, C] with N = B*T tokens, token n = b*T + t.
 *  - Weight matrices are [out, in] row-major (PyTorch nn.Linear layout).
 *  - Every backward ACCUMULATES (+=) into the gradients it writes, so the caller
 *    zeroes them once per step; a NULL gradient pointer means "not needed".
 *  - Forward functions overwrite their outputs.
 * Parallelism: OpenMP inside each op; matrix products go to cblas_sgemm. */
#ifndef PST_KERNELS_H
#define PST_KERNELS_H

#include <stdint.h>

/* out[N,C] = tok[ids[n]] + pos[n % T] + (type ? type[type_ids[n]] : 0).
 * ids, type_ids: [N] int32 (type_ids may be NULL: all type 0). tok [V,C], pos [P>=T,C] or NULL
 * (no position table, then type must be NULL too), type [TV,C] or NULL. Ids must already be range-checked by the caller. */
void embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                       const float *tok, const float *pos, const float *type,
                       int B, int T, int C);
/* Scatter-add dout[N,C] into dtok[V,C], dpos[P,C], dtype[TV,C] (any may be NULL). */
void embedding_backward(float *dtok, float *dpos, float *dtype, const float *dout,
                        const int32_t *ids, const int32_t *type_ids, int B, int T, int C);

/* LayerNorm over the last dim: out[N,C] = (x - mean) * rstd * w + b, biased variance.
 * mean[N], rstd[N] are saved for backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int N, int C, float eps);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int N, int C);

/* out[N,M] = inp[N,K] @ w[M,K]^T + bias[M] (bias may be NULL). */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    int N, int K, int M);
/* The same product for decoding (few rows N): the M outputs are split over the OpenMP
 * threads, each making one single-threaded BLAS call on its rows of w (gemv when N = 1), so
 * that the per-token weight stream is read by every core without OpenBLAS's own threads
 * competing with OpenMP's (the caller sets OpenBLAS to one thread: pst_blas_set_threads). */
void matmul_forward_split(float *out, const float *inp, const float *w, const float *bias, int N, int K, int M);
/* dinp[N,K] += dout @ w; dw[M,K] += dout^T @ inp; dbias[M] += colsum(dout). */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, int N, int K, int M);

typedef enum { PST_GELU_ERF = 0, PST_GELU_TANH = 1 } pst_gelu_kind;
/* out[n] = gelu(inp[n]); ERF: x/2 (1 + erf(x/sqrt2)) (BERT); TANH: the GPT-2 approximation
 * x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void gelu_forward(float *out, const float *inp, long n, pst_gelu_kind kind);
void gelu_backward(float *dinp, const float *inp, const float *dout, long n, pst_gelu_kind kind);

/* SwiGLU (LLaMA MLP): out[n] = silu(gate[n]) * up[n]; backward accumulates dgate and dup. */
void swiglu_forward(float *out, const float *gate, const float *up, long n);
void swiglu_backward(float *dgate, float *dup, const float *gate, const float *up, const float *dout, long n);

/* RMSNorm (LLaMA): out[N,C] = x * rstd * w, rstd[N] = 1/sqrt(mean(x^2) + eps) saved for
 * backward; dinp and dw accumulate (either may be NULL). */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C);

/* Rotary position embeddings, Hugging Face rotate-half layout (src/kernels/cpu/rope.c).
 * rope_table fills cos/sin [P, hs/2] for positions 0..P-1 (scaling PST_ROPE_*; factor and the
 * llama3 parameters as in Hugging Face rope_scaling). rope_forward rotates x [B*T, nh*hs] in
 * place, token t at position pos0 + t; rope_backward applies the inverse rotation to a gradient. */
enum { PST_ROPE_NONE = 0, PST_ROPE_LINEAR = 1, PST_ROPE_LLAMA3 = 2 };
void rope_table(float *cosv, float *sinv, int P, int hs, double theta, int scaling, double factor,
                double low_freq_factor, double high_freq_factor, int original_max_positions);
void rope_forward(float *x, const float *cosv, const float *sinv, int B, int T, int nh, int hs, int pos0);
void rope_backward(float *dx, const float *cosv, const float *sinv, int B, int T, int nh, int hs, int pos0);

/* out[n] = tanh(inp[n]) (BERT pooler); backward uses the saved output. */
void tanh_forward(float *out, const float *inp, long n);
void tanh_backward(float *dinp, const float *out, const float *dout, long n);

/* Multi-head attention core. q, out: [B,T,C] with C = NH*hs, head h in columns
 * [h*hs, (h+1)*hs); k, v: [B,T,NKV*hs] (grouped-query attention: query head h uses key/value
 * head h / (NH/NKV); NKV = NH for ordinary attention; NKV divides NH).
 * probs[B,NH,T,T] (saved for backward) = softmax(q k^T / sqrt(hs) + mask)
 * where key j of batch b is masked when key_mask[b*T+j] == 0 (key_mask NULL: none) and,
 * if causal, when j > i. A row whose keys are all masked gets probs 0 and out 0.
 * out = probs @ v. */
void attention_forward(float *out, float *probs, const float *q, const float *k,
                       const float *v, const uint8_t *key_mask, int causal,
                       int B, int T, int C, int NH, int NKV);
/* dq [B,T,C], dk, dv [B,T,NKV*hs] accumulate (any may be NULL). */
void attention_backward(float *dq, float *dk, float *dv, const float *dout,
                        const float *probs, const float *q, const float *k, const float *v,
                        int B, int T, int C, int NH, int NKV);

/* Attention of new tokens over a key/value cache (decoding; no backward). q, out [B*T, C]:
 * token t of sequence b sits at position p = pos[b] + t and attends to positions 0..p of
 * cache row slot[b]; kc, vc [rows, Tmax, NKV*hs] (position j of row r at (r*Tmax + j)*NKV*hs),
 * already holding the new tokens' keys and values. Same softmax as attention_forward (max
 * subtraction, double sum). scratch: [omp_get_max_threads(), Tmax] floats. */
void attention_cached_forward(float *out, const float *q, const float *kc, const float *vc,
                              const int32_t *slot, const int32_t *pos, int B, int T, int Tmax,
                              int C, int NH, int NKV, float *scratch);

/* Softmax cross-entropy over V classes for N rows, torch semantics incl. label smoothing ls:
 *   l_n = (1-ls) * (-log p[n,t_n]) + ls * mean_j(-log p[n,j]).
 * Returns sum_n w_n l_n / sum_n w_n (w = weights[N], NULL = all 1; rows with w_n = 0 are
 * ignored; returns 0 if the weights sum to 0). targets[N] in [0,V) for rows with w_n != 0. */
double crossentropy_forward(const float *logits, const int32_t *targets,
                            const float *weights, int N, int V, float ls);
/* dlogits[N,V] += dloss * d(mean loss)/d logits. */
void crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                           const float *weights, int N, int V, float ls, float dloss);

/* Mean squared error (regression head): returns mean_n (pred[n] - target[n])^2. */
double mse_forward(const float *pred, const float *target, int N);
/* dpred[N] += dloss * 2 (pred - target) / N. */
void mse_backward(float *dpred, const float *pred, const float *target, int N, float dloss);

#endif
