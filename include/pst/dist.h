/* dist.h — the dp x tp process grid (DESIGN.md §4) and its collectives, with per-phase
 * accounting of time and bytes for the communication benchmark.
 *
 * World rank w sits at tp_rank = w % tp, dp_rank = w / tp (a tensor-parallel group is tp
 * consecutive ranks, i.e. normally one node). MPI is initialised only when the process was
 * started by a launcher (mpirun, srun: the PMIx / Open MPI environment is present); a plain
 * `pst train` runs as a 1 x 1 grid without touching MPI. */
#ifndef PST_DIST_H
#define PST_DIST_H

#include <stdint.h>

#include "pst/comm.h"
#include "pst/core.h"
#include "pst/params.h"

/* What a collective is for (the benchmark reports time and bytes per phase). */
typedef enum {
  PST_PHASE_TP_ACT = 0,   /* tensor-parallel activations and their gradients */
  PST_PHASE_TP_GRAD,      /* tp sum of the replicated factors' partial gradients */
  PST_PHASE_TOPK,         /* histogram all-reduces of the distributed top-k */
  PST_PHASE_DP_GRAD,      /* data-parallel all-reduce of the packed trainable gradients */
  PST_PHASE_OTHER,        /* loss weights, norms, replica checks, gathers */
  PST_PHASE_COUNT
} pst_phase;

typedef struct {
  double seconds;         /* wall time inside MPI calls */
  double bytes;           /* payload bytes sent by this rank (ring all-reduce: 2 (p-1)/p n) */
  long calls;
} pst_phase_stats;

typedef struct pst_dist {
  int world_rank, world_size;
  int dp, tp, dp_rank, tp_rank;
  int mpi;                /* MPI is initialised (by us) */
  void *world, *dp_comm, *tp_comm;   /* MPI_Comm handles (opaque here) */
  pst_group tp_group;     /* the model's view of the tp group (phase set by pst_dist_phase) */
  pst_phase phase;        /* phase charged by tp_group's callbacks */
  pst_phase_stats stats[PST_PHASE_COUNT];
} pst_dist;

/* Set up the grid for tensor-parallel size tp (world size must divide by it). */
pst_err pst_dist_init(pst_dist *d, int *argc, char ***argv, int tp);
void pst_dist_finalize(pst_dist *d);
/* Abort every rank (after printing this rank's error): used when one rank fails alone. */
void pst_dist_abort(const pst_dist *d, int code);
/* 1 when this process runs under an MPI launcher. */
int pst_dist_launched(void);

static inline void pst_dist_phase(pst_dist *d, pst_phase p) { d->phase = p; }

/* In-place sums over the data-parallel group (collective over dp). */
pst_err pst_dist_dp_sum_f32(pst_dist *d, float *x, long n, pst_phase phase);
pst_err pst_dist_dp_sum_f64(pst_dist *d, double *x, long n, pst_phase phase);
/* In-place sum of ints over the dp group (e.g. per-example predictions). */
pst_err pst_dist_dp_sum_i32(pst_dist *d, int *x, long n);
/* In-place sum of doubles over the tp group. */
pst_err pst_dist_tp_sum_f64(pst_dist *d, double *x, long n);
/* Wrapping sum of a u64 over the tp group. */
pst_err pst_dist_tp_sum_u64(pst_dist *d, uint64_t *x);
/* Broadcast n bytes from world rank 0. */
pst_err pst_dist_bcast(pst_dist *d, void *buf, long n);
/* Maximum of an int over the whole world (e.g. "any rank got a signal"). */
pst_err pst_dist_world_max_int(pst_dist *d, int *x);

/* Concatenate every rank's n bytes in world-rank order on world rank 0 (*all malloc'd there,
 * NUL-terminated, *total its length; NULL elsewhere). Collective over the world. */
pst_err pst_dist_gather_text(pst_dist *d, const char *mine, long n, char **all, long *total);

/* 1 if every dp replica holds bit-identical trainable values (and every tp rank the same
 * replicated tensors); on a mismatch *bad names the first differing tensor. Collective. */
pst_err pst_dist_check_replicas(pst_dist *d, const pst_params *p, int *same, const char **bad);

/* Assemble the global tensor t (local values x) on tp rank 0 into out (global size;
 * ignored on other ranks); replicated tensors are copied. Collective over tp. */
pst_err pst_dist_gather_tensor(pst_dist *d, const pst_tensor_info *t, const float *x, float *out);
/* The same for a byte tensor of the same layout (masks) with local shape rows x cols. */
pst_err pst_dist_gather_bytes(pst_dist *d, const uint8_t *x, long rows, long cols, int shard_dim, long gcols,
                              uint8_t *out);

/* Reset / print the per-phase statistics (rank 0 prints the maximum over ranks). */
void pst_dist_stats_reset(pst_dist *d);
pst_err pst_dist_stats_report(pst_dist *d, long steps, FILE *f);

#endif
