/* fuzz_textdata.c — fuzz target for the text data readers (src/data/table.c, glue.c, d2t.c).
 *
 * Built with clang -fsanitize=fuzzer,address it is a libFuzzer target
 * (LLVMFuzzerTestOneInput); built with -DPST_FUZZ_MAIN it is a plain program that replays
 * every file of the corpus directories / files named on the command line, so `make check`
 * can run the committed corpus (tests/fuzz/corpus/textdata, the default without arguments)
 * without clang.
 *
 * The first input byte picks the reader and its options, the rest is the file content:
 *   s % 8: 0 tsv, 1 tsv with quoting, 2 csv, 3 jsonl, 4 csv without header (columns "0",
 *   "1", "2"), 5 GLUE (task = (s / 8) % 9), 6 data-to-text (format = (s / 8) % 4, flags
 *   = (s / 32) % 8), 7 jsonl regression; for 0-4: (s / 8) & 1 fixed classes {"0","1","x"},
 *   (s / 16) & 1 sorted classes, (s / 32) & 1 no text b.
 * Each input is loaded twice, with PST_BAD_FAIL and PST_BAD_SKIP (from memory, with
 * pst_*_load_mem). Checks: a failed load has a known code, a message starting with the name,
 * and a zeroed data set; a loaded set has n > 0, valid UTF-8 texts, labels consistent with
 * num_labels / regression, distinct class names, increasing lines; a FAIL-mode success
 * equals the SKIP-mode result with nothing skipped, and a FAIL-mode format error is a SKIP-
 * mode skip or failure; both groupings partition the examples; csv and jsonl sets written
 * back (every field quoted / json_dumps) read back identical. Any broken invariant calls
 * abort() so the fuzzer records a crash. See tests/fuzz/README.md for the commands. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/textdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current_input = "libFuzzer input"; /* named in failure reports */
static const char *const NAME = "fuzz-input";

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "fuzz_textdata: %s: invariant failed at line %d: %s\n"           \
              "  last error: %s\n", current_input, __LINE__, #cond, pst_err_message()); \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

static const char *const fixed_names[] = {"0", "1", "x", NULL};

typedef struct {
  int kind; /* 0 table, 1 glue, 2 d2t */
  pst_table_opts t;
  pst_glue_task task;
  pst_d2t_format d2t;
  int flags;
} config;

static config pick(uint8_t s) {
  config c;
  memset(&c, 0, sizeof c);
  int r = s % 8, hi = s / 8;
  if (r == 5) {
    c.kind = 1;
    c.task = (pst_glue_task)(hi % PST_GLUE_NTASKS);
    return c;
  }
  if (r == 6) {
    c.kind = 2;
    c.d2t = (pst_d2t_format)(hi % 4);
    c.flags = (s / 32) % 8;
    return c;
  }
  static const pst_table_format fmt[] = {PST_TABLE_TSV, PST_TABLE_TSV, PST_TABLE_CSV, PST_TABLE_JSONL, PST_TABLE_CSV,
                                         0,             0,             PST_TABLE_JSONL};
  c.t.format = fmt[r];
  c.t.quoted = r == 1;
  c.t.no_header = r == 4;
  c.t.regression = r == 7;
  c.t.text_a = r == 4 ? "0" : "a";
  c.t.text_b = (hi / 4) & 1 ? NULL : r == 4 ? "1" : "b";
  c.t.label = r == 4 ? "2" : "label";
  if (r != 7) {
    c.t.label_names = hi & 1 ? fixed_names : NULL;
    c.t.sort_labels = (hi / 2) & 1;
  }
  return c;
}

static pst_err load(const config *c, pst_text_dataset *d, const uint8_t *data, size_t size, pst_bad_rows bad,
                    long *skipped) {
  switch (c->kind) {
  case 1: return pst_glue_load_mem(d, c->task, NAME, (const char *)data, size, bad, skipped);
  case 2: return pst_d2t_load_mem(d, c->d2t, NAME, (const char *)data, size, c->flags, bad, skipped);
  default: {
    pst_table_opts o = c->t;
    o.bad = bad;
    return pst_table_load_mem(d, NAME, (const char *)data, size, &o, skipped);
  }
  }
}

static int is_zero(const pst_text_dataset *d) {
  return !d->ex && !d->n && !d->num_labels && !d->regression && !d->label_names;
}

static int str_eq(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static int same(const pst_text_dataset *x, const pst_text_dataset *y) {
  if (x->n != y->n || x->num_labels != y->num_labels || x->regression != y->regression) return 0;
  for (int k = 0; k < x->num_labels && x->label_names; k++)
    if (!y->label_names || strcmp(x->label_names[k], y->label_names[k])) return 0;
  for (long i = 0; i < x->n; i++) {
    const pst_text_example *a = &x->ex[i], *b = &y->ex[i];
    if (!str_eq(a->a, b->a) || !str_eq(a->b, b->b) || a->label_id != b->label_id) return 0;
    if (!(a->label == b->label || (isnan(a->label) && isnan(b->label)))) return 0;
  }
  return 1;
}

static void check_groups(const pst_text_dataset *d, pst_group_by by) {
  pst_text_groups g;
  CHECK(pst_text_group(&g, d, by) == PST_OK);
  CHECK(g.n >= 1 && g.n <= d->n);
  CHECK(g.start[0] == 0 && g.start[g.n] == d->n);
  char *seen = calloc((size_t)d->n, 1);
  CHECK(seen);
  for (long k = 0; k < g.n; k++) {
    CHECK(g.start[k + 1] > g.start[k]);
    const pst_text_example *first = &d->ex[g.member[g.start[k]]];
    for (long m = g.start[k]; m < g.start[k + 1]; m++) {
      long i = g.member[m];
      CHECK(i >= 0 && i < d->n && !seen[i]);
      seen[i] = 1;
      if (by == PST_GROUP_BY_INPUT) CHECK(!strcmp(d->ex[i].a, first->a));
      else CHECK(d->ex[i].line == first->line);
    }
  }
  free(seen);
  pst_text_groups_free(&g);
}

static void check_set(const config *c, const pst_text_dataset *d) {
  CHECK(d->n > 0 && d->ex);
  if (d->regression) CHECK(d->num_labels == 1 && !d->label_names);
  else if (d->num_labels) CHECK(d->label_names);
  for (int k = 0; k < d->num_labels && d->label_names; k++) {
    CHECK(d->label_names[k]);
    for (int j = 0; j < k; j++) CHECK(strcmp(d->label_names[j], d->label_names[k]));
  }
  for (long i = 0; i < d->n; i++) {
    const pst_text_example *e = &d->ex[i];
    CHECK(e->a && pst_utf8_check(e->a, strlen(e->a)) < 0);
    if (e->b) CHECK(pst_utf8_check(e->b, strlen(e->b)) < 0);
    if (c->kind == 0 && !c->t.text_b) CHECK(!e->b);
    if (c->kind == 0 && c->t.text_b) CHECK(e->b);
    CHECK(e->label_id >= -1 && e->label_id < d->num_labels);
    if (e->label_id >= 0) CHECK(!d->regression && e->label == (float)e->label_id);
    else CHECK(isnan(e->label) || (d->regression && isfinite(e->label)));
    CHECK(e->line >= 1);
    if (i) CHECK(c->kind == 2 && c->d2t >= PST_D2T_DART ? e->line >= d->ex[i - 1].line : e->line > d->ex[i - 1].line);
  }
  check_groups(d, PST_GROUP_BY_INPUT);
  check_groups(d, PST_GROUP_BY_LINE);
}

/* Write d as csv (every field quoted) or jsonl and read it back: it must be the same set. */
static void round_trip(const config *c, const pst_text_dataset *d) {
  if (c->kind != 0 || c->t.no_header || c->t.sort_labels || c->t.format == PST_TABLE_TSV) return;
  int csv = c->t.format == PST_TABLE_CSV;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f);
  if (csv) fputs("label,a,b\r\n", f);
  for (long i = 0; i < d->n; i++) {
    const pst_text_example *e = &d->ex[i];
    char num[48];
    const char *lab = NULL;
    if (e->label_id >= 0) lab = d->label_names[e->label_id];
    else if (d->regression && !isnan(e->label)) snprintf(num, sizeof num, "%.17g", (double)e->label), lab = num;
    if (csv) {
      const char *fields[3] = {lab ? lab : "", e->a, e->b ? e->b : ""};
      for (int k = 0; k < 3; k++) {
        fputc('"', f);
        for (const char *p = fields[k]; *p; p++) {
          if (*p == '"') fputc('"', f);
          fputc(*p, f);
        }
        fputs(k < 2 ? "\"," : "\"\n", f);
      }
    } else {
      json_t *o = json_pack("{s:s}", "a", e->a);
      CHECK(o);
      if (e->b) json_object_set_new(o, "b", json_string(e->b));
      json_object_set_new(o, "label", lab ? json_string(lab) : json_null());
      char *s = json_dumps(o, JSON_COMPACT);
      CHECK(s);
      fprintf(f, "%s\n", s);
      free(s);
      json_decref(o);
    }
  }
  CHECK(fclose(f) == 0);
  config c2 = *c;
  if (csv && !c->t.label_names) {
    /* an unlabeled example reads back with an empty label: only sets without any */
    for (long i = 0; i < d->n; i++)
      if (d->ex[i].label_id < 0 && !d->regression) {
        free(buf);
        return;
      }
  }
  if (csv && d->regression) {
    free(buf);
    return;
  }
  pst_text_dataset back;
  long sk;
  pst_err rc = load(&c2, &back, (const uint8_t *)buf, len, PST_BAD_FAIL, &sk);
  CHECK(rc == PST_OK);
  if (c->t.label_names || d->regression) CHECK(same(d, &back));
  else {
    /* open classes: the same names in the same (first-seen) order, unless some class
     * was first seen on a row that was then rejected: compare by name */
    CHECK(back.n == d->n);
    for (long i = 0; i < d->n; i++) {
      CHECK(str_eq(d->ex[i].a, back.ex[i].a) && str_eq(d->ex[i].b, back.ex[i].b));
      CHECK((d->ex[i].label_id < 0) == (back.ex[i].label_id < 0));
      if (d->ex[i].label_id >= 0)
        CHECK(!strcmp(d->label_names[d->ex[i].label_id], back.label_names[back.ex[i].label_id]));
    }
  }
  pst_text_dataset_free(&back);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  config c = pick(data[0]);
  data++, size--;
  pst_text_dataset d1, d2;
  long sk1 = -1, sk2 = -1;
  pst_err_clear();
  pst_err r1 = load(&c, &d1, data, size, PST_BAD_FAIL, &sk1);
  char msg1[1024];
  snprintf(msg1, sizeof msg1, "%s", pst_err_message());
  int saved = pst_log_level;
  pst_log_level = 0; /* the skip report */
  pst_err r2 = load(&c, &d2, data, size, PST_BAD_SKIP, &sk2);
  pst_log_level = saved;
  if (r1 == PST_OK) {
    CHECK(sk1 == 0);
    check_set(&c, &d1);
    CHECK(r2 == PST_OK && sk2 == 0 && same(&d1, &d2));
    round_trip(&c, &d1);
  } else {
    CHECK(r1 == PST_ERR_FORMAT || r1 == PST_ERR_ARG || r1 == PST_ERR_MEM);
    CHECK(strncmp(msg1, NAME, strlen(NAME)) == 0);
    CHECK(is_zero(&d1));
  }
  if (r2 == PST_OK) {
    check_set(&c, &d2);
    CHECK(sk2 >= 0);
    if (r1 != PST_OK) CHECK(sk2 > 0 && r1 == PST_ERR_FORMAT);
  } else {
    CHECK(r2 == PST_ERR_FORMAT || r2 == PST_ERR_ARG || r2 == PST_ERR_MEM);
    CHECK(strncmp(pst_err_message(), NAME, strlen(NAME)) == 0);
    CHECK(is_zero(&d2));
    CHECK(r1 != PST_OK);
  }
  pst_text_dataset_free(&d1);
  pst_text_dataset_free(&d2);
  pst_err_clear();
  return 0;
}

#ifdef PST_FUZZ_MAIN
#define PST_FUZZ_NAME "textdata"
#include "replay_main.h"
#endif
