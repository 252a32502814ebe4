/* grid_cmd.c — `pst grid expand|status|collect`: hyperparameter grids run as a Slurm job
 * array, one point per array task (grid.h; jobs/grid.sbatch runs point $SLURM_ARRAY_TASK_ID). */
#include <stdlib.h>
#include <string.h>

#include "pst/cli.h"
#include "pst/grid.h"

static void grid_usage(FILE *f) {
  fprintf(f,
          "usage: pst grid expand GRID OUTDIR [--max-parallel M]\n"
          "       pst grid status OUTDIR [--pending] [--max-parallel M]\n"
          "       pst grid collect OUTDIR [--out DIR]\n\n"
          "expand   writes OUTDIR/points/NNNN/config.ini (the base config with the point's overrides, every\n"
          "         path absolute, train.run_dir = that folder, ckpt.resume = auto unless the grid sets it) and\n"
          "         OUTDIR/manifest.json {name, grid, base, points: [{index, dir, overrides}]}, and prints the\n"
          "         job array command: sbatch --array=0-(N-1)%%M jobs/grid.sbatch OUTDIR (M: --max-parallel,\n"
          "         default 8). Expanding the same grid again is a no-op for points that have started; an\n"
          "         OUTDIR holding another grid is refused.\n"
          "status   each point's state from its status.json (written by `pst train`): done, running\n"
          "         (\"stale?\" when not updated for 10 minutes), failed (with the last 5 lines of train.log),\n"
          "         preempted, or not started; the counts; and the sbatch command that re-submits the points\n"
          "         not done. --pending prints only their indices, comma-separated (nothing when all are done):\n"
          "           sbatch --array=$(pst grid status OUTDIR --pending)%%8 jobs/grid.sbatch OUTDIR\n"
          "collect  reads every point's results.json and metrics.jsonl into DIR (default OUTDIR/collect):\n"
          "         results.md (report), results.csv (one row per point: overrides, state, best main dev\n"
          "         score at the target sparsity and its step), best.csv (per task, method and target\n"
          "         sparsity the best finished point: the paper's protocol), and plots/ (gnuplot: the\n"
          "         trade-off of best score vs target sparsity per method when the grid varies\n"
          "         pst.sparsity_final or pst.method, and loss + sparsity vs step per run; without gnuplot\n"
          "         only the .dat/.gp files). Failed and unfinished points are listed, never dropped.\n\n"
          "Grid file (INI; '#' or ';' start a comment, also after a blank inside a line):\n"
          "  [grid]\n"
          "  base = ../glue/bert-base-pst.ini    # the config every point starts from (relative to the grid file)\n"
          "  name = bert-glue                    # default: the file name without .grid\n"
          "  [set]                               # optional: one value each, the same for every point\n"
          "  train.eval_every = 0\n"
          "  [axes]                              # each key one dimension: the Cartesian product\n"
          "  optim.lr = 3e-5, 5e-5, 1e-4\n"
          "  train.epochs = 20, 40\n"
          "  [zip]                               # optional: the keys advance together (one dimension;\n"
          "  data.glue_task = RTE, MRPC          #   lists of equal length)\n"
          "  data.train = ../../../shared/data/glue/RTE/train.tsv, ../../../shared/data/glue/MRPC/train.tsv\n"
          "  [repeat]                            # optional: every point again for each value\n"
          "  train.seed = 1, 2, 3\n"
          "Values are separated by commas. Dimensions are numbered in file order ([zip] where its first key\n"
          "is) and the first varies slowest: point i's folder is OUTDIR/points/%%04d. Relative paths in values\n"
          "resolve against the grid file's folder, those in the base against the base's folder. Every key\n"
          "and value is checked on a pst config when the grid is read (an unknown key such as optim.lrr is\n"
          "an error naming GRID:LINE), and every point's config with the cross-key checks of `pst train`.\n"
          "train.run_dir is set by the grid and may not appear in it.\n");
}

/* Parse "--max-parallel M" at argv[*i]; 0 ok, 2 bad usage. */
static int max_parallel_arg(int argc, char **argv, int *i, int *m) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "pst grid: --max-parallel needs a number\n");
    return 2;
  }
  char *end;
  long v = strtol(argv[++*i], &end, 10);
  if (*end || v < 1 || v > 100000) {
    fprintf(stderr, "pst grid: --max-parallel %s: expected a positive integer\n", argv[*i]);
    return 2;
  }
  *m = (int)v;
  return 0;
}

static int cmd_expand(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  int npos = 0, M = 8;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--max-parallel")) {
      if (max_parallel_arg(argc, argv, &i, &M)) return 2;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "pst grid expand: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (npos < 2) {
      pos[npos++] = argv[i];
    } else {
      fprintf(stderr, "pst grid expand: too many arguments ('%s')\n", argv[i]);
      return 2;
    }
  }
  if (npos != 2) {
    fprintf(stderr, "usage: pst grid expand GRID OUTDIR [--max-parallel M]\n");
    return 2;
  }
  pst_grid g;
  if (pst_grid_load(&g, pos[0])) {
    pst_err_print(stderr, 0);
    return 1;
  }
  int written, kept;
  if (pst_grid_expand(&g, pos[1], M, &written, &kept)) {
    pst_err_print(stderr, 0);
    pst_grid_free(&g);
    return 1;
  }
  printf("grid '%s': %ld points in %s/points/ (%d config(s) written", g.name, g.npoints, pos[1], written);
  if (kept) printf(", %d started point(s) left as they are", kept);
  printf(")\n  manifest: %s/manifest.json\n", pos[1]);
  printf("submit with:\n  sbatch --array=0-%ld%%%d jobs/grid.sbatch %s\n", g.npoints - 1, M, pos[1]);
  pst_grid_free(&g);
  return 0;
}

static int cmd_status(int argc, char **argv) {
  const char *outdir = NULL;
  int pending_only = 0, M = 8;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--pending")) pending_only = 1;
    else if (!strcmp(argv[i], "--max-parallel")) {
      if (max_parallel_arg(argc, argv, &i, &M)) return 2;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "pst grid status: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (!outdir) outdir = argv[i];
    else {
      fprintf(stderr, "pst grid status: too many arguments ('%s')\n", argv[i]);
      return 2;
    }
  }
  if (!outdir) {
    fprintf(stderr, "usage: pst grid status OUTDIR [--pending] [--max-parallel M]\n");
    return 2;
  }
  json_t *m;
  if (pst_grid_manifest_load(outdir, &m)) {
    pst_err_print(stderr, 0);
    return 1;
  }
  json_t *points = json_object_get(m, "points");
  const size_t n = json_array_size(points);
  long done = 0, running = 0, failed = 0, preempted = 0, not_started = 0, other = 0, stale = 0;
  char *pending = calloc(n * 12 + 1, 1);
  size_t plen = 0;
  if (!pending) {
    json_decref(m);
    fprintf(stderr, "pst: error: out of memory\n");
    return 1;
  }
  if (!pending_only)
    printf("grid '%s': %zu points in %s\n%-6s %-17s %-13s %-22s %-16s %s\n", json_string_value(json_object_get(m, "name")), n,
           outdir, "point", "state", "step", "updated (UTC)", "slurm job", "overrides");
  for (size_t i = 0; i < n; i++) {
    json_t *p = json_array_get(points, i);
    const char *dir = json_string_value(json_object_get(p, "dir"));
    pst_grid_state st;
    pst_grid_point_state(dir, &st);
    int is_done = !strcmp(st.state, "done");
    if (is_done) done++;
    else if (!strcmp(st.state, "running")) running++, stale += st.stale;
    else if (!strcmp(st.state, "failed")) failed++;
    else if (!strcmp(st.state, "preempted")) preempted++;
    else if (!strcmp(st.state, "not started")) not_started++;
    else other++;
    if (!is_done) plen += (size_t)sprintf(pending + plen, "%s%zu", plen ? "," : "", i);
    if (pending_only) continue;
    char state[48], step[48] = "", ov[1024] = "";
    snprintf(state, sizeof state, "%s%s", st.state, st.stale ? " (stale?)" : "");
    if (strcmp(st.state, "not started") && strcmp(st.state, "unknown")) snprintf(step, sizeof step, "%ld/%ld", st.step, st.total);
    size_t off = 0;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(p, "overrides"), key, v) {
      if (off >= sizeof ov) break;
      int k = snprintf(ov + off, sizeof ov - off, "%s%s=%s", off ? " " : "", key, json_string_value(v) ? json_string_value(v) : "?");
      if (k > 0) off += (size_t)k;
    }
    printf("%04zu   %-17s %-13s %-22s %-16s %s\n", i, state, step, st.updated[0] ? st.updated : "-",
           st.slurm_job[0] ? st.slurm_job : "-", ov);
    if (st.error[0]) printf("       error: %s\n", st.error);
    if (!strcmp(st.state, "failed")) {
      char log[PST_PATH_MAX + 32];
      snprintf(log, sizeof log, "%s/train.log", dir);
      printf("       last lines of %s:\n", log);
      pst_grid_tail(stdout, log, 5, "       | ");
    }
  }
  if (pending_only) {
    if (plen) printf("%s\n", pending);
  } else {
    printf("summary: %ld done, %ld running%s, %ld failed, %ld preempted, %ld not started", done, running,
           stale ? " (some stale?)" : "", failed, preempted, not_started);
    if (other) printf(", %ld unreadable", other);
    printf(" (of %zu)\n", n);
    if (plen) {
      printf("re-submit the %zu point(s) not done:\n  sbatch --array=%s%%%d jobs/grid.sbatch %s\n", n - (size_t)done, pending, M,
             outdir);
      if (running)
        printf("  (%ld of them are running: wait for their jobs, or cancel them, before re-submitting)\n", running);
    } else {
      printf("all points done: pst grid collect %s\n", outdir);
    }
  }
  free(pending);
  json_decref(m);
  return 0;
}

static int cmd_collect(int argc, char **argv) {
  const char *outdir = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--out")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pst grid collect: --out needs a directory\n");
        return 2;
      }
      out = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "pst grid collect: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (!outdir) outdir = argv[i];
    else {
      fprintf(stderr, "pst grid collect: too many arguments ('%s')\n", argv[i]);
      return 2;
    }
  }
  if (!outdir) {
    fprintf(stderr, "usage: pst grid collect OUTDIR [--out DIR]\n");
    return 2;
  }
  char def[PST_PATH_MAX + 16];
  if (!out) {
    snprintf(def, sizeof def, "%s/collect", outdir);
    out = def;
  }
  if (pst_grid_collect(outdir, out, stdout)) {
    pst_err_print(stderr, 0);
    return 1;
  }
  return 0;
}

int pst_cmd_grid(int argc, char **argv) {
  if (argc < 2) {
    grid_usage(stderr);
    return 2;
  }
  const char *sub = argv[1];
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      grid_usage(stdout);
      return 0;
    }
  if (!strcmp(sub, "expand")) return cmd_expand(argc - 1, argv + 1);
  if (!strcmp(sub, "status")) return cmd_status(argc - 1, argv + 1);
  if (!strcmp(sub, "collect")) return cmd_collect(argc - 1, argv + 1);
  fprintf(stderr, "pst grid: unknown subcommand '%s' (expand, status, collect)\n\n", sub);
  grid_usage(stderr);
  return 2;
}
