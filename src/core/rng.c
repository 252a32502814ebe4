/* rng.c — splitmix64-style counter RNG and Box-Muller normals (see rng.h). */
#include "pst/rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t pst_rng_u64(uint64_t seed, uint64_t stream, uint64_t i) {
  return mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ stream) + i * 0x9e3779b97f4a7c15ULL);
}

void pst_rng_normal(float *x, size_t n, float mean, float std, uint64_t seed, uint64_t stream) {
  pst_rng_normal_at(x, n, 0, mean, std, seed, stream);
}

void pst_rng_normal_at(float *x, size_t n, uint64_t first, float mean, float std, uint64_t seed, uint64_t stream) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    /* two uniforms in (0,1] from one 64-bit draw's halves */
    uint64_t r = pst_rng_u64(seed, stream, first + i);
    double u1 = ((double)(r >> 32) + 1.0) / 4294967296.0;
    double u2 = (double)(r & 0xffffffffu) / 4294967296.0;
    x[i] = mean + std * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
}

uint64_t pst_rng_stream(const char *name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
  return h;
}
