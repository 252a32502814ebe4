/* loss.c — softmax cross-entropy with label smoothing and row weights, and mean squared error.
 *
 * Cross-entropy shapes: logits/dlogits [N,V], targets [N] int32, weights [N] or NULL (= 1).
 * With p = softmax(logits[n]) and lse = log sum_j exp(logits[n,j]):
 *   l_n = (1-ls) (lse - x_t) + ls (lse - mean_j x_j)     (= torch cross_entropy, label_smoothing)
 *   loss = sum_n w_n l_n / sum_n w_n     (rows with w_n = 0 are skipped: targets not read)
 *   dl_n/dx_j = p_j - (1-ls) [j = t] - ls / V.
 * Row sums are accumulated in double. The forward reduces rows in a fixed number of chunks
 * summed in chunk order, so the value does not depend on the thread count.
 * MSE shapes: pred, target, dpred [N]. */
#include "pst/kernels.h"

#include <math.h>
#include <stddef.h>

/* Fixed chunk count for the deterministic reduction over rows. */
#define CE_CHUNKS 64

/* Sum of the weights (N if weights is NULL), in row order. */
static double weight_sum(const float *weights, int N) {
  if (!weights) return (double)N;
  double s = 0.0;
  for (int n = 0; n < N; n++) s += weights[n];
  return s;
}

/* Row maximum and sum_j exp(x_j - max) of x[V]. */
static void row_max_sumexp(const float *x, int V, float *mx_out, double *sum_out) {
  float mx = -INFINITY;
  for (int j = 0; j < V; j++)
    if (x[j] > mx) mx = x[j];
  double s = 0.0;
  for (int j = 0; j < V; j++) s += expf(x[j] - mx);
  *mx_out = mx;
  *sum_out = s;
}

double crossentropy_forward(const float *logits, const int32_t *targets,
                            const float *weights, int N, int V, float ls) {
  const double W = weight_sum(weights, N);
  if (N <= 0 || W == 0.0) return 0.0;
  double part[CE_CHUNKS] = {0};
#pragma omp parallel for schedule(static) if ((long)N * V >= 16384)
  for (int ch = 0; ch < CE_CHUNKS; ch++) {
    const int n0 = (int)((long)N * ch / CE_CHUNKS), n1 = (int)((long)N * (ch + 1) / CE_CHUNKS);
    double acc = 0.0;
    for (int n = n0; n < n1; n++) {
      const float w = weights ? weights[n] : 1.0f;
      if (w == 0.0f) continue;
      const float *x = logits + (size_t)n * V;
      float mx;
      double se;
      row_max_sumexp(x, V, &mx, &se);
      const double lse = (double)mx + log(se);
      double l = (1.0 - (double)ls) * (lse - (double)x[targets[n]]);
      if (ls != 0.0f) {
        double sx = 0.0;
        for (int j = 0; j < V; j++) sx += x[j];
        l += (double)ls * (lse - sx / V);
      }
      acc += (double)w * l;
    }
    part[ch] = acc;
  }
  double total = 0.0;
  for (int ch = 0; ch < CE_CHUNKS; ch++) total += part[ch];
  return total / W;
}

void crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                           const float *weights, int N, int V, float ls, float dloss) {
  if (!dlogits) return;
  const double W = weight_sum(weights, N);
  if (N <= 0 || W == 0.0) return;
  const double smooth = (double)ls / V, hit = 1.0 - (double)ls;
#pragma omp parallel for schedule(static) if ((long)N * V >= 16384)
  for (int n = 0; n < N; n++) {
    const float w = weights ? weights[n] : 1.0f;
    if (w == 0.0f) continue;
    const float *x = logits + (size_t)n * V;
    float *g = dlogits + (size_t)n * V;
    float mx;
    double se;
    row_max_sumexp(x, V, &mx, &se);
    const double inv = 1.0 / se, scale = (double)dloss * w / W;
    const int t = targets[n];
    for (int j = 0; j < V; j++) {
      const double d = expf(x[j] - mx) * inv - smooth - (j == t ? hit : 0.0);
      g[j] += (float)(scale * d);
    }
  }
}

double mse_forward(const float *pred, const float *target, int N) {
  if (N <= 0) return 0.0;
  double s = 0.0;
  for (int n = 0; n < N; n++) {
    const double d = (double)pred[n] - target[n];
    s += d * d;
  }
  return s / N;
}

void mse_backward(float *dpred, const float *pred, const float *target, int N, float dloss) {
  if (!dpred || N <= 0) return;
  const float k = 2.0f * dloss / (float)N;
  for (int n = 0; n < N; n++) dpred[n] += k * (pred[n] - target[n]);
}
