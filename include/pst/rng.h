/* rng.h — counter-based random numbers: value i of stream s under seed k is a pure
 * function of (k, s, i), so results do not depend on thread count or call order. */
#ifndef PST_RNG_H
#define PST_RNG_H

#include <stddef.h>
#include <stdint.h>

/* 64 random bits for counter (seed, stream, i). */
uint64_t pst_rng_u64(uint64_t seed, uint64_t stream, uint64_t i);
/* x[i] = mean + std * N(0,1) (Box-Muller on counter i). */
void pst_rng_normal(float *x, size_t n, float mean, float std, uint64_t seed, uint64_t stream);
/* The same values for counters first .. first + n - 1 (a slice of a longer draw). */
void pst_rng_normal_at(float *x, size_t n, uint64_t first, float mean, float std, uint64_t seed, uint64_t stream);
/* Stream id from a tensor name (FNV-1a), so each tensor gets its own stream. */
uint64_t pst_rng_stream(const char *name);

#endif
