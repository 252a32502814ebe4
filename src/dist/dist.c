/* dist.c — the dp x tp process grid over MPI, its collectives and their accounting
 * (dist.h). Byte counts are the payload a rank sends in a ring all-reduce,
 * 2 (p - 1) / p * n * sizeof(element), so they compare across group sizes. */
#include "pst/dist.h"

#include <mpi.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define COMM(h) (*(MPI_Comm *)(h))

int pst_dist_launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

static void charge(pst_dist *d, pst_phase ph, double t0, long n, size_t elem, int group) {
  pst_phase_stats *s = &d->stats[ph];
  s->seconds += pst_now() - t0;
  s->bytes += group > 1 ? 2.0 * (group - 1) / group * (double)n * (double)elem : 0.0;
  s->calls++;
}

static pst_err sum_in(pst_dist *d, void *comm, int group, void *x, long n, MPI_Datatype type, size_t elem,
                      pst_phase ph) {
  if (group <= 1 || n == 0) return PST_OK;
  double t0 = pst_now();
  /* MPI counts are int: large buffers go in chunks */
  const long chunk = 1L << 30;
  for (long off = 0; off < n; off += chunk) {
    int c = (int)(n - off < chunk ? n - off : chunk);
    if (MPI_Allreduce(MPI_IN_PLACE, (char *)x + (size_t)off * elem, c, type, MPI_SUM, COMM(comm)) != MPI_SUCCESS)
      PST_ERR(PST_ERR_IO, "MPI_Allreduce of %ld elements failed", n);
  }
  charge(d, ph, t0, n, elem, group);
  return PST_OK;
}

/* pst_group callbacks of the tp group: charged to the current phase */
static pst_err tp_sum_f32(void *ctx, float *x, long n) {
  pst_dist *d = ctx;
  return sum_in(d, d->tp_comm, d->tp, x, n, MPI_FLOAT, sizeof(float), d->phase);
}
static pst_err tp_sum_u32(void *ctx, uint32_t *x, long n) {
  pst_dist *d = ctx;
  return sum_in(d, d->tp_comm, d->tp, x, n, MPI_UINT32_T, sizeof(uint32_t), d->phase);
}

pst_err pst_dist_init(pst_dist *d, int *argc, char ***argv, int tp) {
  memset(d, 0, sizeof *d);
  d->world_size = d->dp = d->tp = 1;
  if (tp < 1) PST_ERR(PST_ERR_CONFIG, "dist.tp = %d must be at least 1", tp);
  if (pst_dist_launched() || tp > 1) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided;
      if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        PST_ERR(PST_ERR_IO, "MPI_Init failed");
      d->mpi = 1;
    }
    d->world = malloc(sizeof(MPI_Comm));
    d->dp_comm = malloc(sizeof(MPI_Comm));
    d->tp_comm = malloc(sizeof(MPI_Comm));
    if (!d->world || !d->dp_comm || !d->tp_comm) PST_ERR(PST_ERR_MEM, "out of memory for communicators");
    MPI_Comm_dup(MPI_COMM_WORLD, (MPI_Comm *)d->world);
    MPI_Comm_rank(COMM(d->world), &d->world_rank);
    MPI_Comm_size(COMM(d->world), &d->world_size);
    if (d->world_size % tp)
      PST_ERR(PST_ERR_CONFIG, "dist.tp = %d does not divide the %d ranks of the job", tp, d->world_size);
    d->tp = tp;
    d->dp = d->world_size / tp;
    d->tp_rank = d->world_rank % tp;
    d->dp_rank = d->world_rank / tp;
    MPI_Comm_split(COMM(d->world), d->dp_rank, d->tp_rank, (MPI_Comm *)d->tp_comm);
    MPI_Comm_split(COMM(d->world), d->tp_rank, d->dp_rank, (MPI_Comm *)d->dp_comm);
  }
  d->tp_group = (pst_group){d->tp_rank, d->tp, d, tp_sum_f32, tp_sum_u32};
  return PST_OK;
}

void pst_dist_finalize(pst_dist *d) {
  if (d->world) {
    MPI_Comm_free((MPI_Comm *)d->tp_comm);
    MPI_Comm_free((MPI_Comm *)d->dp_comm);
    MPI_Comm_free((MPI_Comm *)d->world);
  }
  free(d->world);
  free(d->dp_comm);
  free(d->tp_comm);
  if (d->mpi) MPI_Finalize();
  memset(d, 0, sizeof *d);
}

void pst_dist_abort(const pst_dist *d, int code) {
  if (d->world_size > 1) MPI_Abort(COMM(d->world), code);
}

pst_err pst_dist_dp_sum_f32(pst_dist *d, float *x, long n, pst_phase phase) {
  return sum_in(d, d->dp_comm, d->dp, x, n, MPI_FLOAT, sizeof(float), phase);
}

pst_err pst_dist_dp_sum_f64(pst_dist *d, double *x, long n, pst_phase phase) {
  return sum_in(d, d->dp_comm, d->dp, x, n, MPI_DOUBLE, sizeof(double), phase);
}

pst_err pst_dist_dp_sum_i32(pst_dist *d, int *x, long n) {
  return sum_in(d, d->dp_comm, d->dp, x, n, MPI_INT, sizeof(int), PST_PHASE_OTHER);
}

pst_err pst_dist_tp_sum_f64(pst_dist *d, double *x, long n) {
  return sum_in(d, d->tp_comm, d->tp, x, n, MPI_DOUBLE, sizeof(double), PST_PHASE_OTHER);
}

pst_err pst_dist_tp_sum_u64(pst_dist *d, uint64_t *x) {
  return sum_in(d, d->tp_comm, d->tp, x, 1, MPI_UINT64_T, sizeof(uint64_t), PST_PHASE_OTHER);
}

pst_err pst_dist_bcast(pst_dist *d, void *buf, long n) {
  if (d->world_size <= 1) return PST_OK;
  if (MPI_Bcast(buf, (int)n, MPI_BYTE, 0, COMM(d->world)) != MPI_SUCCESS) PST_ERR(PST_ERR_IO, "MPI_Bcast failed");
  return PST_OK;
}

pst_err pst_dist_world_max_int(pst_dist *d, int *x) {
  if (d->world_size <= 1) return PST_OK;
  if (MPI_Allreduce(MPI_IN_PLACE, x, 1, MPI_INT, MPI_MAX, COMM(d->world)) != MPI_SUCCESS)
    PST_ERR(PST_ERR_IO, "MPI_Allreduce failed");
  return PST_OK;
}

pst_err pst_dist_gather_text(pst_dist *d, const char *mine, long n, char **all, long *total) {
  *all = NULL;
  *total = 0;
  if (d->world_size <= 1) {
    if (!(*all = malloc((size_t)n + 1))) PST_ERR(PST_ERR_MEM, "out of memory gathering %ld bytes", n);
    memcpy(*all, mine, (size_t)n);
    (*all)[n] = 0;
    *total = n;
    return PST_OK;
  }
  if (n > INT_MAX) PST_ERR(PST_ERR_ARG, "%ld bytes are too many for one gather", n);
  int len = (int)n, *lens = NULL, *displs = NULL;
  const int root = d->world_rank == 0;
  if (root) {
    lens = calloc((size_t)d->world_size, sizeof(int));
    displs = calloc((size_t)d->world_size, sizeof(int));
    if (!lens || !displs) {
      free(lens);
      free(displs);
      PST_ERR(PST_ERR_MEM, "out of memory gathering text");
    }
  }
  pst_err rc = PST_OK;
  if (MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, COMM(d->world)) != MPI_SUCCESS) {
    rc = PST_ERR_IO;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "MPI_Gather failed");
  }
  long sum = 0;
  for (int r = 0; root && !rc && r < d->world_size; r++) {
    displs[r] = (int)sum;
    sum += lens[r];
  }
  if (root && !rc && (sum > INT_MAX || !(*all = malloc((size_t)sum + 1)))) {
    rc = PST_ERR_MEM;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "cannot gather %ld bytes of text", sum);
  }
  /* every rank takes part even after the root failed to allocate, so nobody hangs */
  if (MPI_Gatherv(mine, len, MPI_CHAR, *all, lens, displs, MPI_CHAR, 0, COMM(d->world)) != MPI_SUCCESS && !rc) {
    rc = PST_ERR_IO;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "MPI_Gatherv failed");
  }
  if (root && *all) {
    (*all)[sum] = 0;
    *total = sum;
  }
  free(lens);
  free(displs);
  return rc;
}

/* FNV-1a over the bytes of x[n]. */
static uint64_t hash_floats(const float *x, size_t n) {
  const unsigned char *b = (const unsigned char *)x;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* 1 if every rank of comm has the same h[0..n). */
static pst_err all_same(void *comm, const uint64_t *h, int n, int *same) {
  uint64_t *mn = malloc((size_t)n * sizeof *mn), *mx = malloc((size_t)n * sizeof *mx);
  if (!mn || !mx) { free(mn); free(mx); PST_ERR(PST_ERR_MEM, "out of memory checking replicas"); }
  MPI_Allreduce(h, mn, n, MPI_UINT64_T, MPI_MIN, COMM(comm));
  MPI_Allreduce(h, mx, n, MPI_UINT64_T, MPI_MAX, COMM(comm));
  *same = -1;
  for (int i = 0; i < n && *same < 0; i++)
    if (mn[i] != mx[i]) *same = i;
  free(mn);
  free(mx);
  return PST_OK;
}

pst_err pst_dist_check_replicas(pst_dist *d, const pst_params *p, int *same, const char **bad) {
  *same = 1;
  *bad = NULL;
  if (d->world_size <= 1) return PST_OK;
  double t0 = pst_now();
  uint64_t *h = malloc((size_t)(p->n ? p->n : 1) * sizeof *h);
  if (!h) PST_ERR(PST_ERR_MEM, "out of memory checking replicas");
  for (int i = 0; i < p->n; i++) h[i] = hash_floats(p->data + p->t[i].offset, p->t[i].numel);
  int first = -1;
  pst_err rc = all_same(d->dp_comm, h, p->n, &first);
  if (!rc && first < 0) { /* replicated tensors must also agree across the tp group */
    for (int i = 0; i < p->n; i++)
      if (p->t[i].shard_dim >= 0) h[i] = 0;
    rc = all_same(d->tp_comm, h, p->n, &first);
  }
  free(h);
  charge(d, PST_PHASE_OTHER, t0, 0, 0, 1);
  if (rc) return rc;
  if (first >= 0) {
    *same = 0;
    *bad = p->t[first].name;
  }
  return PST_OK;
}

pst_err pst_dist_gather_bytes(pst_dist *d, const uint8_t *x, long rows, long cols, int shard_dim, long gcols,
                              uint8_t *out) {
  const long local = rows * cols;
  if (d->tp <= 1 || shard_dim < 0) {
    if (d->tp_rank == 0) memcpy(out, x, (size_t)local);
    return PST_OK;
  }
  if (local * d->tp > (long)INT32_MAX) PST_ERR(PST_ERR_ARG, "tensor too large to gather (%ld bytes)", local * d->tp);
  double t0 = pst_now();
  uint8_t *all = NULL;
  if (d->tp_rank == 0 && shard_dim == 1 && !(all = malloc((size_t)(local * d->tp))))
    PST_ERR(PST_ERR_MEM, "out of memory gathering a tensor");
  /* row blocks concatenate in rank order; column blocks are interleaved afterwards */
  uint8_t *dst = shard_dim == 0 ? out : all;
  if (MPI_Gather(x, (int)local, MPI_BYTE, dst, (int)local, MPI_BYTE, 0, COMM(d->tp_comm)) != MPI_SUCCESS) {
    free(all);
    PST_ERR(PST_ERR_IO, "MPI_Gather failed");
  }
  if (all) {
    for (int k = 0; k < d->tp; k++)
      for (long r = 0; r < rows; r++)
        memcpy(out + r * gcols + k * cols, all + (k * rows + r) * cols, (size_t)cols);
    free(all);
  }
  charge(d, PST_PHASE_OTHER, t0, 0, 0, 1);
  return PST_OK;
}

pst_err pst_dist_gather_tensor(pst_dist *d, const pst_tensor_info *t, const float *x, float *out) {
  /* floats as 4-byte elements: the byte gather with 4x the columns */
  const int sd = t->shard_dim;
  long rows = t->shape[0], cols = t->shape[1], gcols = t->gshape[1];
  if (t->ndim == 1 && sd == 0) { /* a 1-D slice: one row of `rows` elements */
    cols = rows;
    rows = 1;
    gcols = t->gshape[0];
    return pst_dist_gather_bytes(d, (const uint8_t *)x, rows, cols * 4, 1, gcols * 4, (uint8_t *)out);
  }
  return pst_dist_gather_bytes(d, (const uint8_t *)x, rows, cols * 4, sd, gcols * 4, (uint8_t *)out);
}

void pst_dist_stats_reset(pst_dist *d) { memset(d->stats, 0, sizeof d->stats); }

pst_err pst_dist_stats_report(pst_dist *d, long steps, FILE *f) {
  static const char *NAMES[PST_PHASE_COUNT] = {"tp activations", "tp factor grads", "top-k histograms",
                                               "dp gradients", "other"};
  double v[2 * PST_PHASE_COUNT + 1];
  for (int i = 0; i < PST_PHASE_COUNT; i++) v[2 * i] = d->stats[i].seconds, v[2 * i + 1] = d->stats[i].bytes;
  v[2 * PST_PHASE_COUNT] = (double)pst_peak_rss();
  if (d->world_size > 1) MPI_Allreduce(MPI_IN_PLACE, v, 2 * PST_PHASE_COUNT + 1, MPI_DOUBLE, MPI_MAX, COMM(d->world));
  if (d->world_rank == 0 && steps > 0) {
    fprintf(f, "communication per step (max over ranks), grid dp %d x tp %d:\n", d->dp, d->tp);
    for (int i = 0; i < PST_PHASE_COUNT; i++)
      fprintf(f, "  %-18s %10.3f ms %14.0f bytes\n", NAMES[i], 1e3 * v[2 * i] / steps, v[2 * i + 1] / steps);
    fprintf(f, "  peak RSS of a rank %.1f MB (max over ranks)\n", v[2 * PST_PHASE_COUNT] / 1e6);
  }
  return PST_OK;
}
