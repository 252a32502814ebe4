/* logits.c — the logits processors of generation on one row of V scores, with the semantics of
 * transformers 4.46 (LogSoftmax before beam scores, NoRepeatNGramLogitsProcessor,
 * TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, multinomial sampling). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pst/generate.h"

void pst_log_softmax(float *logp, const float *logits, int V) {
  float mx = -INFINITY;
  for (int i = 0; i < V; i++)
    if (logits[i] > mx) mx = logits[i];
  double sum = 0.0;
  for (int i = 0; i < V; i++) sum += expf(logits[i] - mx);
  const float lse = (float)log(sum);
  for (int i = 0; i < V; i++) logp[i] = (logits[i] - mx) - lse;
}

/* For every earlier occurrence of the last n-1 tokens, the token that followed is banned
 * (the next token would complete an n-gram already in seq). */
void pst_ban_repeat_ngrams(float *scores, const int32_t *seq, int len, int n) {
  if (n <= 0 || len + 1 < n) return;
  const int32_t *tail = seq + len - (n - 1);
  for (int i = 0; i + n <= len; i++)
    if (!memcmp(seq + i, tail, (size_t)(n - 1) * sizeof(int32_t))) scores[seq[i + n - 1]] = -INFINITY;
}

static int cmp_desc(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

/* Sorted copy helper: the scores in descending order into tmp[V] (malloc'd by the caller). */
static void sorted_desc(float *tmp, const float *scores, int V) {
  memcpy(tmp, scores, (size_t)V * sizeof(float));
  qsort(tmp, (size_t)V, sizeof(float), cmp_desc);
}

void pst_warp_logits(float *scores, int V, double temperature, int top_k, double top_p) {
  if (temperature > 0 && temperature != 1.0)
    for (int i = 0; i < V; i++) scores[i] = scores[i] / (float)temperature; /* float32, as torch */
  if ((top_k <= 0 || top_k >= V) && top_p >= 1.0) return;
  float *tmp = malloc((size_t)V * sizeof(float));
  if (!tmp) abort(); /* V floats; an allocation this small fails only when memory is gone */
  if (top_k > 0 && top_k < V) { /* remove scores below the k-th largest */
    sorted_desc(tmp, scores, V);
    const float kth = tmp[top_k - 1];
    for (int i = 0; i < V; i++)
      if (scores[i] < kth) scores[i] = -INFINITY;
  }
  if (top_p < 1.0) {
    /* ascending order: remove the prefix whose cumulative probability is <= 1 - top_p, but
     * never the largest score. Equal scores: HF's sort order among them decides; the
     * threshold is applied to the value, so ties are kept or removed together here. */
    sorted_desc(tmp, scores, V);
    const float mx = tmp[0];
    double z = 0.0;
    for (int i = 0; i < V; i++) z += exp((double)tmp[i] - mx);
    double cum = 0.0;
    float cut = -INFINITY; /* scores <= cut are removed */
    for (int i = V - 1; i > 0; i--) { /* ascending */
      cum += exp((double)tmp[i] - mx) / z;
      if (cum <= 1.0 - top_p) cut = tmp[i];
      else break;
    }
    if (cut > -INFINITY)
      for (int i = 0; i < V; i++)
        if (scores[i] <= cut) scores[i] = -INFINITY;
  }
  free(tmp);
}

int pst_sample_index(const float *scores, int V, double u) {
  float mx = -INFINITY;
  for (int i = 0; i < V; i++)
    if (scores[i] > mx) mx = scores[i];
  double z = 0.0;
  for (int i = 0; i < V; i++) z += exp((double)scores[i] - mx);
  double c = 0.0, target = u * z;
  int last = 0;
  for (int i = 0; i < V; i++) {
    if (scores[i] == -INFINITY) continue;
    c += exp((double)scores[i] - mx);
    last = i;
    if (c > target) return i;
  }
  return last;
}
