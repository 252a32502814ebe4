/* dataload.c — read a split per the config and tokenize it into token ids (dataload.h). */
#include "pst/dataload.h"

#include <stdlib.h>
#include <string.h>

#include "pst/prep.h"
#include "pst/textdata.h"

/* lm on data-to-text pairs: ids = enc(a) enc(" " b) <eos> (the tokenizer's end of sequence), truncated to max_len from the end
 * of the input side first; only the reference tokens and <eos> are targets (LoRA's GPT-2
 * convention: the model learns p(reference | input)). */
static pst_err encode_pairs_lm(pst_split *s, const pst_text_dataset *in, const pst_tokenizer *tok, int max_len,
                               const char *path) {
  pst_dataset *d = &s->ids;
  memset(d, 0, sizeof *d);
  d->n = in->n;
  size_t cap = (size_t)in->n * (size_t)max_len;
  PST_CHECK(pst_calloc((void **)&d->start, (size_t)in->n + 1, sizeof(long), "data set"));
  PST_CHECK(pst_calloc((void **)&d->ids, cap ? cap : 1, sizeof(int32_t), "data set"));
  PST_CHECK(pst_calloc((void **)&d->predict, cap ? cap : 1, 1, "data set"));
  int32_t eos = pst_tokenizer_eos_id(tok); /* GPT-2: <|endoftext|>; LLaMA family: the model's eos */
  if (eos < 0)
    PST_ERR(PST_ERR_CONFIG, "%s: language modelling on text pairs needs a tokenizer with an end-of-sequence token (%s has "
            "none)", path, pst_tokenizer_identity(tok));
  int32_t *ia = NULL, *ib = NULL;
  int na, nb, capa = 0, capb = 0;
  char *sb = NULL;
  size_t sbcap = 0;
  pst_err rc = PST_OK;
  long pos = 0;
  for (long i = 0; i < in->n && !rc; i++) {
    const pst_text_example *e = &in->ex[i];
    const char *b = e->b ? e->b : "";
    size_t need = strlen(b) + 2;
    if (need > sbcap) {
      char *t = realloc(sb, need);
      if (!t) { rc = PST_ERR_MEM; pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory"); break; }
      sb = t;
      sbcap = need;
    }
    sb[0] = ' ';
    strcpy(sb + 1, b);
    na = nb = 0;
    if ((rc = pst_tokenize(tok, e->a, &ia, &na, &capa)) || (rc = pst_tokenize(tok, sb, &ib, &nb, &capb))) {
      pst_err_set(rc, __FILE__, __LINE__, __func__, "%s:%ld: cannot tokenize: %s", path, e->line, pst_err_message());
      break;
    }
    int keep_b = nb + 1 <= max_len ? nb + 1 : max_len; /* reference (+ eos) first */
    int keep_a = na < max_len - keep_b ? na : max_len - keep_b;
    memcpy(d->ids + pos, ia, (size_t)keep_a * sizeof(int32_t));
    memcpy(d->ids + pos + keep_a, ib, (size_t)(keep_b < nb ? keep_b : nb) * sizeof(int32_t));
    if (keep_b > nb) d->ids[pos + keep_a + nb] = eos;
    memset(d->predict + pos + keep_a, 1, (size_t)keep_b);
    pos += keep_a + keep_b;
    d->start[i + 1] = pos;
  }
  free(ia);
  free(ib);
  free(sb);
  return rc;
}

/* Tokenize every example of `in` into out (ids, types, labels). */
static pst_err encode_all(pst_split *s, const pst_text_dataset *in, const pst_tokenizer *tok, int max_len,
                          pst_task task, const char *path) {
  pst_dataset *d = &s->ids;
  memset(d, 0, sizeof *d);
  d->n = in->n;
  size_t cap = (size_t)in->n * (size_t)max_len; /* upper bound: truncated to max_len */
  PST_CHECK(pst_calloc((void **)&d->start, (size_t)in->n + 1, sizeof(long), "data set"));
  PST_CHECK(pst_calloc((void **)&d->ids, cap ? cap : 1, sizeof(int32_t), "data set"));
  PST_CHECK(pst_calloc((void **)&d->types, cap ? cap : 1, sizeof(int32_t), "data set"));
  if (task == PST_TASK_CLASSIFY) PST_CHECK(pst_calloc((void **)&d->label, (size_t)in->n, sizeof(int32_t), "labels"));
  if (task == PST_TASK_REGRESS) PST_CHECK(pst_calloc((void **)&d->label_f, (size_t)in->n, sizeof(float), "labels"));
  long pos = 0;
  for (long i = 0; i < in->n; i++) {
    const pst_text_example *e = &in->ex[i];
    int len;
    pst_err rc = pst_encode(tok, e->a, e->b, max_len, d->ids + pos, d->types + pos, &len);
    if (rc) PST_ERR(rc, "%s:%ld: cannot tokenize: %s", path, e->line, pst_err_message());
    if (task == PST_TASK_CLASSIFY) {
      if (e->label_id < 0) PST_ERR(PST_ERR_FORMAT, "%s:%ld: the example has no label", path, e->line);
      d->label[i] = e->label_id;
    } else if (task == PST_TASK_REGRESS) {
      d->label_f[i] = e->label;
    }
    pos += len;
    d->start[i + 1] = pos;
  }
  return PST_OK;
}

pst_err pst_split_load(pst_split *s, const pst_config *cfg, const char *path, const pst_tokenizer *tok,
                       const char *split) {
  memset(s, 0, sizeof *s);
  pst_task task;
  PST_CHECK(pst_task_parse(&task, cfg->task));
  if (!strcmp(cfg->format, "prep"))
    return pst_prep_read(s, path, split, cfg, tok ? pst_tokenizer_identity(tok) : NULL);
  if (!strcmp(cfg->format, "ids")) {
    PST_CHECK(pst_dataset_load(&s->ids, path, task, cfg->vocab, cfg->num_labels));
    s->num_labels = task == PST_TASK_CLASSIFY ? cfg->num_labels : task == PST_TASK_REGRESS ? 1 : 0;
    return PST_OK;
  }
  if (!tok) PST_ERR(PST_ERR_CONFIG, "data.format = %s needs a tokenizer (data.tokenizer or model.hf_dir)", cfg->format);
  pst_bad_rows bad = !strcmp(cfg->bad_rows, "skip") ? PST_BAD_SKIP : PST_BAD_FAIL;
  pst_text_dataset td;
  memset(&td, 0, sizeof td);
  pst_err rc;
  pst_d2t_format d2t;
  int is_d2t = !strcmp(cfg->format, "e2e") || !strcmp(cfg->format, "e2e_lora") || !strcmp(cfg->format, "dart") ||
               !strcmp(cfg->format, "webnlg");
  if (is_d2t) {
    if (task != PST_TASK_LM) PST_ERR(PST_ERR_CONFIG, "data.format = %s needs data.task = lm", cfg->format);
    PST_CHECK(pst_d2t_format_parse(&d2t, cfg->format));
    rc = pst_d2t_load(&td, d2t, path, 0, bad, &s->skipped);
  } else if (!strcmp(cfg->format, "glue")) {
    pst_glue_task gt;
    PST_CHECK(pst_glue_task_parse(&gt, cfg->glue_task));
    rc = pst_glue_load(&td, gt, path, bad, &s->skipped);
  } else {
    pst_table_opts o;
    memset(&o, 0, sizeof o);
    PST_CHECK(pst_table_format_parse(&o.format, cfg->format));
    o.text_a = cfg->text_a;
    o.text_b = cfg->text_b[0] ? cfg->text_b : NULL;
    o.label = task == PST_TASK_LM ? NULL : cfg->label;
    o.regression = task == PST_TASK_REGRESS;
    o.sort_labels = 1;
    o.bad = bad;
    rc = pst_table_load(&td, path, &o, &s->skipped);
  }
  if (!rc) {
    s->num_labels = td.regression ? 1 : td.num_labels;
    if (td.label_names && td.num_labels > 0) {
      s->label_names = calloc((size_t)td.num_labels, sizeof(char *));
      for (int i = 0; s->label_names && i < td.num_labels; i++) s->label_names[i] = strdup(td.label_names[i]);
    }
    rc = is_d2t ? encode_pairs_lm(s, &td, tok, cfg->seq_len, path) : encode_all(s, &td, tok, cfg->seq_len, task, path);
  }
  pst_text_dataset_free(&td);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_split_free(s);
    return rc;
  }
  /* skipped rows were already reported by the reader (count and first line numbers) */
  return PST_OK;
}

pst_err pst_split_check_labels(const pst_split *train, const pst_split *dev, const char *dev_path) {
  if (!train->label_names || !dev->label_names) return PST_OK;
  int same = train->num_labels == dev->num_labels;
  for (int i = 0; same && i < train->num_labels; i++) same = !strcmp(train->label_names[i], dev->label_names[i]);
  if (!same)
    PST_ERR(PST_ERR_FORMAT, "%s: its classes (%d, first '%s') differ from the training set's (%d, first '%s')",
            dev_path, dev->num_labels, dev->num_labels ? dev->label_names[0] : "", train->num_labels,
            train->num_labels ? train->label_names[0] : "");
  return PST_OK;
}

void pst_split_free(pst_split *s) {
  pst_dataset_free(&s->ids);
  if (s->label_names)
    for (int i = 0; i < s->num_labels; i++) free(s->label_names[i]);
  free(s->label_names);
  memset(s, 0, sizeof *s);
}
