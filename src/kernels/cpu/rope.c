/* rope.c — rotary position embeddings in the Hugging Face "rotate half" layout (LLaMA).
 *
 * Table: for position p and frequency i < hs/2, cos[p*hs/2 + i] = cos(p * inv_freq[i]) and the
 * same for sin, where inv_freq[i] = 1 / theta^(2i/hs), divided by `factor` for linear scaling,
 * or smoothed by the llama3 rule (Hugging Face _compute_llama3_parameters). The angle p *
 * inv_freq[i] is a float product, as transformers computes it.
 * Apply, per head of hs columns, with h2 = hs/2 and (c, s) of the token's position:
 *   y[i] = x[i] c - x[i+h2] s,  y[i+h2] = x[i+h2] c + x[i] s          (i < h2)
 * Backward is the transposed rotation (the sign of s flipped). x: [N, nh*hs], token n = b*T+t at
 * position pos0 + t. In place. */
#include "pst/kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

void rope_table(float *cosv, float *sinv, int P, int hs, double theta, int scaling, double factor,
                double low_freq_factor, double high_freq_factor, int original_max_positions) {
  const int h2 = hs / 2;
  float inv[h2];
  for (int i = 0; i < h2; i++) {
    float f = 1.0f / powf((float)theta, (float)(2 * i) / (float)hs);
    if (scaling == PST_ROPE_LINEAR) {
      f = (float)(f / factor);
    } else if (scaling == PST_ROPE_LLAMA3) {
      const double lo_wl = original_max_positions / low_freq_factor;
      const double hi_wl = original_max_positions / high_freq_factor;
      const double wl = 2 * M_PI / f;
      if (wl > lo_wl) {
        f = (float)(f / factor);
      } else if (wl >= hi_wl) { /* medium frequencies: interpolate */
        const double smooth = (original_max_positions / wl - low_freq_factor) / (high_freq_factor - low_freq_factor);
        f = (float)((1 - smooth) * f / factor + smooth * f);
      }
    }
    inv[i] = f;
  }
  for (int p = 0; p < P; p++)
    for (int i = 0; i < h2; i++) {
      const float a = (float)p * inv[i];
      cosv[(size_t)p * h2 + i] = cosf(a);
      sinv[(size_t)p * h2 + i] = sinf(a);
    }
}

/* Rotate x [B*T, nh*hs] by +angle (dir = 1) or -angle (dir = -1). */
static void rope_apply(float *x, const float *cosv, const float *sinv, int B, int T, int nh, int hs, int pos0,
                       float dir) {
  const int h2 = hs / 2, W = nh * hs;
  const long N = (long)B * T;
#pragma omp parallel for schedule(static) if (N * W >= 16384)
  for (long n = 0; n < N; n++) {
    const int p = pos0 + (int)(n % T);
    const float *c = cosv + (size_t)p * h2, *s = sinv + (size_t)p * h2;
    for (int h = 0; h < nh; h++) {
      float *v = x + (size_t)n * W + (size_t)h * hs;
      for (int i = 0; i < h2; i++) {
        const float a = v[i], b = v[i + h2], sn = dir * s[i];
        v[i] = a * c[i] - b * sn;
        v[i + h2] = b * c[i] + a * sn;
      }
    }
  }
}

void rope_forward(float *x, const float *cosv, const float *sinv, int B, int T, int nh, int hs, int pos0) {
  rope_apply(x, cosv, sinv, B, T, nh, hs, pos0, 1.0f);
}

void rope_backward(float *dx, const float *cosv, const float *sinv, int B, int T, int nh, int hs, int pos0) {
  rope_apply(dx, cosv, sinv, B, T, nh, hs, pos0, -1.0f);
}
