/* activation.c — elementwise GELU (erf and tanh forms) and tanh, forward and backward.
 *
 * Shapes: every array is a flat [n] (n = N*C for activations). Formulas follow PyTorch:
 *   ERF  (F.gelu approximate='none'): y = x/2 (1 + erf(x/sqrt2)),
 *        dy/dx = (1 + erf(x/sqrt2))/2 + x exp(-x^2/2) / sqrt(2 pi).
 *   TANH (F.gelu approximate='tanh'): u = sqrt(2/pi) (x + 0.044715 x^3), y = x/2 (1 + tanh u),
 *        dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3*0.044715 x^2).
 *   tanh: y = tanh x, dy/dx = 1 - y^2 (from the saved output).
 * The TANH form is evaluated through the exact identity (1 + tanh u)/2 = s = 1/(1 + e^{-2u}),
 * 1 - tanh^2 u = 4 s (1-s): y = x s, dy/dx = s + 2 x s (1-s) sqrt(2/pi) (1 + 3*0.044715 x^2).
 * Same function, one expf instead of tanhf (~5x cheaper with glibc 2.36), and no
 * cancellation in 1 + tanh u for negative x.
 * erff and expf: the loops are `omp simd`, and on glibc >= 2.35 (x86-64) erff/expf are declared
 * with their libmvec vector variants, so gcc calls glibc's vectorised erff/expf (within 4 ulp;
 * scalar libm erff costs ~25 ns per element and dominated this file). Link with -lmvec.
 * Backward functions accumulate into dinp. */
#include "pst/kernels.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
    !defined(__clang__)
/* the vector variants glibc's libmvec provides (what <math.h> declares under -ffast-math) */
float erff(float) __attribute__((simd("notinbranch")));
float expf(float) __attribute__((simd("notinbranch")));
#endif

#define GELU_SQRT1_2 0.70710678118654752440f   /* 1/sqrt(2) */
#define GELU_INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2 pi) */
#define GELU_SQRT_2_PI 0.79788456080286535588f /* sqrt(2/pi) */
#define GELU_KAPPA 0.044715f

/* Below this many elements the OpenMP fork/join costs more than the work. */
#define ACT_PAR_MIN 16384

void gelu_forward(float *out, const float *inp, long n, pst_gelu_kind kind) {
  if (kind == PST_GELU_TANH) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (long i = 0; i < n; i++) {
      const float x = inp[i];
      const float u = GELU_SQRT_2_PI * (x + GELU_KAPPA * x * x * x);
      out[i] = x / (1.0f + expf(-2.0f * u)); /* x (1 + tanh u) / 2 */
    }
  } else {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (long i = 0; i < n; i++) {
      const float x = inp[i];
      out[i] = 0.5f * x * (1.0f + erff(x * GELU_SQRT1_2));
    }
  }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, long n,
                   pst_gelu_kind kind) {
  if (!dinp) return;
  if (kind == PST_GELU_TANH) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (long i = 0; i < n; i++) {
      const float x = inp[i];
      const float x2 = x * x;
      const float e = expf(-2.0f * GELU_SQRT_2_PI * (x + GELU_KAPPA * x2 * x));
      const float s = 1.0f / (1.0f + e);        /* (1 + tanh u) / 2 */
      const float om = e > 1.0f ? 1.0f - s : e * s; /* 1 - s without cancellation or inf*0 */
      const float dright = 2.0f * x * s * om * GELU_SQRT_2_PI * (1.0f + 3.0f * GELU_KAPPA * x2);
      dinp[i] += dout[i] * (s + dright);
    }
  } else {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (long i = 0; i < n; i++) {
      const float x = inp[i];
      const float cdf = 0.5f * (1.0f + erff(x * GELU_SQRT1_2));
      const float pdf = GELU_INV_SQRT_2PI * expf(-0.5f * x * x);
      dinp[i] += dout[i] * (cdf + x * pdf);
    }
  }
}

void tanh_forward(float *out, const float *inp, long n) {
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
  for (long i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void tanh_backward(float *dinp, const float *out, const float *dout, long n) {
  if (!dinp) return;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
  for (long i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

/* SwiGLU (LLaMA MLP): out = silu(gate) * up, silu(x) = x sigmoid(x) (F.silu).
 * Backward: dgate += dout up s (1 + x (1 - s)), dup += dout silu(x), s = sigmoid(x). */
void swiglu_forward(float *out, const float *gate, const float *up, long n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
  for (long i = 0; i < n; i++) {
    const float x = gate[i];
    out[i] = x / (1.0f + expf(-x)) * up[i];
  }
}

void swiglu_backward(float *dgate, float *dup, const float *gate, const float *up, const float *dout, long n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
  for (long i = 0; i < n; i++) {
    const float x = gate[i], s = 1.0f / (1.0f + expf(-x));
    dgate[i] += dout[i] * up[i] * s * (1.0f + x * (1.0f - s));
    dup[i] += dout[i] * x * s;
  }
}
