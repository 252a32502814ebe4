/* collect.c — `pst grid collect`: each point's results.json and metrics.jsonl into
 * results.md / results.csv (one row per point), best.csv (per task, method and target
 * sparsity the best point: the best dev score once the target sparsity is reached, max over
 * the grid), and gnuplot figures (trade-off curve, loss and sparsity per run) (grid.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pst/grid.h"
#include "pst/rundir.h"
#include "pst/metrics.h"

typedef struct {
  long index;
  const char *dir;
  json_t *overrides;        /* borrowed from the manifest */
  pst_grid_state st;
  char task[32], method[32];
  double target;            /* NaN: unknown */
  char metric[32];
  int has_results, has_best;
  double best, best_step, best_sparsity;
  long evals;
  char best_detail[256];    /* the other metrics of the selected evaluation */
  long train_lines;         /* training records in metrics.jsonl */
} point_row;

typedef struct {
  char task[32], method[32];
  double target;
  int points, done, failed, not_done, best_point; /* best_point: -1 none */
} group_row;

/* The model-selection score of a task, as eval.c names it in results.json. */
static const char *main_metric(const char *task, const json_t *eval) {
  const char *m = "accuracy";
  if (!strcmp(task, "cola")) m = "matthews_correlation";
  else if (!strcmp(task, "mrpc") || !strcmp(task, "qqp") || !strcmp(task, "stsb") || !strcmp(task, "regress"))
    m = "combined_score";
  else if (!strcmp(task, "lm")) m = "neg_loss";
  if (eval && !json_object_get(eval, m)) { /* a task this table does not know: the key eval.c wrote */
    static const char *const order[] = {"combined_score", "matthews_correlation", "neg_loss", "accuracy", NULL};
    for (int i = 0; order[i]; i++)
      if (json_object_get(eval, order[i])) return order[i];
  }
  return m;
}

static double num(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

/* Task, method and target sparsity from the point's config (when there is no results.json). */
static void from_config(point_row *r) {
  char path[PST_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/config.ini", r->dir);
  pst_config cfg;
  pst_config_defaults(&cfg);
  if (pst_config_load(&cfg, path)) {
    pst_err_clear();
    return;
  }
  pst_glue_task gt;
  if (cfg.glue_task[0] && !pst_glue_task_parse(&gt, cfg.glue_task)) snprintf(r->task, sizeof r->task, "%s", pst_glue_task_name(gt));
  else snprintf(r->task, sizeof r->task, "%s", cfg.task);
  pst_err_clear();
  snprintf(r->method, sizeof r->method, "%s", cfg.method);
  r->target = cfg.sparsity_final;
}

static void read_results(point_row *r) {
  char path[PST_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/results.json", r->dir);
  json_error_t jerr;
  json_t *o = json_load_file(path, 0, &jerr);
  if (!o) return;
  r->has_results = 1;
  const char *s;
  if ((s = json_string_value(json_object_get(o, "task")))) snprintf(r->task, sizeof r->task, "%s", s);
  if ((s = json_string_value(json_object_get(o, "method")))) snprintf(r->method, sizeof r->method, "%s", s);
  if (json_is_number(json_object_get(o, "target_sparsity"))) r->target = num(json_object_get(o, "target_sparsity"));
  json_t *evals = json_object_get(o, "evals"), *best = json_object_get(o, "best");
  r->evals = (long)json_array_size(evals);
  snprintf(r->metric, sizeof r->metric, "%s",
           main_metric(r->task, json_is_object(best) ? best : json_array_get(evals, 0)));
  if (json_is_object(best) && json_is_number(json_object_get(best, r->metric))) {
    r->has_best = 1;
    r->best = num(json_object_get(best, r->metric));
    r->best_step = num(json_object_get(best, "step"));
    r->best_sparsity = num(json_object_get(best, "sparsity"));
    size_t off = 0;
    const char *key;
    json_t *v;
    json_object_foreach(best, key, v) {
      if (!strcmp(key, r->metric) || !strcmp(key, "step") || !strcmp(key, "epoch") || !strcmp(key, "sparsity") ||
          !json_is_number(v) || off >= sizeof r->best_detail)
        continue;
      int n = snprintf(r->best_detail + off, sizeof r->best_detail - off, "%s%s %.4f", off ? ", " : "", key, num(v));
      if (n > 0) off += (size_t)n;
    }
  }
  json_decref(o);
}

/* "k=v, k=v" of a point's overrides. */
static void overrides_text(const json_t *ov, const char *sep, char *out, size_t outsz) {
  size_t off = 0;
  const char *key;
  json_t *v;
  out[0] = 0;
  json_object_foreach((json_t *)ov, key, v) {
    if (off >= outsz) break;
    int n = snprintf(out + off, outsz - off, "%s%s=%s", off ? sep : "", key, json_string_value(v) ? json_string_value(v) : "?");
    if (n > 0) off += (size_t)n;
  }
}

static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void md_cell(FILE *f, const char *s) { /* a table cell: no '|' or line breaks */
  fputc(' ', f);
  for (; *s; s++) fputc(*s == '|' ? '/' : *s == '\n' ? ' ' : *s, f);
  fputs(" |", f);
}

/* Path of gnuplot (NULL: not installed); PST_GNUPLOT names another, "none" skips plots. */
static const char *find_gnuplot(char *buf, size_t sz) {
  const char *env = getenv("PST_GNUPLOT");
  if (env && env[0]) return strcmp(env, "none") && access(env, X_OK) == 0 ? env : NULL;
  const char *path = getenv("PATH");
  if (!path) path = "/usr/bin:/bin";
  for (const char *p = path; *p;) {
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    snprintf(buf, sz, "%.*s/gnuplot", (int)n, p);
    if (n && access(buf, X_OK) == 0) return buf;
    if (!colon) break;
    p = colon + 1;
  }
  return NULL;
}

/* Run gnuplot SCRIPT in dir, its output to dir/gnuplot.log; 0 on success. */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *script) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (chdir(dir)) _exit(127);
    FILE *log = freopen("gnuplot.log", "a", stdout);
    if (log) dup2(fileno(stdout), 2);
    execl(gnuplot, "gnuplot", script, (char *)NULL);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* File-name-safe form of s. */
static void safe_name(const char *s, char *out, size_t sz) {
  size_t i = 0;
  for (; s[i] && i + 1 < sz; i++) {
    char c = s[i];
    out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ? c : '_';
  }
  out[i] = 0;
}

/* metrics.jsonl's training records into plots/run-NNNN.dat; returns the records written. */
static long write_run_dat(const point_row *r, const char *plots) {
  char path[PST_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
  FILE *in = fopen(path, "r");
  if (!in) return 0;
  snprintf(path, sizeof path, "%s/run-%04ld.dat", plots, r->index);
  FILE *out = fopen(path, "w");
  if (!out) {
    fclose(in);
    return 0;
  }
  fprintf(out, "# point %ld: step loss sparsity (from %s/metrics.jsonl)\n", r->index, r->dir);
  char *line = NULL;
  size_t cap = 0;
  long n = 0;
  while (getline(&line, &cap, in) >= 0) {
    json_t *o = json_loads(line, 0, NULL); /* a killed run may leave a partial last line */
    if (o && !json_object_get(o, "dev") && json_is_number(json_object_get(o, "step")) &&
        json_is_number(json_object_get(o, "loss"))) {
      fprintf(out, "%.0f %.8g %.8g\n", num(json_object_get(o, "step")), num(json_object_get(o, "loss")),
              json_is_number(json_object_get(o, "sparsity")) ? num(json_object_get(o, "sparsity")) : 0.0);
      n++;
    }
    json_decref(o);
  }
  free(line);
  fclose(in);
  fclose(out);
  if (!n) remove(path);
  return n;
}

static int cmp_target(const void *a, const void *b) {
  double x = ((const double *)a)[0], y = ((const double *)b)[0];
  return x < y ? -1 : x > y;
}

pst_err pst_grid_collect(const char *outdir, const char *out, FILE *report) {
  json_t *m;
  PST_CHECK(pst_grid_manifest_load(outdir, &m));
  json_t *points = json_object_get(m, "points");
  const long n = (long)json_array_size(points);
  point_row *rows = calloc((size_t)(n ? n : 1), sizeof *rows);
  group_row *groups = calloc((size_t)(n ? n : 1), sizeof *groups);
  if (!rows || !groups) {
    free(rows), free(groups), json_decref(m);
    PST_ERR(PST_ERR_MEM, "out of memory");
  }
  int ngroups = 0, varies_tradeoff = 0;
  long counts[6] = {0}; /* done running failed preempted not-started other */
  json_t *keys = json_object_get(m, "keys");
  for (size_t k = 0; k < json_array_size(keys); k++) {
    const char *key = json_string_value(json_object_get(json_array_get(keys, k), "key"));
    if (key && (!strcmp(key, "pst.sparsity_final") || !strcmp(key, "pst.method"))) varies_tradeoff = 1;
  }
  for (long i = 0; i < n; i++) {
    json_t *p = json_array_get(points, (size_t)i);
    point_row *r = &rows[i];
    r->index = i;
    r->dir = json_string_value(json_object_get(p, "dir"));
    r->overrides = json_object_get(p, "overrides");
    r->target = NAN;
    strcpy(r->task, "?");
    strcpy(r->method, "?");
    pst_grid_point_state(r->dir, &r->st);
    from_config(r);
    read_results(r);
    if (!r->metric[0]) snprintf(r->metric, sizeof r->metric, "%s", main_metric(r->task, NULL));
    const char *s = r->st.state;
    counts[!strcmp(s, "done") ? 0 : !strcmp(s, "running") ? 1 : !strcmp(s, "failed") ? 2 : !strcmp(s, "preempted") ? 3
           : !strcmp(s, "not started") ? 4 : 5]++;
    int g = 0;
    for (; g < ngroups; g++)
      if (!strcmp(groups[g].task, r->task) && !strcmp(groups[g].method, r->method) &&
          (groups[g].target == r->target || (isnan(groups[g].target) && isnan(r->target))))
        break;
    if (g == ngroups) {
      group_row *gr = &groups[ngroups++];
      snprintf(gr->task, sizeof gr->task, "%s", r->task);
      snprintf(gr->method, sizeof gr->method, "%s", r->method);
      gr->target = r->target;
      gr->best_point = -1;
    }
    group_row *gr = &groups[g];
    gr->points++;
    if (!strcmp(s, "done")) {
      gr->done++;
      /* the paper's protocol: max over the grid of each run's best dev score at the target sparsity */
      if (r->has_best && (gr->best_point < 0 || r->best > rows[gr->best_point].best)) gr->best_point = (int)i;
    } else {
      if (!strcmp(s, "failed")) gr->failed++;
      gr->not_done++;
    }
  }

  pst_err rc = pst_make_dirs(out);
  char plots[PST_PATH_MAX + 16], path[PST_PATH_MAX + 160], gp[PST_PATH_MAX];
  snprintf(plots, sizeof plots, "%s/plots", out);
  if (!rc) rc = pst_make_dirs(plots);
  const char *gnuplot = find_gnuplot(gp, sizeof gp);
  int pngs = 0, plot_fail = 0, nplots = 0;
  char (*tradeoff_png)[96] = calloc((size_t)(ngroups ? ngroups : 1), sizeof *tradeoff_png);
  int ntradeoff = 0;
  if (!tradeoff_png && !rc) pst_err_set(rc = PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory");

  /* (a) trade-off: best dev score vs target sparsity, one line per method, one figure per task */
  for (int g = 0; !rc && varies_tradeoff && g < ngroups; g++) {
    int first = 1;
    for (int h = 0; h < g; h++) first &= strcmp(groups[h].task, groups[g].task) != 0;
    if (!first) continue;
    char task[40];
    safe_name(groups[g].task, task, sizeof task);
    snprintf(path, sizeof path, "%s/tradeoff-%s.gp", plots, task);
    FILE *f = fopen(path, "w");
    if (!f) {
      pst_err_set(rc = PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot write '%s': %s", path, strerror(errno));
      break;
    }
    fprintf(f,
            "# trade-off of grid '%s', task %s: best dev %s (after the target sparsity is reached, max over\n"
            "# the grid) against the target sparsity, one line per method. Run: gnuplot tradeoff-%s.gp\n"
            "set terminal png size 900,600 noenhanced\nset output 'tradeoff-%s.png'\nset title 'grid %s: %s'\n"
            "set xlabel 'target sparsity'\nset ylabel 'best dev %s'\nset key bottom left\nset grid\n"
            "set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\nplot",
            json_string_value(json_object_get(m, "name")), groups[g].task,
            groups[g].best_point >= 0 ? rows[groups[g].best_point].metric : "score", task, task,
            json_string_value(json_object_get(m, "name")), groups[g].task,
            groups[g].best_point >= 0 ? rows[groups[g].best_point].metric : "score");
    int lines = 0;
    for (int h = g; h < ngroups; h++) {
      if (strcmp(groups[h].task, groups[g].task)) continue;
      int seen = 0;
      for (int q = g; q < h; q++) seen |= !strcmp(groups[q].task, groups[g].task) && !strcmp(groups[q].method, groups[h].method);
      if (seen) continue;
      /* this method's points: (target, best) sorted by target */
      double *xy = calloc((size_t)ngroups * 2, sizeof(double));
      int np = 0;
      for (int q = h; xy && q < ngroups; q++)
        if (!strcmp(groups[q].task, groups[g].task) && !strcmp(groups[q].method, groups[h].method) && groups[q].best_point >= 0) {
          xy[2 * np] = groups[q].target;
          xy[2 * np + 1] = rows[groups[q].best_point].best;
          np++;
        }
      char meth[40];
      safe_name(groups[h].method, meth, sizeof meth);
      snprintf(path, sizeof path, "%s/tradeoff-%s-%s.dat", plots, task, meth);
      FILE *d = np ? fopen(path, "w") : NULL;
      if (d) {
        qsort(xy, (size_t)np, 2 * sizeof(double), cmp_target);
        fprintf(d, "# target_sparsity best_dev_score (task %s, method %s)\n", groups[g].task, groups[h].method);
        for (int q = 0; q < np; q++) fprintf(d, "%.6g %.10g\n", xy[2 * q], xy[2 * q + 1]);
        fclose(d);
        fprintf(f, "%s '%s' using 1:2 with linespoints title '%s'", lines ? ", \\\n    " : " ", path + strlen(plots) + 1,
                groups[h].method);
        lines++;
      }
      free(xy);
    }
    if (!lines) fprintf(f, " NaN notitle");
    fputc('\n', f);
    fclose(f);
    snprintf(tradeoff_png[ntradeoff++], sizeof tradeoff_png[0], "tradeoff-%s", task);
    nplots++;
    if (gnuplot && lines) {
      snprintf(path, sizeof path, "tradeoff-%s.gp", task);
      if (run_gnuplot(gnuplot, plots, path)) plot_fail++;
      else pngs++;
    }
  }
  /* (b) per run: training loss and sparsity against the step */
  for (long i = 0; !rc && i < n; i++) {
    point_row *r = &rows[i];
    if (!(r->train_lines = write_run_dat(r, plots))) continue;
    snprintf(path, sizeof path, "%s/run-%04ld.gp", plots, i);
    FILE *f = fopen(path, "w");
    if (!f) {
      pst_err_set(rc = PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot write '%s': %s", path, strerror(errno));
      break;
    }
    char ov[512];
    overrides_text(r->overrides, " ", ov, sizeof ov);
    for (char *c = ov; *c; c++)
      if (*c == '\'') *c = '"';
    fprintf(f,
            "# point %ld of grid '%s': training loss (left axis) and sparsity (right axis) against the step.\n"
            "set terminal png size 900,500 noenhanced\nset output 'run-%04ld.png'\nset title 'point %04ld (%s): %s'\n"
            "set xlabel 'step'\nset ylabel 'training loss'\nset y2label 'sparsity'\nset y2range [0:1]\n"
            "set ytics nomirror\nset y2tics\nset key top center\nset grid\n"
            "plot 'run-%04ld.dat' using 1:2 axes x1y1 with lines title 'loss', \\\n"
            "     'run-%04ld.dat' using 1:3 axes x1y2 with lines title 'sparsity'\n",
            i, json_string_value(json_object_get(m, "name")), i, i, r->st.state, ov, i, i);
    fclose(f);
    nplots++;
    if (gnuplot) {
      snprintf(path, sizeof path, "run-%04ld.gp", i);
      if (run_gnuplot(gnuplot, plots, path)) plot_fail++;
      else pngs++;
    }
  }

  /* results.csv: one row per point */
  FILE *csv = NULL, *best = NULL, *md = NULL;
  char csv_path[PST_PATH_MAX + 32], best_path[PST_PATH_MAX + 32], md_path[PST_PATH_MAX + 32];
  snprintf(csv_path, sizeof csv_path, "%s/results.csv", out);
  snprintf(best_path, sizeof best_path, "%s/best.csv", out);
  snprintf(md_path, sizeof md_path, "%s/results.md", out);
  if (!rc && (!(csv = fopen(csv_path, "w")) || !(best = fopen(best_path, "w")) || !(md = fopen(md_path, "w"))))
    pst_err_set(rc = PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot write under '%s': %s", out, strerror(errno));
  if (!rc) {
    const char *name = json_string_value(json_object_get(m, "name"));
    json_t *ov0 = n ? rows[0].overrides : NULL;
    const char *key;
    json_t *v;
    fputs("index,dir", csv);
    json_object_foreach(ov0, key, v) {
      fputc(',', csv);
      csv_field(csv, key);
    }
    fputs(",state,task,method,target_sparsity,metric,best_score,best_step,best_sparsity,evals,error\n", csv);
    for (long i = 0; i < n; i++) {
      point_row *r = &rows[i];
      fprintf(csv, "%ld,", i);
      csv_field(csv, r->dir);
      json_object_foreach(ov0, key, v) {
        fputc(',', csv);
        const char *val = json_string_value(json_object_get(r->overrides, key));
        csv_field(csv, val ? val : "");
      }
      fputc(',', csv);
      csv_field(csv, r->st.state);
      fprintf(csv, ",%s,%s,", r->task, r->method);
      if (!isnan(r->target)) fprintf(csv, "%.6g", r->target);
      fprintf(csv, ",%s,", r->metric);
      if (r->has_best) fprintf(csv, "%.10g,%.0f,%.6g", r->best, r->best_step, r->best_sparsity);
      else fputs(",,", csv);
      fprintf(csv, ",%ld,", r->evals);
      csv_field(csv, r->st.error);
      fputc('\n', csv);
    }
    fputs("task,method,target_sparsity,metric,best_score,point,step,sparsity,overrides,points,done,failed,not_done\n", best);
    for (int g = 0; g < ngroups; g++) {
      group_row *gr = &groups[g];
      fprintf(best, "%s,%s,", gr->task, gr->method);
      if (!isnan(gr->target)) fprintf(best, "%.6g", gr->target);
      if (gr->best_point >= 0) {
        point_row *r = &rows[gr->best_point];
        char ovs[1024];
        overrides_text(r->overrides, "; ", ovs, sizeof ovs);
        fprintf(best, ",%s,%.10g,%ld,%.0f,%.6g,", r->metric, r->best, r->index, r->best_step, r->best_sparsity);
        csv_field(best, ovs);
      } else {
        fputs(",,,,,,", best);
      }
      fprintf(best, ",%d,%d,%d,%d\n", gr->points, gr->done, gr->failed, gr->not_done);
    }

    /* results.md */
    fprintf(md, "# Grid `%s`: results\n\n", name);
    fprintf(md, "- grid file: `%s`\n- base config: `%s`\n- run dirs: `%s/points/NNNN`\n",
            json_string_value(json_object_get(m, "grid")) ? json_string_value(json_object_get(m, "grid")) : "?",
            json_string_value(json_object_get(m, "base")) ? json_string_value(json_object_get(m, "base")) : "?", outdir);
    fprintf(md, "- %ld points: %ld done, %ld running, %ld failed, %ld preempted, %ld not started%s\n\n", n, counts[0],
            counts[1], counts[2], counts[3], counts[4], counts[5] ? " (and some with an unreadable status.json)" : "");
    fputs("## Best per task\n\nThe paper's protocol: each run's best dev score once its target sparsity is reached "
          "(results.json `best`), maximised over the grid's hyperparameters. Only finished (`done`) points count; "
          "the last columns say how many did not finish.\n\n",
          md);
    fputs("| task | method | target sparsity | metric | best | point | step | sparsity | overrides | done | failed | not done |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
          md);
    for (int g = 0; g < ngroups; g++) {
      group_row *gr = &groups[g];
      char cell[1024];
      fputc('|', md);
      md_cell(md, gr->task);
      md_cell(md, gr->method);
      snprintf(cell, sizeof cell, "%.4g", gr->target);
      md_cell(md, isnan(gr->target) ? "?" : cell);
      if (gr->best_point >= 0) {
        point_row *r = &rows[gr->best_point];
        md_cell(md, r->metric);
        snprintf(cell, sizeof cell, "%.4f", r->best);
        md_cell(md, cell);
        snprintf(cell, sizeof cell, "%04ld", r->index);
        md_cell(md, cell);
        snprintf(cell, sizeof cell, "%.0f", r->best_step);
        md_cell(md, cell);
        snprintf(cell, sizeof cell, "%.4f", r->best_sparsity);
        md_cell(md, cell);
        overrides_text(r->overrides, ", ", cell, sizeof cell);
        md_cell(md, cell);
      } else {
        md_cell(md, "");
        md_cell(md, gr->done ? "target sparsity not reached" : "no finished point");
        for (int c = 0; c < 4; c++) md_cell(md, "");
      }
      snprintf(cell, sizeof cell, "%d/%d", gr->done, gr->points);
      md_cell(md, cell);
      snprintf(cell, sizeof cell, "%d", gr->failed);
      md_cell(md, cell);
      snprintf(cell, sizeof cell, "%d", gr->not_done);
      md_cell(md, cell);
      fputc('\n', md);
    }
    fputs("\n## Points\n\n| point |", md);
    json_object_foreach(ov0, key, v) md_cell(md, key);
    fputs(" state | task | method | target | metric | best at target | step | evals | other metrics |\n|---|", md);
    json_object_foreach(ov0, key, v) fputs("---|", md);
    fputs("---|---|---|---|---|---|---|---|---|\n", md);
    for (long i = 0; i < n; i++) {
      point_row *r = &rows[i];
      char cell[512];
      fprintf(md, "| %04ld |", i);
      json_object_foreach(ov0, key, v) {
        const char *val = json_string_value(json_object_get(r->overrides, key));
        md_cell(md, val ? val : "");
      }
      snprintf(cell, sizeof cell, "%s%s", r->st.state, r->st.stale ? " (stale?)" : "");
      md_cell(md, cell);
      md_cell(md, r->task);
      md_cell(md, r->method);
      snprintf(cell, sizeof cell, "%.4g", r->target);
      md_cell(md, isnan(r->target) ? "?" : cell);
      md_cell(md, r->metric);
      if (r->has_best) {
        snprintf(cell, sizeof cell, "%.4f%s", r->best, strcmp(r->st.state, "done") ? " (so far)" : "");
        md_cell(md, cell);
        snprintf(cell, sizeof cell, "%.0f", r->best_step);
        md_cell(md, cell);
      } else {
        md_cell(md, r->has_results ? "target not reached" : "");
        md_cell(md, "");
      }
      snprintf(cell, sizeof cell, "%ld", r->evals);
      md_cell(md, cell);
      md_cell(md, r->best_detail);
      fputc('\n', md);
    }
    long not_done = n - counts[0];
    fprintf(md, "\n## Points not done (%ld)\n\n", not_done);
    if (!not_done) fputs("None: every point finished.\n", md);
    for (long i = 0; i < n; i++) {
      point_row *r = &rows[i];
      if (!strcmp(r->st.state, "done")) continue;
      char ovs[1024];
      overrides_text(r->overrides, ", ", ovs, sizeof ovs);
      fprintf(md, "- point %04ld (%s): **%s%s**", i, ovs[0] ? ovs : "no overrides", r->st.state, r->st.stale ? " (stale?)" : "");
      if (r->st.total) fprintf(md, " at step %ld/%ld", r->st.step, r->st.total);
      if (r->st.error[0]) fprintf(md, ": %s", r->st.error);
      fputc('\n', md);
      if (!strcmp(r->st.state, "failed")) {
        snprintf(path, sizeof path, "%s/train.log", r->dir);
        fputs("\n  ```\n", md);
        pst_grid_tail(md, path, 5, "  ");
        fputs("  ```\n\n", md);
      }
    }
    fputs("\n## Plots\n\n", md);
    if (!nplots) fputs("No data to plot yet.\n", md);
    for (int t = 0; t < ntradeoff; t++)
      fprintf(md, "![%s](plots/%s.png)\n\n", tradeoff_png[t], tradeoff_png[t]);
    for (long i = 0; i < n; i++)
      if (rows[i].train_lines) fprintf(md, "- point %04ld: [loss and sparsity](plots/run-%04ld.png)\n", i, i);
    if (!gnuplot && nplots) fputs("\ngnuplot was not found: the PNGs were not made; plots/ holds the .dat and .gp files "
                                  "(`cd plots && gnuplot FILE.gp`).\n", md);
  }
  if (csv) fclose(csv);
  if (best) fclose(best);
  if (md) fclose(md);
  if (!rc) {
    fprintf(report, "collected %ld points of grid '%s': %ld done, %ld running, %ld failed, %ld preempted, %ld not started\n", n,
            json_string_value(json_object_get(m, "name")), counts[0], counts[1], counts[2], counts[3], counts[4]);
    for (int g = 0; g < ngroups; g++) {
      group_row *gr = &groups[g];
      if (gr->best_point >= 0)
        fprintf(report, "  best %s / %s / sparsity %.4g: %s %.4f (point %04d, step %.0f)%s\n", gr->task, gr->method, gr->target,
                rows[gr->best_point].metric, rows[gr->best_point].best, gr->best_point, rows[gr->best_point].best_step,
                gr->not_done ? " (some points not done)" : "");
      else
        fprintf(report, "  best %s / %s / sparsity %.4g: none yet (%d of %d points done)\n", gr->task, gr->method, gr->target,
                gr->done, gr->points);
    }
    fprintf(report, "  %s  (report: best per task, every point, points not done)\n  %s  (one row per point)\n  %s  (best per task, method, target sparsity)\n",
            md_path, csv_path, best_path);
    if (!gnuplot) fprintf(report, "  %s/  (%d plot(s) as .dat + .gp; gnuplot not found: PNGs skipped)\n", plots, nplots);
    else fprintf(report, "  %s/  (%d PNG(s)%s)\n", plots, pngs, plot_fail ? "; some gnuplot runs failed: see gnuplot.log" : "");
  }
  free(tradeoff_png);
  free(rows);
  free(groups);
  json_decref(m);
  return rc;
}
