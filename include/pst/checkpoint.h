/* checkpoint.h — HDF5 training checkpoints (DESIGN.md §5, doc/checkpoint-format.md):
 * written collectively by all ranks with parallel HDF5 (MPI-IO) as global-shape datasets,
 * each rank writing its hyperslab; Fletcher32 on every dataset; written to a temporary name,
 * flushed, synced and renamed, so the previous checkpoint is never touched. Readable on any
 * dp x tp layout (each rank reads its slices). Without MPI the same file is written serially. */
#ifndef PST_CHECKPOINT_H
#define PST_CHECKPOINT_H

#include "pst/config.h"
#include "pst/core.h"
#include "pst/dist.h"
#include "pst/model.h"
#include "pst/train.h"

#define PST_CKPT_FORMAT "pst-checkpoint"
#define PST_CKPT_VERSION 2 /* 2: every dataset carries its content checksum (xsum) */

/* The run state beside the tensors (root attributes and /meta datasets). */
typedef struct {
  long step, epoch, cursor, total_steps;  /* optimizer steps done; data position */
  double sparsity;                        /* of the masks after `step` */
  uint64_t seed;
  int dp, tp;                             /* layout it was written with */
  char base_model[PST_PATH_MAX + 64];     /* path of the frozen weights (or "random ...") */
  char base_sha256[65];                   /* of the weights file ("" for random) */
  char *config_text;                      /* resolved config (INI), owned */
  char *results_json;                     /* dev evaluations so far (results.json), owned */
  int sparse;                             /* the file holds /sparse (the CSR of every layer's M ⊙ W') */
  const char *mpiio_hints;                /* writing: ckpt.mpiio_hints (NULL or "": none) */
} pst_ckpt_meta;

void pst_ckpt_meta_free(pst_ckpt_meta *meta);

/* Write path (via path.tmp and a rename): meta, every trainable tensor, its Adam moments
 * and, when meta->sparse, per sparsified layer the CSR of M ⊙ W' (resume does not need it).
 * Collective over the world of d. */
pst_err pst_ckpt_write(const char *path, pst_dist *d, pst_model *m, const pst_adamw *opt, const pst_ckpt_meta *meta);
/* Read path into the model's trainables and the optimizer (this rank's slices), verifying
 * the format and every dataset's checksum (also those not needed to resume). The caller
 * recomputes the masks. Collective; on failure every rank returns the same error. */
pst_err pst_ckpt_read(const char *path, pst_dist *d, pst_model *m, pst_adamw *opt, pst_ckpt_meta *meta);
/* Read only the meta of a checkpoint (serial, any process). */
pst_err pst_ckpt_read_meta(const char *path, pst_ckpt_meta *meta);

/* Checkpoint file name for a step: DIR/ckpt-00000042.h5. */
void pst_ckpt_path(char *out, size_t n, const char *dir, long step);
/* Steps of the checkpoints in dir, newest first (at most cap); returns the count. */
int pst_ckpt_list(const char *dir, long *steps, int cap);
/* Delete all but the newest `keep` checkpoints of dir and the one of step `protect` (-1: none;
 * the run's best evaluation). Rank 0 only calls it. */
void pst_ckpt_prune(const char *dir, int keep, long protect);
/* SHA-256 (hex) of a file's bytes. */
pst_err pst_file_sha256(const char *path, char hex[65]);

#endif
