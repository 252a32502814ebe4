/* table.c — generic tsv / csv / jsonl text tables (textdata.h), and the pieces every text
 * reader shares: whole-file reading, UTF-8 checking, the in-place delimited-row reader, the
 * data-set builder (labels, bad-row policy, skip report), reference grouping. */
#include "pst/textdata.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ----------------------------------------------------------------------- */

pst_err pst_text_read_file(char **buf, size_t *len, const char *path) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) PST_ERR(PST_ERR_IO, "cannot open data file '%s': %s", path, strerror(errno));
  size_t n = 0, cap = 1 << 16;
  char *p = malloc(cap);
  for (;;) {
    if (!p) {
      fclose(f);
      PST_ERR(PST_ERR_MEM, "out of memory reading '%s'", path);
    }
    n += fread(p + n, 1, cap - 1 - n, f);
    if (n < cap - 1) break;
    char *q = cap > SIZE_MAX / 2 ? NULL : realloc(p, cap * 2);
    if (!q) free(p);
    p = q;
    cap *= 2;
  }
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (err) {
    free(p);
    PST_ERR(PST_ERR_IO, "%s: read error: %s", path, strerror(err));
  }
  p[n] = 0;
  *buf = p;
  *len = n;
  return PST_OK;
}

long pst_utf8_check(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c >= 0x01 && c < 0x80) {
      i++;
      continue;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F; /* no surrogates */
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F; /* <= U+10FFFF */
    else return (long)i;                    /* NUL, continuation byte, C0, C1, F5.. */
    if (i + (size_t)len > n || s[i + 1] < lo || s[i + 1] > hi) return (long)i;
    for (int k = 2; k < len; k++)
      if (s[i + (size_t)k] < 0x80 || s[i + (size_t)k] > 0xBF) return (long)i;
    i += (size_t)len;
  }
  return -1;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* ---- string -> long hash map (open addressing, FNV-1a); keys are copied ------------------- */

struct pst_strmap {
  char **key;
  long *val;
  size_t cap, n;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void strmap_free(struct pst_strmap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) free(m->key[i]);
  free(m->key);
  free(m->val);
  free(m);
}

static pst_err strmap_new(struct pst_strmap **out) {
  struct pst_strmap *m = calloc(1, sizeof *m);
  if (m) {
    m->cap = 64;
    m->key = calloc(m->cap, sizeof *m->key);
    m->val = calloc(m->cap, sizeof *m->val);
  }
  if (!m || !m->key || !m->val) {
    strmap_free(m);
    *out = NULL;
    PST_ERR(PST_ERR_MEM, "out of memory for a string table");
  }
  *out = m;
  return PST_OK;
}

/* Slot of key: where it is, or the empty slot where it would go. */
static size_t strmap_slot(const struct pst_strmap *m, const char *key) {
  size_t i = (size_t)fnv1a(key) & (m->cap - 1);
  while (m->key[i] && strcmp(m->key[i], key)) i = (i + 1) & (m->cap - 1);
  return i;
}

/* Value of key, or -1. */
static long strmap_get(const struct pst_strmap *m, const char *key) {
  size_t i = strmap_slot(m, key);
  return m->key[i] ? m->val[i] : -1;
}

/* Insert key (absent) with value v. */
static pst_err strmap_put(struct pst_strmap *m, const char *key, long v) {
  if (2 * (m->n + 1) > m->cap) {
    struct pst_strmap big = {calloc(2 * m->cap, sizeof(char *)), calloc(2 * m->cap, sizeof(long)), 2 * m->cap, 0};
    if (!big.key || !big.val) {
      free(big.key);
      free(big.val);
      PST_ERR(PST_ERR_MEM, "out of memory for a string table");
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->key[i]) {
        size_t j = strmap_slot(&big, m->key[i]);
        big.key[j] = m->key[i];
        big.val[j] = m->val[i];
      }
    free(m->key);
    free(m->val);
    m->key = big.key;
    m->val = big.val;
    m->cap = big.cap;
  }
  size_t i = strmap_slot(m, key);
  if (!(m->key[i] = dupstr(key))) PST_ERR(PST_ERR_MEM, "out of memory for a string table");
  m->val[i] = v;
  m->n++;
  return PST_OK;
}

/* ---- delimited rows ---------------------------------------------------------------------- */

void pst_dsv_init(pst_dsv *r, const char *name, char *buf, size_t len, char delim, int quoted) {
  memset(r, 0, sizeof *r);
  r->name = name;
  r->p = buf;
  r->end = buf + len;
  *r->end = 0;
  if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) r->p += 3; /* UTF-8 BOM */
  r->delim = delim;
  r->quoted = quoted;
  r->line = 1;
}

void pst_dsv_free(pst_dsv *r) {
  free(r->f);
  r->f = NULL;
  r->nf = r->fcap = 0;
}

static int at_eol(const pst_dsv *r) {
  return r->p >= r->end || *r->p == '\n' || (*r->p == '\r' && (r->p + 1 == r->end || r->p[1] == '\n'));
}

static void set_bad(pst_dsv *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_bad(pst_dsv *r, const char *fmt, ...) {
  if (r->bad[0]) return; /* keep the first problem of the row */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->bad, sizeof r->bad, fmt, ap);
  va_end(ap);
}

/* One row, split in place: each field is unescaped over its own bytes (an unescaped field is
 * never longer than its source) and NUL-terminated at the byte that ended it, which has been
 * read by then; the spare byte at *end terminates a last field without a newline. */
pst_err pst_dsv_next(pst_dsv *r, int *got) {
  *got = 0;
  for (;;) { /* skip empty lines */
    if (r->p >= r->end) return PST_OK;
    if (*r->p == '\n') r->p++, r->line++;
    else if (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n') r->p += 2, r->line++;
    else if (*r->p == '\r' && r->p + 1 == r->end) r->p++;
    else break;
  }
  r->row_line = r->line;
  r->nf = 0;
  r->bad[0] = 0;
  for (;;) {
    char *start = r->p, *w;
    if (r->quoted && *r->p == '"') {
      long open_line = r->line;
      int closed = 0;
      w = start;
      r->p++;
      while (r->p < r->end) {
        char c = *r->p;
        if (c == '"') {
          if (r->p + 1 < r->end && r->p[1] == '"') {
            *w++ = '"';
            r->p += 2;
            continue;
          }
          r->p++;
          closed = 1;
          break;
        }
        if (c == '\n') r->line++;
        if (c == 0) set_bad(r, "NUL byte in column %d", r->nf + 1);
        *w++ = c;
        r->p++;
      }
      if (!closed) {
        set_bad(r, "unterminated quoted field in column %d (opened on line %ld)", r->nf + 1, open_line);
      } else if (!at_eol(r) && *r->p != r->delim) {
        set_bad(r, "unexpected character after the closing quote of column %d", r->nf + 1);
        while (r->p < r->end && *r->p != '\n') r->p++; /* resynchronise at the line end */
      }
    } else {
      while (r->p < r->end && *r->p != '\n' && (*r->p != r->delim || !r->delim)) {
        if (*r->p == 0) set_bad(r, "NUL byte in column %d", r->nf + 1);
        r->p++;
      }
      w = r->p;
      if (w > start && w[-1] == '\r' && (r->p >= r->end || *r->p == '\n')) w--; /* CRLF */
    }
    int more = 0;
    if (r->p < r->end && r->delim && *r->p == r->delim) {
      r->p++;
      more = 1;
    } else {
      if (r->p < r->end && *r->p == '\r') r->p++;
      if (r->p < r->end && *r->p == '\n') r->p++, r->line++;
    }
    *w = 0;
    if (r->nf == r->fcap) {
      int nc = r->fcap < 16 ? 16 : r->fcap <= INT32_MAX / 2 ? 2 * r->fcap : 0;
      char **nf = nc ? realloc(r->f, (size_t)nc * sizeof *nf) : NULL;
      if (!nf) PST_ERR(PST_ERR_MEM, "%s:%ld: out of memory for %d fields", r->name, r->row_line, r->nf);
      r->f = nf;
      r->fcap = nc;
    }
    r->f[r->nf++] = start;
    if (!more) break;
  }
  *got = 1;
  return PST_OK;
}

/* ---- builder ------------------------------------------------------------------------------ */

void pst_text_dataset_free(pst_text_dataset *d) {
  if (!d) return;
  for (long i = 0; i < d->n; i++) {
    free(d->ex[i].a);
    free(d->ex[i].b);
  }
  free(d->ex);
  if (d->label_names)
    for (int k = 0; k < d->num_labels; k++) free(d->label_names[k]);
  free(d->label_names);
  memset(d, 0, sizeof *d);
}

/* Append a class name (the map gets it too). */
static pst_err add_label(pst_text_builder *b, const char *name) {
  pst_text_dataset *d = b->d;
  if (d->num_labels >= INT32_MAX / 2) PST_ERR(PST_ERR_FORMAT, "%s: too many classes", b->name);
  char **nl = realloc(d->label_names, (size_t)(d->num_labels + 1) * sizeof *nl);
  if (!nl) PST_ERR(PST_ERR_MEM, "out of memory for the classes of %s", b->name);
  d->label_names = nl;
  if (!(nl[d->num_labels] = dupstr(name))) PST_ERR(PST_ERR_MEM, "out of memory for the classes of %s", b->name);
  d->num_labels++;
  PST_CHECK(strmap_put(b->labels, name, d->num_labels - 1));
  return PST_OK;
}

pst_err pst_tb_begin(pst_text_builder *b, pst_text_dataset *d, const char *name, pst_bad_rows bad, int regression,
                     const char *const *label_names) {
  memset(b, 0, sizeof *b);
  memset(d, 0, sizeof *d);
  b->d = d;
  b->name = name;
  b->bad = bad;
  b->col_a = "a";
  b->col_b = "b";
  b->col_label = "label";
  d->regression = regression != 0;
  if (regression) {
    d->num_labels = 1;
    return PST_OK;
  }
  PST_CHECK(strmap_new(&b->labels));
  if (!label_names) {
    b->open_labels = 1;
    return PST_OK;
  }
  for (int k = 0; label_names[k]; k++) {
    if (strmap_get(b->labels, label_names[k]) >= 0) {
      pst_tb_abort(b);
      PST_ERR(PST_ERR_ARG, "class name '%s' given twice", label_names[k]);
    }
    pst_err rc = add_label(b, label_names[k]);
    if (rc) {
      pst_tb_abort(b);
      PST_CHECK(rc);
    }
  }
  return PST_OK;
}

void pst_tb_abort(pst_text_builder *b) {
  strmap_free(b->labels);
  b->labels = NULL;
  pst_text_dataset_free(b->d);
}

pst_err pst_tb_bad(pst_text_builder *b, long line, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (b->bad == PST_BAD_FAIL) {
    if (b->unit) PST_ERR(PST_ERR_FORMAT, "%s: %s %ld: %s", b->name, b->unit, line, msg);
    PST_ERR(PST_ERR_FORMAT, "%s:%ld: %s", b->name, line, msg);
  }
  if (b->skipped < (long)(sizeof b->bad_lines / sizeof b->bad_lines[0])) b->bad_lines[b->skipped] = line;
  if (!b->skipped) snprintf(b->first_bad, sizeof b->first_bad, "%s", msg);
  b->skipped++;
  return PST_OK;
}

/* A field for a message: at most 40 bytes, cut at a UTF-8 character boundary. */
static const char *excerpt(char *buf, size_t size, const char *s) {
  size_t n = strlen(s);
  if (n < 41 || size < 48) {
    snprintf(buf, size, "%s", s);
    return buf;
  }
  size_t k = 40;
  while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
  snprintf(buf, size, "%.*s...", (int)k, s);
  return buf;
}

/* "0", "17": decimal digits only; value in *v (capped). */
static int parse_index(const char *s, long *v) {
  if (!*s) return 0;
  long x = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return 0;
    if (x < 100000000) x = x * 10 + (*p - '0');
  }
  *v = x;
  return 1;
}

/* A finite number, optionally surrounded by spaces (Python's float() rules, without hex,
 * inf, nan or underscores), that stays finite as a float. */
static int parse_target(const char *s, float *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (!*s || strpbrk(s, "xXnNiI_")) return 0;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (end == s || errno == ERANGE) return 0;
  while (*end == ' ' || *end == '\t') end++;
  if (*end || !isfinite(v) || !isfinite((float)v)) return 0;
  *out = (float)v;
  return 1;
}

static pst_err check_text(pst_text_builder *b, long line, const char *s, const char *what, int *ok) {
  long off = pst_utf8_check(s, strlen(s));
  *ok = off < 0;
  if (off >= 0) PST_CHECK(pst_tb_bad(b, line, "invalid UTF-8 in %s (byte %ld)", what, off + 1));
  return PST_OK;
}

pst_err pst_tb_add(pst_text_builder *b, long line, const char *a, const char *bt, const char *label) {
  pst_text_dataset *d = b->d;
  char col[96], ex[64];
  int ok;
  snprintf(col, sizeof col, "column '%s'", b->col_a);
  PST_CHECK(check_text(b, line, a, col, &ok));
  if (!ok) return PST_OK;
  if (bt) {
    snprintf(col, sizeof col, "column '%s'", b->col_b);
    PST_CHECK(check_text(b, line, bt, col, &ok));
    if (!ok) return PST_OK;
  }
  int id = -1;
  float value = NAN;
  if (label) {
    snprintf(col, sizeof col, "label column '%s'", b->col_label);
    PST_CHECK(check_text(b, line, label, col, &ok));
    if (!ok) return PST_OK;
    if (d->regression) {
      if (!parse_target(label, &value))
        return pst_tb_bad(b, line, "target '%s' is not a finite number", excerpt(ex, sizeof ex, label));
    } else if (!*label) {
      return pst_tb_bad(b, line, "empty label");
    } else {
      long k = strmap_get(b->labels, label), idx;
      if (k < 0 && b->accept_index && parse_index(label, &idx) && idx < d->num_labels) k = idx;
      if (k < 0 && b->open_labels) {
        PST_CHECK(add_label(b, label));
        k = d->num_labels - 1;
      }
      if (k < 0) {
        char names[160];
        size_t used = 0;
        names[0] = 0;
        for (int c = 0; c < d->num_labels && used < sizeof names; c++)
          used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", c ? ", " : "", d->label_names[c]);
        return pst_tb_bad(b, line, "label '%s' is not one of: %s%s", excerpt(ex, sizeof ex, label), names,
                          b->accept_index ? " (or a class id)" : "");
      }
      id = (int)k;
      value = (float)id;
    }
  }
  if (d->n == b->cap) {
    long nc = b->cap ? 2 * b->cap : 1024;
    pst_text_example *ne = realloc(d->ex, (size_t)nc * sizeof *ne);
    if (!ne) PST_ERR(PST_ERR_MEM, "out of memory reading %s", b->name);
    d->ex = ne;
    b->cap = nc;
  }
  pst_text_example *e = &d->ex[d->n];
  e->a = dupstr(a);
  e->b = bt ? dupstr(bt) : NULL;
  e->label = value;
  e->label_id = id;
  e->line = line;
  if (!e->a || (bt && !e->b)) {
    free(e->a);
    free(e->b);
    PST_ERR(PST_ERR_MEM, "out of memory reading %s", b->name);
  }
  d->n++;
  return PST_OK;
}

pst_err pst_tb_end(pst_text_builder *b, long *skipped) {
  pst_text_dataset *d = b->d;
  strmap_free(b->labels);
  b->labels = NULL;
  if (skipped) *skipped = b->skipped;
  if (d->n == 0) {
    if (b->skipped)
      PST_ERR(PST_ERR_FORMAT, "%s: no examples (all %ld rows malformed; first: %s)", b->name, b->skipped,
              b->first_bad);
    PST_ERR(PST_ERR_FORMAT, "%s: no examples", b->name);
  }
  pst_text_example *ne = realloc(d->ex, (size_t)d->n * sizeof *ne);
  if (ne) d->ex = ne;
  if (b->skipped) {
    char lines[96];
    size_t used = 0;
    long shown = b->skipped < 5 ? b->skipped : 5;
    lines[0] = 0;
    for (long i = 0; i < shown; i++)
      used += (size_t)snprintf(lines + used, sizeof lines - used, "%s%ld", i ? ", " : "", b->bad_lines[i]);
    pst_log(1, "pst: %s: skipped %ld malformed %s (%s %s%s); first: %s\n", b->name, b->skipped,
            b->unit ? "entries" : "rows", b->unit ? "entries" : "lines", lines, b->skipped > 5 ? ", ..." : "",
            b->first_bad);
  }
  return PST_OK;
}

/* ---- generic tables ----------------------------------------------------------------------- */

pst_err pst_table_format_parse(pst_table_format *f, const char *name) {
  if (name && !strcasecmp(name, "tsv")) *f = PST_TABLE_TSV;
  else if (name && !strcasecmp(name, "csv")) *f = PST_TABLE_CSV;
  else if (name && !strcasecmp(name, "jsonl")) *f = PST_TABLE_JSONL;
  else PST_ERR(PST_ERR_CONFIG, "table format '%s': allowed values are tsv|csv|jsonl", name ? name : "(null)");
  return PST_OK;
}

/* Column index of name in the header row, or -1. */
static int find_col(const pst_dsv *h, const char *name) {
  for (int i = 0; i < h->nf; i++)
    if (!strcmp(h->f[i], name)) return i;
  return -1;
}

static pst_err resolve_col(int *col, const pst_dsv *r, const char *name, int no_header, const char *path) {
  *col = -1;
  if (!name) return PST_OK;
  if (no_header) {
    long v;
    if (!parse_index(name, &v))
      PST_ERR(PST_ERR_ARG, "%s: without a header, columns are named by 0-based index, not '%s'", path, name);
    if (v >= r->nf)
      PST_ERR(PST_ERR_FORMAT, "%s:%ld: column %ld does not exist: the first row has %d columns", path, r->row_line, v,
              r->nf);
    *col = (int)v;
    return PST_OK;
  }
  if ((*col = find_col(r, name)) < 0) {
    char cols[200];
    size_t used = 0;
    cols[0] = 0;
    for (int i = 0; i < r->nf && used < sizeof cols; i++)
      used += (size_t)snprintf(cols + used, sizeof cols - used, "%s'%s'", i ? ", " : "", r->f[i]);
    PST_ERR(PST_ERR_FORMAT, "%s:%ld: no column '%s' in the header (columns: %s)", path, r->row_line, name, cols);
  }
  return PST_OK;
}

static pst_err load_dsv(pst_text_builder *b, char *buf, size_t len, const pst_table_opts *o) {
  pst_dsv r;
  int got, quoted = o->format == PST_TABLE_CSV || o->quoted;
  pst_dsv_init(&r, b->name, buf, len, o->format == PST_TABLE_CSV ? ',' : '\t', quoted);
  pst_err rc = pst_dsv_next(&r, &got);
  if (rc) goto done;
  if (!got) goto done; /* empty: pst_tb_end reports it */
  if (r.bad[0]) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s:%ld: %s row: %s", b->name, r.row_line,
                o->no_header ? "first" : "header", r.bad);
    rc = PST_ERR_FORMAT;
    goto done;
  }
  int ca, cb, cl, ncol = r.nf;
  if ((rc = resolve_col(&ca, &r, o->text_a, o->no_header, b->name)) ||
      (rc = resolve_col(&cb, &r, o->text_b, o->no_header, b->name)) ||
      (rc = resolve_col(&cl, &r, o->label, o->no_header, b->name)))
    goto done;
  int have = !o->no_header ? 0 : 1; /* without a header the first row is data */
  for (;;) {
    if (!have) {
      if ((rc = pst_dsv_next(&r, &got)) || !got) break;
    }
    have = 0;
    if (r.bad[0]) rc = pst_tb_bad(b, r.row_line, "%s", r.bad);
    else if (r.nf != ncol)
      rc = pst_tb_bad(b, r.row_line, "expected %d columns (as the %s), found %d", ncol,
                      o->no_header ? "first row" : "header", r.nf);
    else rc = pst_tb_add(b, r.row_line, r.f[ca], cb >= 0 ? r.f[cb] : NULL, cl >= 0 ? r.f[cl] : NULL);
    if (rc) break;
  }
done:
  pst_dsv_free(&r);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* A jsonl value as text: strings as they are; integers in decimal; other numbers only for
 * regression; *text NULL for null. Returns 0 if the type is not allowed. */
static int json_text(json_t *v, int allow_number, char *buf, size_t size, const char **text) {
  *text = NULL;
  if (json_is_null(v)) return 1;
  if (json_is_string(v)) {
    *text = json_string_value(v);
    return 1;
  }
  if (json_is_integer(v)) {
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    *text = buf;
    return 1;
  }
  if (json_is_real(v) && allow_number) {
    snprintf(buf, size, "%.17g", json_real_value(v));
    *text = buf;
    return 1;
  }
  return 0;
}

static pst_err jsonl_row(pst_text_builder *b, const pst_table_opts *o, long line, const char *s, size_t n) {
  json_error_t je;
  json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  if (!j) return pst_tb_bad(b, line, "invalid JSON at column %d: %s", je.column, je.text);
  pst_err rc = PST_OK;
  const char *keys[3] = {o->text_a, o->text_b, o->label}, *val[3] = {NULL, NULL, NULL};
  char num[64];
  if (!json_is_object(j)) {
    rc = pst_tb_bad(b, line, "not a JSON object");
    goto done;
  }
  for (int k = 0; k < 3; k++) {
    if (!keys[k]) continue;
    json_t *v = json_object_get(j, keys[k]);
    if (!v) {
      rc = pst_tb_bad(b, line, "no key '%s'", keys[k]);
      goto done;
    }
    if (k < 2 && !json_is_string(v)) {
      rc = pst_tb_bad(b, line, "'%s' is not a string", keys[k]);
      goto done;
    }
    if (k == 2 && !json_text(v, o->regression, num, sizeof num, &val[k])) {
      rc = pst_tb_bad(b, line, "label '%s' is not a string%s", keys[k],
                      o->regression ? ", a number or null" : ", an integer or null");
      goto done;
    }
    if (k < 2) val[k] = json_string_value(v);
  }
  rc = pst_tb_add(b, line, val[0], val[1], val[2]);
done:
  json_decref(j);
  return rc;
}

static pst_err load_jsonl(pst_text_builder *b, const char *buf, size_t len, const pst_table_opts *o) {
  const char *p = buf, *end = buf + len;
  if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
  for (long line = 1; p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    size_t n = (size_t)(e - p);
    while (n && isspace((unsigned char)p[n - 1])) n--;
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)p[lead])) lead++;
    if (lead < n) PST_CHECK(jsonl_row(b, o, line, p, n));
    p = nl ? nl + 1 : end;
  }
  return PST_OK;
}

static int cmp_label(const void *x, const void *y, int numeric) {
  const char *a = *(char *const *)x, *b = *(char *const *)y;
  if (numeric) {
    long long u = strtoll(a, NULL, 10), v = strtoll(b, NULL, 10);
    if (u != v) return (u > v) - (u < v);
  }
  return strcmp(a, b);
}
static int cmp_label_num(const void *x, const void *y) { return cmp_label(x, y, 1); }
static int cmp_label_str(const void *x, const void *y) { return cmp_label(x, y, 0); }

/* An optional sign and 1..18 digits: an integer class name for sorting. */
static int is_int_name(const char *s) {
  if (*s == '-' || *s == '+') s++;
  size_t n = strspn(s, "0123456789");
  return n > 0 && n <= 18 && !s[n];
}

/* Sort the classes (HF run_glue's label_list.sort()) and renumber the examples. */
static pst_err sort_labels(pst_text_dataset *d) {
  int k = d->num_labels, numeric = 1;
  if (k < 2) return PST_OK;
  for (int i = 0; i < k; i++) numeric &= is_int_name(d->label_names[i]);
  char **sorted = malloc((size_t)k * sizeof *sorted);
  int *map = malloc((size_t)k * sizeof *map);
  if (!sorted || !map) {
    free(sorted);
    free(map);
    PST_ERR(PST_ERR_MEM, "out of memory sorting %d classes", k);
  }
  memcpy(sorted, d->label_names, (size_t)k * sizeof *sorted);
  qsort(sorted, (size_t)k, sizeof *sorted, numeric ? cmp_label_num : cmp_label_str);
  for (int i = 0; i < k; i++) /* old id -> new id (names are distinct pointers) */
    for (int j = 0; j < k; j++)
      if (sorted[j] == d->label_names[i]) map[i] = j;
  for (long i = 0; i < d->n; i++)
    if (d->ex[i].label_id >= 0) {
      d->ex[i].label_id = map[d->ex[i].label_id];
      d->ex[i].label = (float)d->ex[i].label_id;
    }
  free(d->label_names);
  d->label_names = sorted;
  free(map);
  return PST_OK;
}

/* Load from buf (len bytes + 1 spare, modified in place). */
static pst_err table_load_buf(pst_text_dataset *d, const char *name, char *buf, size_t len, const pst_table_opts *o,
                              long *skipped) {
  if (skipped) *skipped = 0;
  memset(d, 0, sizeof *d);
  if (!o || !o->text_a) PST_ERR(PST_ERR_ARG, "%s: no text column given", name);
  if ((unsigned)o->format > PST_TABLE_JSONL) PST_ERR(PST_ERR_ARG, "%s: bad table format %d", name, (int)o->format);
  pst_text_builder b;
  PST_CHECK(pst_tb_begin(&b, d, name, o->bad, o->regression, o->label_names));
  b.col_a = o->text_a;
  b.col_b = o->text_b ? o->text_b : "";
  b.col_label = o->label ? o->label : "";
  pst_err rc = o->format == PST_TABLE_JSONL ? load_jsonl(&b, buf, len, o) : load_dsv(&b, buf, len, o);
  if (!rc && o->sort_labels && !o->label_names && !o->regression) rc = sort_labels(d);
  if (!rc) rc = pst_tb_end(&b, skipped);
  if (rc) {
    pst_tb_abort(&b);
    PST_CHECK(rc);
  }
  return PST_OK;
}

pst_err pst_table_load(pst_text_dataset *d, const char *path, const pst_table_opts *o, long *skipped) {
  char *buf;
  size_t len;
  memset(d, 0, sizeof *d);
  PST_CHECK(pst_text_read_file(&buf, &len, path));
  pst_err rc = table_load_buf(d, path, buf, len, o, skipped);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err pst_table_load_mem(pst_text_dataset *d, const char *name, const char *data, size_t size,
                           const pst_table_opts *o, long *skipped) {
  memset(d, 0, sizeof *d);
  char *buf = malloc(size + 1);
  if (!buf) PST_ERR(PST_ERR_MEM, "out of memory copying %s", name);
  if (size) memcpy(buf, data, size);
  pst_err rc = table_load_buf(d, name, buf, size, o, skipped);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}

/* ---- grouping ------------------------------------------------------------------------------ */

void pst_text_groups_free(pst_text_groups *g) {
  free(g->start);
  free(g->member);
  memset(g, 0, sizeof *g);
}

pst_err pst_text_group(pst_text_groups *g, const pst_text_dataset *d, pst_group_by by) {
  memset(g, 0, sizeof *g);
  long n = d->n;
  long *gid = malloc((size_t)(n ? n : 1) * sizeof *gid);
  g->member = malloc((size_t)(n ? n : 1) * sizeof *g->member);
  g->start = calloc((size_t)n + 2, sizeof *g->start);
  struct pst_strmap *m = NULL;
  pst_err rc = PST_OK;
  if (!gid || !g->member || !g->start) {
    pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory grouping %ld examples", n);
    rc = PST_ERR_MEM;
  } else {
    rc = strmap_new(&m);
  }
  for (long i = 0; i < n && !rc; i++) {
    char key[32];
    const char *k = d->ex[i].a;
    if (by == PST_GROUP_BY_LINE) {
      snprintf(key, sizeof key, "%ld", d->ex[i].line);
      k = key;
    }
    long v = strmap_get(m, k);
    if (v < 0 && !(rc = strmap_put(m, k, g->n))) v = g->n++;
    gid[i] = v;
  }
  if (!rc) {
    /* counting sort: start[k + 2] = size of group k, prefix sums, then fill with start[k + 1]
     * as group k's cursor, which leaves start[k + 1] at group k's end = group k+1's start */
    for (long i = 0; i < n; i++) g->start[gid[i] + 2]++;
    for (long k = 0; k < g->n; k++) g->start[k + 2] += g->start[k + 1];
    for (long i = 0; i < n; i++) g->member[g->start[gid[i] + 1]++] = i;
  }
  free(gid);
  strmap_free(m);
  if (rc) {
    pst_text_groups_free(g);
    pst_err_trace(__FILE__, __LINE__, __func__);
  }
  return rc;
}
