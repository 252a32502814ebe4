/* train_cmd.c — `pst train -c CONFIG [section.key=value ...] [-v|-q]`. */
#include <stdio.h>
#include <string.h>

#include "pst/blas.h"
#include "pst/cli.h"
#include "pst/config.h"
#include "pst/dist.h"
#include "pst/run.h"

static void train_usage(FILE *f) {
  fprintf(f,
          "usage: pst train -c CONFIG.ini [section.key=value ...] [--resume auto|none|FILE] [-v] [-q]\n\n"
          "Trains with the INI config; each section.key=value overrides the file. Progress goes to\n"
          "stderr; run_dir gets config.ini (resolved), metrics.jsonl, results.json and\n"
          "trainables.safetensors.\n"
          "  -v  debug output and error trails    -q  errors only\n\n"
          "Under MPI (mpirun -np N pst train ..., or srun --mpi=pmix pst train ...) the N ranks form a\n"
          "dp x tp grid: dist.tp ranks share one model (tensor parallel), dp = N / dist.tp replicas\n"
          "split every batch (data parallel); rank 0 prints and writes the run dir.\n\n"
          "Checkpoints (HDF5, ckpt.dir): every ckpt.every steps, at the end, and when SIGTERM or\n"
          "SIGUSR1 arrives (the step in progress finishes first; exit status 75). --resume auto\n"
          "continues from the newest checkpoint that reads back intact (on any dp x tp layout).\n\n"
          "Keys (section.key, default, meaning):\n");
  pst_config_help(f);
}

int pst_cmd_train(int argc, char **argv) {
  pst_config cfg;
  int verbose;
  int status = pst_cli_config(argc, argv, &cfg, &verbose, NULL, train_usage);
  if (status >= 0) return status;
  pst_set_threads(cfg.threads);
  if (pst_blas_is_slow())
    fprintf(stderr, "pst: warning: OpenBLAS runs its slow '%s' kernels (see README: OPENBLAS_CORETYPE)\n",
            pst_blas_corename());
  pst_dist dist;
  if (pst_dist_init(&dist, &argc, &argv, cfg.tp)) {
    pst_err_print(stderr, verbose);
    pst_dist_finalize(&dist);
    return 1;
  }
  int preempted = 0;
  if (pst_train_run(&cfg, &dist, &preempted)) {
    if (preempted) { /* every rank stopped after the same step, the checkpoint is complete */
      if (dist.world_rank == 0) pst_err_print(stderr, verbose);
      pst_dist_finalize(&dist);
      return PST_EXIT_PREEMPTED;
    }
    if (dist.world_size > 1) { /* one rank failed: name it, and stop the whole job */
      fprintf(stderr, "pst: rank %d of %d (dp %d, tp %d) failed:\n", dist.world_rank, dist.world_size, dist.dp_rank,
              dist.tp_rank);
      pst_err_print(stderr, verbose);
      fflush(stderr);
      pst_dist_abort(&dist, 1);
    }
    pst_err_print(stderr, verbose);
    pst_dist_finalize(&dist);
    return 1;
  }
  pst_dist_finalize(&dist);
  return 0;
}
