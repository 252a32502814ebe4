/* rundir.h — the run directory's bookkeeping for schedulers and grids (world rank 0 only):
 *   .lock        held (flock) for the whole run: two jobs never write the same run dir;
 *   status.json  {"state": running|done|failed|preempted, "step", "total_steps", "host",
 *                "pid", "updated" (UTC ISO 8601), "error" (failed), "slurm_job"}, rewritten
 *                atomically at start, on progress lines, at checkpoints and at the end;
 *   train.log    everything rank 0 logs (appended across resumes). */
#ifndef PST_RUNDIR_H
#define PST_RUNDIR_H

#include <stdio.h>

#include "pst/config.h"
#include "pst/core.h"

typedef struct {
  char dir[PST_PATH_MAX];
  int lock_fd;      /* -1 when not held */
  FILE *log;        /* train.log */
} pst_rundir;

/* Create dir, take its lock (error naming the holder if another process has it), open
 * train.log and write status "running". */
pst_err pst_rundir_open(pst_rundir *r, const char *dir);
/* Rewrite status.json (error may be NULL). */
void pst_rundir_status(const pst_rundir *r, const char *state, long step, long total, const char *error);
/* Close the log and release the lock (NULL-safe on an unopened r with lock_fd = -1). */
void pst_rundir_close(pst_rundir *r);
/* mkdir -p */
pst_err pst_make_dirs(const char *path);

#endif
