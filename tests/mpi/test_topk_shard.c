/* test_topk_shard.c — pst_topk_sharded over MPI_COMM_WORLD against pst_topk_mask.
 *
 * Every case is a list of layers (global [grows, gcols], a score pattern, keep). Each rank
 * fills its own shard from a counter-based generator (value = f(seed, layer, global index)),
 * so no scores travel; the shards are row blocks, column blocks, a 2-D grid, or row blocks
 * with rank 0 empty, split unevenly (i * n / p). The local masks are gathered to rank 0
 * and compared bit for bit with pst_topk_mask on the full matrix. A NaN on one rank must
 * fail every rank with PST_ERR_NUMERIC naming the layer. `--bench` times one process on
 * 768x3072, keep 10%, against pst_topk_mask. Exit status 0 = all passed. */
#include <mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/comm.h"
#include "pst/rng.h"
#include "pst/sparsity.h"

/* ---- the group adapter: sum_u32 = MPI_Allreduce over a communicator ---- */
typedef struct {
  MPI_Comm comm;
  long calls;
} mpi_ctx;

static pst_err mpi_sum_u32(void *ctx, uint32_t *x, long n) {
  mpi_ctx *m = ctx;
  m->calls++;
  if (n < 0 || n > 0x7fffffffL) return PST_ERR_ARG;
  return MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_UINT32_T, MPI_SUM, m->comm) == MPI_SUCCESS ? PST_OK
                                                                                                : PST_ERR_INTERNAL;
}
static pst_err mpi_sum_f32(void *ctx, float *x, long n) {
  mpi_ctx *m = ctx;
  m->calls++;
  return MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, m->comm) == MPI_SUCCESS ? PST_OK
                                                                                             : PST_ERR_INTERNAL;
}

/* ---- score patterns ---- */
enum { P_RANDOM, P_TIES, P_ALLEQ, P_ZEROS, P_SPECIAL, P_COARSE, P_NEG };
static const char *pat_name[] = {"random", "ties", "all-equal", "signed-zeros", "special", "coarse", "negative"};

typedef struct {
  long grows, gcols, keep;
  int pat;
  long nan_at; /* global index of a NaN, or -1 */
} layer_spec;

static float score_at(int pat, uint64_t seed, int layer, long g) {
  const uint64_t u = pst_rng_u64(seed, (uint64_t)layer + 1, (uint64_t)g);
  const float unif = (float)((double)(u >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f; /* [-1, 1) */
  switch (pat) {
  case P_RANDOM: return unif;
  case P_TIES: { static const float v[] = {-1.0f, -0.0f, 0.0f, 1.0f, 2.0f}; return v[u % 5]; }
  case P_ALLEQ: return 0.5f;
  case P_ZEROS: { static const float v[] = {-0.0f, 0.0f, 1e-45f, -1e-45f}; return v[u % 4]; }
  case P_SPECIAL: {
    static const float v[] = {INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, 3.4e38f, -3.4e38f};
    return (u >> 8) % 4 == 0 ? v[u % 8] : unif;
  }
  case P_COARSE: return (float)((long)(u % 17) - 8) * 0.25f;
  case P_NEG: return -fabsf(unif) - 1.0f;
  }
  return 0.0f;
}

/* ---- sharding ---- */
enum { S_ROWS, S_COLS, S_GRID, S_SKEW };
static const char *shard_name[] = {"rows", "cols", "grid", "rows, rank 0 empty"};

static void block(long n, int parts, int i, long *lo, long *len) {
  *lo = n * i / parts;
  *len = n * (i + 1) / parts - *lo;
}

/* rank r's rectangle of a [grows, gcols] matrix split over p ranks */
static void shard_of(int mode, int r, int p, long grows, long gcols, pst_topk_shard *s) {
  s->grows = grows;
  s->gcols = gcols;
  s->row0 = 0; s->rows = grows; s->col0 = 0; s->cols = gcols;
  if (mode == S_ROWS) block(grows, p, r, &s->row0, &s->rows);
  else if (mode == S_COLS) block(gcols, p, r, &s->col0, &s->cols);
  else if (mode == S_GRID) {
    int pr = 1;
    for (int d = 1; d * d <= p; d++) if (p % d == 0) pr = d;
    const int pc = p / pr;
    block(grows, pr, r / pc, &s->row0, &s->rows);
    block(gcols, pc, r % pc, &s->col0, &s->cols);
  } else if (p > 1) { /* S_SKEW */
    if (r == 0) s->rows = 0;
    else block(grows, p - 1, r - 1, &s->row0, &s->rows);
  }
}

typedef struct {
  const layer_spec *spec;
  const pst_topk_shard *sh;
  uint64_t seed;
  long calls;
} score_ctx;

static pst_err fill_score(void *vctx, int layer, float *out) {
  score_ctx *c = vctx;
  const layer_spec *ls = &c->spec[layer];
  const pst_topk_shard *s = &c->sh[layer];
  c->calls++;
  for (long i = 0; i < s->rows; i++)
    for (long j = 0; j < s->cols; j++) {
      const long g = (s->row0 + i) * s->gcols + s->col0 + j;
      out[i * s->cols + j] = g == ls->nan_at ? NAN : score_at(ls->pat, c->seed, layer, g);
    }
  return PST_OK;
}

static int rank, nproc;
static long nchecks;

/* Run one case with one sharding; returns the number of failures (same on every rank). */
static int run_case(const char *name, const layer_spec *spec, int nl, int mode, uint64_t seed, int use_null) {
  pst_topk_shard *sh = calloc((size_t)nl, sizeof *sh);
  long maxn = 1;
  for (int l = 0; l < nl; l++) {
    shard_of(mode, rank, nproc, spec[l].grows, spec[l].gcols, &sh[l]);
    sh[l].keep = spec[l].keep;
    const long n = sh[l].rows * sh[l].cols;
    sh[l].mask = malloc((size_t)(n ? n : 1));
    memset(sh[l].mask, 0xAA, (size_t)(n ? n : 1));
    if (n > maxn) maxn = n;
  }
  float *out = malloc((size_t)maxn * sizeof *out);
  mpi_ctx mc = {MPI_COMM_WORLD, 0};
  pst_group grp = {rank, nproc, &mc, mpi_sum_f32, mpi_sum_u32};
  score_ctx sc = {spec, sh, seed, 0};
  int expect_nan = -1;
  for (int l = nl - 1; l >= 0; l--) if (spec[l].nan_at >= 0) expect_nan = l;

  pst_err_clear();
  const pst_err rc = pst_topk_sharded(sh, nl, fill_score, &sc, out, use_null ? NULL : &grp);
  int bad = 0;
  char why[256] = "";
  if (nproc == 1 && mc.calls) { bad = 1; snprintf(why, sizeof why, "single process called sum_u32 %ld times", mc.calls); }
  if (sc.calls > 2L * nl) { bad = 1; snprintf(why, sizeof why, "score called %ld times for %d layers", sc.calls, nl); }
  if (expect_nan >= 0) {
    char want[64];
    snprintf(want, sizeof want, "layer %d:", expect_nan);
    if (rc != PST_ERR_NUMERIC || !strstr(pst_err_message(), want)) {
      bad = 1;
      snprintf(why, sizeof why, "rc %d message '%s', want NUMERIC naming %s", rc, pst_err_message(), want);
    }
  } else if (rc) {
    bad = 1;
    snprintf(why, sizeof why, "rc %d: %s", rc, pst_err_message());
  }
  int rcmin = rc, rcmax = rc;
  MPI_Allreduce(MPI_IN_PLACE, &rcmin, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &rcmax, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rcmin != rcmax) { bad = 1; snprintf(why, sizeof why, "return codes differ across ranks (%d..%d)", rcmin, rcmax); }

  /* gather the masks of each layer to rank 0 and compare with the single-process mask */
  long mism_total = 0;
  for (int l = 0; l < nl && expect_nan < 0 && rcmax == 0; l++) {
    const long numel = spec[l].grows * spec[l].gcols, n = sh[l].rows * sh[l].cols;
    int *cnts = NULL, *displs = NULL;
    uint8_t *recv = NULL;
    if (rank == 0) {
      cnts = malloc((size_t)nproc * sizeof *cnts);
      displs = malloc((size_t)nproc * sizeof *displs);
      int acc = 0;
      for (int r = 0; r < nproc; r++) {
        pst_topk_shard o;
        shard_of(mode, r, nproc, spec[l].grows, spec[l].gcols, &o);
        cnts[r] = (int)(o.rows * o.cols);
        displs[r] = acc;
        acc += cnts[r];
      }
      recv = malloc((size_t)(acc ? acc : 1));
    }
    MPI_Gatherv(sh[l].mask, (int)n, MPI_UINT8_T, recv, cnts, displs, MPI_UINT8_T, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      uint8_t *got = malloc((size_t)(numel ? numel : 1)), *ref = malloc((size_t)(numel ? numel : 1));
      float *full = malloc((size_t)(numel ? numel : 1) * sizeof *full);
      memset(got, 0xEE, (size_t)(numel ? numel : 1));
      for (int r = 0; r < nproc; r++) {
        pst_topk_shard o;
        shard_of(mode, r, nproc, spec[l].grows, spec[l].gcols, &o);
        for (long i = 0; i < o.rows; i++)
          memcpy(got + (o.row0 + i) * o.gcols + o.col0, recv + displs[r] + i * o.cols, (size_t)o.cols);
      }
      for (long g = 0; g < numel; g++) full[g] = score_at(spec[l].pat, seed, l, g);
      const pst_err rrc = pst_topk_mask(ref, full, numel, spec[l].keep);
      long mism = 0, ones = 0;
      for (long g = 0; g < numel; g++) { mism += got[g] != ref[g]; ones += got[g] == 1; }
      if (rrc || mism || ones != spec[l].keep) {
        bad = 1;
        snprintf(why, sizeof why, "layer %d [%ld x %ld] %s keep %ld: %ld mismatches, %ld kept (ref rc %d)", l,
                 spec[l].grows, spec[l].gcols, pat_name[spec[l].pat], spec[l].keep, mism, ones, rrc);
      }
      mism_total += mism;
      free(got); free(ref); free(full);
    }
    free(cnts); free(displs); free(recv);
  }
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) {
    printf("%s %-44s np=%d shard=%-18s layers=%d%s\n", bad ? "FAIL" : "ok  ", name, nproc, shard_name[mode], nl,
           use_null ? " group=NULL" : "");
    if (bad && why[0]) printf("     %s\n", why);
  }
  if (bad && rank != 0 && why[0]) printf("     rank %d: %s\n", rank, why);
  nchecks++;
  for (int l = 0; l < nl; l++) free(sh[l].mask);
  free(sh);
  free(out);
  return bad;
}

static pst_err copy_score(void *ctx, int layer, float *out) {
  const float *src = ctx;
  (void)layer;
  memcpy(out, src, (size_t)768 * 3072 * sizeof *out);
  return PST_OK;
}

static int bench(void) {
  const long R = 768, C = 3072, n = R * C, keep = n - (long)floor((double)n * 0.9);
  float *x = malloc((size_t)n * sizeof *x), *out = malloc((size_t)n * sizeof *out);
  uint8_t *m1 = malloc((size_t)n), *m2 = malloc((size_t)n);
  for (long g = 0; g < n; g++) x[g] = score_at(P_RANDOM, 7, 0, g);
  pst_topk_shard s = {R, C, 0, 0, R, C, keep, m2};
  double best_ref = 1e9, best_sh = 1e9, best_cp = 1e9;
  for (int it = 0; it < 20; it++) {
    double t0 = MPI_Wtime();
    if (pst_topk_mask(m1, x, n, keep)) return 1;
    double t1 = MPI_Wtime();
    if (pst_topk_sharded(&s, 1, copy_score, x, out, NULL)) return 1;
    double t2 = MPI_Wtime();
    copy_score(x, 0, out);
    copy_score(x, 0, out);
    double t3 = MPI_Wtime();
    if (t1 - t0 < best_ref) best_ref = t1 - t0;
    if (t2 - t1 < best_sh) best_sh = t2 - t1;
    if (t3 - t2 < best_cp) best_cp = t3 - t2;
  }
  const int same = memcmp(m1, m2, (size_t)n) == 0;
  printf("bench 768x3072 keep %ld: pst_topk_mask %.3f ms, pst_topk_sharded(NULL) %.3f ms (of which 2 score copies "
         "%.3f ms), ratio %.2f, masks %s\n",
         keep, best_ref * 1e3, best_sh * 1e3, best_cp * 1e3, best_sh / best_ref, same ? "equal" : "DIFFER");
  free(x); free(out); free(m1); free(m2);
  return !same;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nproc);
  if (argc > 1 && !strcmp(argv[1], "--bench")) {
    const int bad = rank == 0 ? bench() : 0;
    MPI_Finalize();
    return bad;
  }
  int fails = 0;
  const long big = 300 * 700;
  /* single-layer cases: shapes x patterns x keeps */
  const long shapes[][2] = {{7, 5}, {1, 13}, {300, 700}};
  const int pats[] = {P_RANDOM, P_TIES, P_ALLEQ, P_ZEROS, P_SPECIAL, P_COARSE, P_NEG};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (size_t pi = 0; pi < sizeof pats / sizeof *pats; pi++) {
      const long numel = shapes[si][0] * shapes[si][1];
      const long keeps[] = {0, 1, numel / 2, numel - 1, numel, numel / 10 + 3};
      for (size_t ki = 0; ki < sizeof keeps / sizeof *keeps; ki++) {
        if (keeps[ki] > numel) continue;
        layer_spec ls = {shapes[si][0], shapes[si][1], keeps[ki], pats[pi], -1};
        char name[96];
        snprintf(name, sizeof name, "%ldx%ld %s keep=%ld", ls.grows, ls.gcols, pat_name[ls.pat], ls.keep);
        const int modes = numel == big ? 3 : 4; /* the big ones: rows, cols, grid */
        for (int mode = 0; mode < modes; mode++)
          fails += run_case(name, &ls, 1, mode, 11 + si * 31 + pi, 0);
      }
    }
  /* several layers at once, different shapes, patterns and keeps */
  const layer_spec multi[] = {
      {300, 700, 21000, P_RANDOM, -1}, {7, 5, 0, P_TIES, -1},   {64, 48, 3072, P_ALLEQ, -1},
      {13, 11, 70, P_TIES, -1},        {100, 3, 299, P_ZEROS, -1}, {1, 1, 1, P_RANDOM, -1},
      {96, 128, 6144, P_COARSE, -1},   {200, 150, 1, P_SPECIAL, -1}, {5, 9, 45, P_NEG, -1},
  };
  const int nm = (int)(sizeof multi / sizeof *multi);
  for (int mode = 0; mode < 4; mode++) fails += run_case("multi-layer (9 layers)", multi, nm, mode, 99, 0);
  if (nproc == 1) fails += run_case("multi-layer (9 layers)", multi, nm, S_ROWS, 99, 1);
  /* NaN: in layer 2 only, on the last row (its owner is the last rank for row shards) */
  layer_spec nan_case[] = {{20, 30, 50, P_RANDOM, -1}, {9, 9, 0, P_TIES, -1}, {17, 23, 100, P_RANDOM, 16 * 23 + 22},
                           {7, 5, 35, P_RANDOM, -1}};
  for (int mode = 0; mode < 4; mode++) fails += run_case("NaN in layer 2", nan_case, 4, mode, 5, 0);
  nan_case[2].nan_at = -1;
  nan_case[1].nan_at = 0; /* NaN in a keep = 0 layer still fails, as pst_topk_mask does */
  for (int mode = 0; mode < 4; mode++) fails += run_case("NaN in layer 1 (keep 0)", nan_case, 4, mode, 5, 0);

  if (rank == 0) printf("%s: %d of %ld checks failed (np=%d)\n", fails ? "FAIL" : "PASS", fails, nchecks, nproc);
  MPI_Finalize();
  return fails ? 1 : 0;
}
