/* glue.c — readers of the nine GLUE tasks in the glue_data layout (textdata.h): columns by
 * header name, no quoting, HF datasets' label order; CoLA train/dev have no header. */
#include "pst/textdata.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *a, *b, *label; /* header names (HF datasets' glue config) */
  const char *const *classes;
  int k;
} glue_spec;

static const char *const cola_l[] = {"unacceptable", "acceptable", NULL};
static const char *const sst2_l[] = {"negative", "positive", NULL};
static const char *const mrpc_l[] = {"not_equivalent", "equivalent", NULL};
static const char *const qqp_l[] = {"not_duplicate", "duplicate", NULL};
static const char *const mnli_l[] = {"entailment", "neutral", "contradiction", NULL};
static const char *const ent_l[] = {"entailment", "not_entailment", NULL};
static const char *const wnli_l[] = {"not_entailment", "entailment", NULL};

static const glue_spec specs[PST_GLUE_NTASKS] = {
    [PST_GLUE_COLA] = {"sentence", NULL, "label", cola_l, 2},
    [PST_GLUE_SST2] = {"sentence", NULL, "label", sst2_l, 2},
    [PST_GLUE_MRPC] = {"#1 String", "#2 String", "Quality", mrpc_l, 2},
    [PST_GLUE_STSB] = {"sentence1", "sentence2", "score", NULL, 0},
    [PST_GLUE_QQP] = {"question1", "question2", "is_duplicate", qqp_l, 2},
    [PST_GLUE_MNLI] = {"sentence1", "sentence2", "gold_label", mnli_l, 3},
    [PST_GLUE_QNLI] = {"question", "sentence", "label", ent_l, 2},
    [PST_GLUE_RTE] = {"sentence1", "sentence2", "label", ent_l, 2},
    [PST_GLUE_WNLI] = {"sentence1", "sentence2", "label", wnli_l, 2},
};

const char *const *pst_glue_labels(pst_glue_task task, int *num_labels) {
  if ((unsigned)task >= PST_GLUE_NTASKS) {
    if (num_labels) *num_labels = 0;
    return NULL;
  }
  if (num_labels) *num_labels = specs[task].k;
  return specs[task].classes;
}

static int find_col(const pst_dsv *h, const char *name) {
  for (int i = 0; i < h->nf; i++)
    if (!strcmp(h->f[i], name)) return i;
  return -1;
}

/* The rows after the header (or, for headerless CoLA, from the first row, already read). */
static pst_err read_rows(pst_text_builder *b, pst_dsv *r, int ncol, int ca, int cb, int cl, int have_row,
                         const char *what) {
  int got = 1;
  for (;;) {
    if (!have_row) {
      PST_CHECK(pst_dsv_next(r, &got));
      if (!got) return PST_OK;
    }
    have_row = 0;
    if (r->bad[0]) PST_CHECK(pst_tb_bad(b, r->row_line, "%s", r->bad));
    else if (r->nf != ncol) PST_CHECK(pst_tb_bad(b, r->row_line, "expected %d columns (%s), found %d", ncol, what, r->nf));
    else PST_CHECK(pst_tb_add(b, r->row_line, r->f[ca], cb >= 0 ? r->f[cb] : NULL, cl >= 0 ? r->f[cl] : NULL));
  }
}

static pst_err glue_parse(pst_text_builder *b, pst_glue_task task, pst_dsv *r) {
  const glue_spec *s = &specs[task];
  int got;
  PST_CHECK(pst_dsv_next(r, &got));
  if (!got) return PST_OK; /* empty file: pst_tb_end reports "no examples" */
  if (r->bad[0]) PST_ERR(PST_ERR_FORMAT, "%s:%ld: first row: %s", b->name, r->row_line, r->bad);
  /* CoLA train/dev: no header, columns source, label, original label, sentence */
  if (task == PST_GLUE_COLA && !(r->nf == 2 && !strcmp(r->f[0], "index") && !strcmp(r->f[1], "sentence"))) {
    b->col_a = "3 (sentence)";
    b->col_label = "1 (label)";
    PST_CHECK(read_rows(b, r, 4, 3, -1, 1, 1, "CoLA train/dev layout: source, label, original label, sentence"));
    return PST_OK;
  }
  int ca = find_col(r, s->a), cb = s->b ? find_col(r, s->b) : -1, cl = find_col(r, s->label);
  const char *missing = ca < 0 ? s->a : (s->b && cb < 0) ? s->b : NULL;
  if (missing)
    PST_ERR(PST_ERR_FORMAT, "%s:%ld: no column '%s' in the header: not a GLUE %s file", b->name, r->row_line, missing,
            pst_glue_task_dir(task));
  PST_CHECK(read_rows(b, r, r->nf, ca, cb, cl, 0, "as the header"));
  return PST_OK;
}

/* Load from buf (len bytes + 1 spare, split in place). */
static pst_err glue_load_buf(pst_text_dataset *d, pst_glue_task task, const char *name, char *buf, size_t len,
                             pst_bad_rows bad, long *skipped) {
  if (skipped) *skipped = 0;
  memset(d, 0, sizeof *d);
  if ((unsigned)task >= PST_GLUE_NTASKS) PST_ERR(PST_ERR_ARG, "GLUE task %d out of range", (int)task);
  const glue_spec *s = &specs[task];
  pst_text_builder b;
  PST_CHECK(pst_tb_begin(&b, d, name, bad, task == PST_GLUE_STSB, s->classes));
  b.accept_index = 1;
  b.col_a = s->a;
  b.col_b = s->b ? s->b : "";
  b.col_label = s->label;
  pst_dsv r;
  pst_dsv_init(&r, name, buf, len, '\t', 0);
  pst_err rc = glue_parse(&b, task, &r);
  pst_dsv_free(&r);
  if (!rc) rc = pst_tb_end(&b, skipped);
  if (rc) {
    pst_tb_abort(&b);
    PST_CHECK(rc);
  }
  return PST_OK;
}

pst_err pst_glue_load(pst_text_dataset *d, pst_glue_task task, const char *path, pst_bad_rows bad,
                      long *skipped) {
  char *buf;
  size_t len;
  memset(d, 0, sizeof *d);
  PST_CHECK(pst_text_read_file(&buf, &len, path));
  pst_err rc = glue_load_buf(d, task, path, buf, len, bad, skipped);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err pst_glue_load_mem(pst_text_dataset *d, pst_glue_task task, const char *name, const char *data,
                          size_t size, pst_bad_rows bad, long *skipped) {
  memset(d, 0, sizeof *d);
  char *buf = malloc(size + 1);
  if (!buf) PST_ERR(PST_ERR_MEM, "out of memory copying %s", name);
  if (size) memcpy(buf, data, size);
  pst_err rc = glue_load_buf(d, task, name, buf, size, bad, skipped);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err pst_glue_path(char *buf, size_t size, const char *glue_dir, pst_glue_task task, const char *split) {
  static const char *const plain[] = {"train", "dev", "test", NULL};
  static const char *const mnli[] = {"train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched",
                                     NULL};
  if ((unsigned)task >= PST_GLUE_NTASKS) PST_ERR(PST_ERR_ARG, "GLUE task %d out of range", (int)task);
  const char *const *ok = task == PST_GLUE_MNLI ? mnli : plain;
  int found = 0;
  for (int i = 0; ok[i] && split; i++) found |= !strcmp(ok[i], split);
  if (!found)
    PST_ERR(PST_ERR_CONFIG, "GLUE %s split '%s': allowed values are %s", pst_glue_task_dir(task),
            split ? split : "(null)",
            task == PST_GLUE_MNLI ? "train|dev_matched|dev_mismatched|test_matched|test_mismatched" : "train|dev|test");
  int n = snprintf(buf, size, "%s/%s/%s.tsv", glue_dir, pst_glue_task_dir(task), split);
  if (n < 0 || (size_t)n >= size) PST_ERR(PST_ERR_ARG, "GLUE path under '%s' is too long", glue_dir);
  return PST_OK;
}

pst_err pst_glue_load_split(pst_text_dataset *d, const char *glue_dir, pst_glue_task task, const char *split,
                            pst_bad_rows bad, long *skipped) {
  char path[4096];
  memset(d, 0, sizeof *d);
  if (skipped) *skipped = 0;
  PST_CHECK(pst_glue_path(path, sizeof path, glue_dir, task, split));
  PST_CHECK(pst_glue_load(d, task, path, bad, skipped));
  return PST_OK;
}
