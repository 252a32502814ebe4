/* gguf_dequant.c — the ggml tensor type table (names, block sizes, bytes per block) and the
 * dequantization of F32, F16, BF16, Q8_0, Q4_0 and Q4_1 blocks to fp32.
 *
 * Block layouts (ggml-common.h; all little-endian, no padding):
 *   Q8_0  32 elements in 34 bytes: f16 d, int8 qs[32]          y[j] = qs[j] * d
 *   Q4_0  32 elements in 18 bytes: f16 d, u8 qs[16]            y[j] = ((qs[j] & 15) - 8) * d,
 *                                                              y[j+16] = ((qs[j] >> 4) - 8) * d
 *   Q4_1  32 elements in 20 bytes: f16 d, f16 m, u8 qs[16]     y[j] = (qs[j] & 15) * d + m,
 *                                                              y[j+16] = (qs[j] >> 4) * d + m
 * (ggml-quants.c dequantize_row_q8_0 / q4_0 / q4_1; gguf-py's quants.py computes the same in
 * float32). Every product q * d is exact in float (at most 8 + 11 significant bits), so the
 * results do not depend on whether a compiler fuses Q4_1's q * d + m into an FMA: one rounding
 * either way, bit-identical to ggml and gguf-py.
 * F16 is converted exactly (pst_f16_to_f32), BF16 by a 16-bit shift (as ggml does). */
#include "pst/gguf.h"
#include "pst/safetensors.h" /* pst_f16_to_f32, pst_bf16_to_f32 */

#include <string.h>

typedef struct {
  const char *name;
  int64_t block; /* elements per block; 0 = not a ggml type */
  size_t size;   /* bytes per block */
} ggml_type_info;

/* Indexed by the ggml type number (ggml.h enum ggml_type). Numbers 4, 5 (Q4_2, Q4_3) and
 * 31-33, 36-38 (removed repacked types) are holes. Q8_1 is ggml's 2 f16 + 32 int8. */
static const ggml_type_info TYPES[] = {
    [0] = {"F32", 1, 4},       [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},    [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},    [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110}, [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210}, [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18}, [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},      [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},      [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56}, [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66}, [39] = {"MXFP4", 32, 17},
};
#define N_TYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

static const ggml_type_info *type_info(int type) {
  if (type < 0 || type >= N_TYPES || TYPES[type].block == 0) return NULL;
  return &TYPES[type];
}

const char *pst_ggml_type_name(int type) {
  const ggml_type_info *ti = type_info(type);
  return ti ? ti->name : "?";
}

int64_t pst_ggml_block_size(int type) {
  const ggml_type_info *ti = type_info(type);
  return ti ? ti->block : 0;
}

size_t pst_ggml_type_size(int type) {
  const ggml_type_info *ti = type_info(type);
  return ti ? ti->size : 0;
}

int pst_ggml_type_supported(int type) {
  return type == PST_GGML_F32 || type == PST_GGML_F16 || type == PST_GGML_BF16 || type == PST_GGML_Q8_0 ||
         type == PST_GGML_Q4_0 || type == PST_GGML_Q4_1;
}

static float half_at(const uint8_t *p) {
  uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
  return pst_f16_to_f32(h);
}

/* nb blocks of 34 bytes -> 32 floats each */
static void deq_q8_0(const uint8_t *x, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
    const float d = half_at(x);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)x[2 + j] * d;
  }
}

/* nb blocks of 18 bytes -> 32 floats each */
static void deq_q4_0(const uint8_t *x, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 18, y += 32) {
    const float d = half_at(x);
    const uint8_t *qs = x + 2;
    for (int j = 0; j < 16; j++) {
      const int x0 = (qs[j] & 0x0f) - 8, x1 = (qs[j] >> 4) - 8;
      y[j] = (float)x0 * d;
      y[j + 16] = (float)x1 * d;
    }
  }
}

/* nb blocks of 20 bytes -> 32 floats each (the product is exact: see the top) */
static void deq_q4_1(const uint8_t *x, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 20, y += 32) {
    const float d = half_at(x), m = half_at(x + 2);
    const uint8_t *qs = x + 4;
    for (int j = 0; j < 16; j++) {
      float p0 = (float)(qs[j] & 0x0f) * d;
      float p1 = (float)(qs[j] >> 4) * d;
      y[j] = p0 + m;
      y[j + 16] = p1 + m;
    }
  }
}

pst_err pst_ggml_dequantize(int type, const void *src, float *dst, int64_t n) {
  if (!pst_ggml_type_supported(type))
    PST_ERR(PST_ERR_ARG, "cannot dequantize ggml type %s (%d)", pst_ggml_type_name(type), type);
  const int64_t blk = pst_ggml_block_size(type);
  if (n < 0 || n % blk)
    PST_ERR(PST_ERR_ARG, "cannot dequantize %lld elements of %s: not a multiple of its block size %lld",
            (long long)n, pst_ggml_type_name(type), (long long)blk);
  if (n == 0) return PST_OK;
  if (!src || !dst) PST_ERR(PST_ERR_ARG, "pst_ggml_dequantize: NULL buffer");
  const uint8_t *x = src;
  switch (type) {
    case PST_GGML_F32:
      memcpy(dst, x, (size_t)n * sizeof(float));
      break;
    case PST_GGML_F16:
      for (int64_t i = 0; i < n; i++) dst[i] = half_at(x + 2 * i);
      break;
    case PST_GGML_BF16:
      for (int64_t i = 0; i < n; i++) dst[i] = pst_bf16_to_f32((uint16_t)(x[2 * i] | (x[2 * i + 1] << 8)));
      break;
    case PST_GGML_Q8_0: deq_q8_0(x, dst, n / 32); break;
    case PST_GGML_Q4_0: deq_q4_0(x, dst, n / 32); break;
    case PST_GGML_Q4_1: deq_q4_1(x, dst, n / 32); break;
  }
  return PST_OK;
}
