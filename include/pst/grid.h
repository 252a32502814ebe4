/* grid.h — hyperparameter grids (`pst grid`): the grid file, its expansion into one run
 * directory per point, the points' states and the collection of their results.
 *
 * Grid file (INI; '#' or ';' start a comment line, or an inline comment after a blank):
 *   [grid]    base = CONFIG.ini (relative to the grid file), name = NAME
 *   [set]     section.key = value          fixed override of every point (optional)
 *   [axes]    section.key = v1, v2, ...    one dimension each: the Cartesian product
 *   [zip]     section.key = v1, v2, ...    all keys advance together: one dimension
 *   [repeat]  section.key = v1, v2, ...    repeats every point (e.g. train.seed = 1, 2, 3)
 * Dimensions are ordered as they appear in the file ([zip] at its first key); the first
 * varies slowest. Relative paths in values resolve against the grid file's folder, those of
 * the base against the base's folder; the written configs hold absolute paths only. */
#ifndef PST_GRID_H
#define PST_GRID_H

#include <jansson.h>
#include <stdio.h>

#include "pst/config.h"
#include "pst/core.h"

#define PST_GRID_KEY_MAX 64
#define PST_GRID_MAX_POINTS 100000

typedef enum { PST_GRID_SET, PST_GRID_AXIS, PST_GRID_ZIP, PST_GRID_REPEAT } pst_grid_kind;

typedef struct {
  char key[PST_GRID_KEY_MAX]; /* section.key */
  pst_grid_kind kind;
  int line;                   /* line in the grid file */
  int dim;                    /* dimension it belongs to (-1 for [set]) */
  int n;                      /* values */
  char **values;
} pst_grid_key;

typedef struct {
  char path[PST_PATH_MAX];    /* absolute path of the grid file */
  char dir[PST_PATH_MAX];     /* its folder (absolute) */
  char name[128];
  char base[PST_PATH_MAX];    /* absolute path of the base config */
  int nkeys;
  pst_grid_key *keys;         /* in file order */
  int ndims;
  int *dim_len;               /* values per dimension */
  long npoints;
} pst_grid;

/* Parse and check a grid file: every key and value is tried on a default pst_config, so an
 * unknown key or bad value is an error naming FILE:LINE and the key. */
pst_err pst_grid_load(pst_grid *g, const char *path);
void pst_grid_free(pst_grid *g);
/* Value of key k (not [set]) at point i. */
const char *pst_grid_value(const pst_grid *g, long point, int k);
/* The config of point i: the base, [set], the point's overrides, train.run_dir = run_dir,
 * every path absolute; checked with pst_config_finalize on a copy. */
pst_err pst_grid_point_config(const pst_grid *g, long point, const char *run_dir, pst_config *cfg);

/* Expand into outdir (see `pst grid --help`); *written / *kept count the point configs
 * written and those left alone because the point has started. */
pst_err pst_grid_expand(const pst_grid *g, const char *outdir, int max_parallel, int *written, int *kept);

/* The manifest of an expanded grid (new reference; error if missing or malformed). */
pst_err pst_grid_manifest_load(const char *outdir, json_t **manifest);

/* State of one point from DIR/status.json. */
typedef struct {
  char state[32];             /* done | running | failed | preempted | not started */
  int stale;                  /* running, but updated more than 10 minutes ago */
  long step, total;
  char host[128], updated[32], slurm_job[64];
  long age_s;                 /* seconds since updated (-1 unknown) */
  char error[1024];
} pst_grid_state;
void pst_grid_point_state(const char *dir, pst_grid_state *st);
/* Print the last n lines of a file, each prefixed (nothing if it cannot be read). */
void pst_grid_tail(FILE *out, const char *path, int n, const char *prefix);

/* `pst grid collect`: results.md, results.csv, best.csv and plots under out; prints where
 * they went to `report`. */
pst_err pst_grid_collect(const char *outdir, const char *out, FILE *report);


/* Absolute form of path relative to dir (itself absolute): "./" and leading "../" are
 * folded; the file need not exist. */
void pst_grid_abspath(const char *dir, const char *path, char *out, size_t outsz);

#endif
