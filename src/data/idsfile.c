/* idsfile.c — reader of the token-id data format (see data.h), batching and shuffling. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/data.h"
#include "pst/rng.h"

pst_err pst_task_parse(pst_task *task, const char *name) {
  if (!strcmp(name, "classify")) *task = PST_TASK_CLASSIFY;
  else if (!strcmp(name, "regress")) *task = PST_TASK_REGRESS;
  else if (!strcmp(name, "lm")) *task = PST_TASK_LM;
  else PST_ERR(PST_ERR_CONFIG, "data.task = '%s': allowed values are classify|regress|lm", name);
  return PST_OK;
}

/* Grow *p (elements of size sz) to hold at least need elements. */
static pst_err grow(void **p, long *cap, long need, size_t sz, const char *what) {
  if (need <= *cap) return PST_OK;
  long nc = *cap ? *cap : 1024;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, (size_t)nc * sz);
  if (!q) PST_ERR(PST_ERR_MEM, "out of memory reading %s", what);
  *p = q;
  *cap = nc;
  return PST_OK;
}

/* Resize *p to count elements of size sz (keeps *p on failure, so nothing leaks). */
static pst_err resize(void **p, long count, size_t sz, const char *what) {
  void *q = realloc(*p, (size_t)count * sz);
  if (!q) PST_ERR(PST_ERR_MEM, "out of memory reading %s", what);
  *p = q;
  return PST_OK;
}

static pst_err parse_line(pst_dataset *d, char *line, const char *path, long lineno, pst_task task, int vocab,
                          int num_labels, long *cap_ex, long *cap_ids) {
  char *ids = line, *end;
  long n = d->n;
  PST_CHECK(grow((void **)&d->start, cap_ex, n + 2, sizeof(long), path));
  if (task != PST_TASK_LM) {
    char *tab = strchr(line, '\t');
    if (!tab) PST_ERR(PST_ERR_FORMAT, "%s:%ld: expected '<label>\\t<ids>'", path, lineno);
    *tab = 0;
    ids = tab + 1;
    errno = 0;
    if (task == PST_TASK_CLASSIFY) {
      long v = strtol(line, &end, 10);
      if (errno || end == line || *end || v < 0 || v >= num_labels)
        PST_ERR(PST_ERR_FORMAT, "%s:%ld: label '%s' is not an integer in [0, %d)", path, lineno, line, num_labels);
      PST_CHECK(resize((void **)&d->label, *cap_ex, sizeof(int32_t), path));
      d->label[n] = (int32_t)v;
    } else {
      float v = strtof(line, &end);
      if (errno || end == line || *end || !isfinite(v))
        PST_ERR(PST_ERR_FORMAT, "%s:%ld: target '%s' is not a finite number", path, lineno, line);
      PST_CHECK(resize((void **)&d->label_f, *cap_ex, sizeof(float), path));
      d->label_f[n] = v;
    }
  }
  long pos = d->start[n];
  for (char *tok = strtok(ids, " "); tok; tok = strtok(NULL, " ")) {
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (errno || end == tok || *end || v < 0 || v >= vocab)
      PST_ERR(PST_ERR_FORMAT, "%s:%ld: token '%s' is not an id in [0, %d)", path, lineno, tok, vocab);
    PST_CHECK(grow((void **)&d->ids, cap_ids, pos + 1, sizeof(int32_t), path));
    d->ids[pos++] = (int32_t)v;
  }
  if (pos == d->start[n]) PST_ERR(PST_ERR_FORMAT, "%s:%ld: no token ids", path, lineno);
  d->start[n + 1] = pos;
  d->n = n + 1;
  return PST_OK;
}

pst_err pst_dataset_load(pst_dataset *d, const char *path, pst_task task, int vocab, int num_labels) {
  memset(d, 0, sizeof *d);
  FILE *f = fopen(path, "r");
  if (!f) PST_ERR(PST_ERR_IO, "cannot open data file '%s': %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0, cap_ex = 0, cap_ids = 0;
  ssize_t len;
  pst_err rc = PST_OK;
  if ((rc = grow((void **)&d->start, &cap_ex, 2, sizeof(long), path))) goto done;
  d->start[0] = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if ((size_t)len == strspn(line, " \t") || line[0] == '#') continue; /* blank or comment */
    if (strlen(line) != (size_t)len) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s:%ld: NUL byte in line", path, lineno);
      rc = PST_ERR_FORMAT;
      goto done;
    }
    if ((rc = parse_line(d, line, path, lineno, task, vocab, num_labels, &cap_ex, &cap_ids))) goto done;
  }
  if (ferror(f)) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "%s: read error", path);
    rc = PST_ERR_IO;
  } else if (d->n == 0) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: no examples", path);
    rc = PST_ERR_FORMAT;
  }
done:
  free(line);
  fclose(f);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_dataset_free(d);
  }
  return rc;
}

void pst_dataset_free(pst_dataset *d) {
  free(d->label);
  free(d->label_f);
  free(d->start);
  free(d->ids);
  free(d->types);
  free(d->predict);
  memset(d, 0, sizeof *d);
}

pst_err pst_batch_alloc(pst_batch *b, int B, int T, pst_task task) {
  memset(b, 0, sizeof *b);
  b->B = B;
  b->T = b->T_cap = T;
  size_t N = (size_t)B * T;
  PST_CHECK(pst_calloc((void **)&b->input_ids, N, sizeof(int32_t), "batch"));
  PST_CHECK(pst_calloc((void **)&b->token_type_ids, N, sizeof(int32_t), "batch"));
  PST_CHECK(pst_calloc((void **)&b->attn_mask, N, 1, "batch"));
  if (task == PST_TASK_CLASSIFY) PST_CHECK(pst_calloc((void **)&b->labels, (size_t)B, sizeof(int32_t), "batch"));
  if (task == PST_TASK_REGRESS) PST_CHECK(pst_calloc((void **)&b->labels_f, (size_t)B, sizeof(float), "batch"));
  if (task == PST_TASK_LM) {
    PST_CHECK(pst_calloc((void **)&b->targets, N, sizeof(int32_t), "batch"));
    PST_CHECK(pst_calloc((void **)&b->loss_mask, N, sizeof(float), "batch"));
  }
  return PST_OK;
}

void pst_batch_free(pst_batch *b) {
  pst_free(b->input_ids);
  pst_free(b->token_type_ids);
  pst_free(b->attn_mask);
  pst_free(b->labels);
  pst_free(b->labels_f);
  pst_free(b->targets);
  pst_free(b->loss_mask);
  memset(b, 0, sizeof *b);
}

int pst_batch_longest(const pst_dataset *d, const long *order, long count, long first, long rows, int T_cap) {
  long longest = 1;
  for (long r = first; r < first + rows && r < count; r++) {
    const long len = d->start[order[r] + 1] - d->start[order[r]];
    if (len > longest) longest = len;
  }
  longest = (longest + 7) / 8 * 8;
  return longest < T_cap ? (int)longest : T_cap;
}

void pst_batch_fill(pst_batch *b, const pst_dataset *d, const long *order, long count, long first, int T,
                    pst_task task) {
  if (T <= 0 || T > b->T_cap) T = b->T_cap;
  b->T = T;
  for (int r = 0; r < b->B; r++) {
    int32_t *ids = b->input_ids + (long)r * T, *types = b->token_type_ids + (long)r * T;
    uint8_t *am = b->attn_mask + (long)r * T;
    memset(ids, 0, (size_t)T * sizeof(int32_t));
    memset(types, 0, (size_t)T * sizeof(int32_t));
    memset(am, 0, (size_t)T);
    long idx = first + r < count ? order[first + r] : -1;
    int len = 1;
    long full = 0; /* the example's length before truncation */
    if (idx >= 0) {
      full = d->start[idx + 1] - d->start[idx];
      len = full < T ? (int)full : T;
      memcpy(ids, d->ids + d->start[idx], (size_t)len * sizeof(int32_t));
      if (d->types) memcpy(types, d->types + d->start[idx], (size_t)len * sizeof(int32_t));
    }
    memset(am, 1, (size_t)len);
    if (task == PST_TASK_CLASSIFY) b->labels[r] = idx >= 0 ? d->label[idx] : 0;
    if (task == PST_TASK_REGRESS) b->labels_f[r] = idx >= 0 ? d->label_f[idx] : 0.f;
    if (task == PST_TASK_LM) {
      for (int t = 0; t < T; t++) { /* a truncated example still predicts its token T */
        int has_next = idx >= 0 && t < len && t + 1 < full &&
                       (!d->predict || d->predict[d->start[idx] + t + 1]); /* e.g. only the reference text */
        b->targets[(long)r * T + t] = has_next ? d->ids[d->start[idx] + t + 1] : 0;
        b->loss_mask[(long)r * T + t] = has_next ? 1.f : 0.f;
      }
    }
  }
}

void pst_shuffle(long *order, long n, uint64_t seed, long epoch) {
  for (long i = 0; i < n; i++) order[i] = i;
  for (long i = n - 1; i > 0; i--) {
    long j = (long)(pst_rng_u64(seed, 0x5348554646ULL + (uint64_t)epoch, (uint64_t)i) % (uint64_t)(i + 1));
    long t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

/* One run of the length grouping: entries sorted by (length desc, position asc). */
typedef struct {
  long len, pos, idx;
} len_entry;

static int by_length_desc(const void *a, const void *b) {
  const len_entry *x = a, *y = b;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

pst_err pst_group_by_length(long *order, long n, const pst_dataset *d, long mega) {
  if (mega <= 1 || n <= 1) return PST_OK;
  len_entry *e;
  PST_CHECK(pst_calloc((void **)&e, (size_t)(mega < n ? mega : n), sizeof *e, "length grouping"));
  for (long lo = 0; lo < n; lo += mega) {
    const long k = n - lo < mega ? n - lo : mega;
    for (long i = 0; i < k; i++) {
      const long idx = order[lo + i];
      e[i] = (len_entry){d->start[idx + 1] - d->start[idx], i, idx};
    }
    qsort(e, (size_t)k, sizeof *e, by_length_desc);
    for (long i = 0; i < k; i++) order[lo + i] = e[i].idx;
  }
  pst_free(e);
  return PST_OK;
}
