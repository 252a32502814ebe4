/* nlgread.c — hypothesis and reference files for pst score: one segment a line, or
 * references in blank-line separated groups (e2e-metrics' multi-reference format). Every
 * line must be valid UTF-8 without NUL bytes; errors name file:line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "pst/nlgscore.h"

void pst_nlg_lines_free(pst_nlg_lines *l) {
  for (int i = 0; i < l->n; i++) free(l->line[i]);
  free(l->line);
  memset(l, 0, sizeof *l);
}

void pst_nlg_groups_free(pst_nlg_groups *g) {
  pst_nlg_lines_free(&g->lines);
  free(g->start);
  memset(g, 0, sizeof *g);
}

/* Byte offset of the first invalid UTF-8 sequence or NUL in s[0..n), or -1. */
static long bad_utf8(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0 || c == 0) return (long)i;
    i += (size_t)k;
  }
  return -1;
}

pst_err pst_nlg_parse_lines(pst_nlg_lines *out, const char *buf, size_t len, const char *name) {
  memset(out, 0, sizeof *out);
  if (len == 0) PST_ERR(PST_ERR_FORMAT, "%s: empty file", name);
  int cap = 0;
  for (size_t i = 0; i < len;) {
    const char *nl = memchr(buf + i, '\n', len - i);
    size_t end = nl ? (size_t)(nl - buf) : len, k = end - i;
    if (k > 0 && buf[i + k - 1] == '\r') k--;
    long bad = bad_utf8(buf + i, k);
    if (bad >= 0) {
      int line = out->n + 1;
      pst_nlg_lines_free(out);
      PST_ERR(PST_ERR_FORMAT, "%s:%d: %s at byte %ld of the line", name, line,
              buf[i + bad] ? "invalid UTF-8" : "NUL byte", bad + 1);
    }
    if (out->n == 0x7ffffffe) {
      pst_nlg_lines_free(out);
      PST_ERR(PST_ERR_FORMAT, "%s: too many lines", name);
    }
    if (out->n == cap) {
      cap = cap ? (cap > 0x3fffffff ? 0x7fffffff : 2 * cap) : 64;
      char **p = realloc(out->line, (size_t)cap * sizeof *p);
      if (!p) {
        pst_nlg_lines_free(out);
        PST_ERR(PST_ERR_MEM, "%s: out of memory for %d lines", name, cap);
      }
      out->line = p;
    }
    char *s = malloc(k + 1);
    if (!s) {
      pst_nlg_lines_free(out);
      PST_ERR(PST_ERR_MEM, "%s: out of memory for a line of %zu bytes", name, k);
    }
    memcpy(s, buf + i, k);
    s[k] = '\0';
    out->line[out->n++] = s;
    i = end + 1;
  }
  return PST_OK;
}

/* The whole file into memory. */
static pst_err slurp(char **buf, size_t *len, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) PST_ERR(PST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  char *b = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 65536;
      char *p = realloc(b, cap);
      if (!p) {
        free(b);
        fclose(f);
        PST_ERR(PST_ERR_MEM, "%s: out of memory after %zu bytes", path, n);
      }
      b = p;
    }
    size_t got = fread(b + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(b);
    PST_ERR(PST_ERR_IO, "%s: read error (a directory?)", path);
  }
  *buf = b;
  *len = n;
  return PST_OK;
}

/* Read a file and parse it with one of the parse functions. */
static pst_err read_with(void *out, const char *path, int grouped) {
  char *buf;
  size_t len;
  PST_CHECK(slurp(&buf, &len, path));
  pst_err rc = grouped ? pst_nlg_parse_groups(out, buf, len, path) : pst_nlg_parse_lines(out, buf, len, path);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err pst_nlg_read_lines(pst_nlg_lines *out, const char *path) {
  memset(out, 0, sizeof *out);
  return read_with(out, path, 0);
}

static int blank(const char *s) {
  for (; *s; s++)
    if (!strchr(" \t\v\f", *s)) return 0;
  return 1;
}

pst_err pst_nlg_parse_groups(pst_nlg_groups *out, const char *buf, size_t len, const char *name) {
  pst_nlg_lines all;
  memset(out, 0, sizeof *out);
  PST_CHECK(pst_nlg_parse_lines(&all, buf, len, name));
  int nblank = 0;
  for (int i = 0; i < all.n; i++) nblank += blank(all.line[i]);
  out->start = malloc(((size_t)all.n + 2) * sizeof *out->start);
  out->lines.line = malloc(((size_t)all.n + 1) * sizeof *out->lines.line);
  if (!out->start || !out->lines.line) {
    pst_nlg_lines_free(&all);
    pst_nlg_groups_free(out);
    PST_ERR(PST_ERR_MEM, "%s: out of memory for %d lines", name, all.n);
  }
  /* no blank line: one reference a line (e2e-metrics' single-reference case) */
  int k = 0, g = 0;
  out->start[0] = 0;
  for (int i = 0; i < all.n; i++) {
    if (nblank == 0) {
      out->lines.line[k++] = all.line[i];
      out->start[++g] = k;
    } else if (!blank(all.line[i])) {
      out->lines.line[k++] = all.line[i];
    } else {
      free(all.line[i]);
      if (out->start[g] == k) {
        out->lines.n = k;
        for (int j = i + 1; j < all.n; j++) free(all.line[j]);
        free(all.line);
        pst_nlg_groups_free(out);
        PST_ERR(PST_ERR_FORMAT, "%s:%d: blank line ends an empty reference group (two blank lines in a row?)",
                name, i + 1);
      }
      out->start[++g] = k;
    }
  }
  if (nblank && out->start[g] < k) out->start[++g] = k; /* the last group without a blank line after it */
  free(all.line);
  out->lines.n = k;
  out->ngroups = g;
  if (g == 0) {
    pst_nlg_groups_free(out);
    PST_ERR(PST_ERR_FORMAT, "%s: no reference", name);
  }
  return PST_OK;
}

pst_err pst_nlg_read_groups(pst_nlg_groups *out, const char *path) {
  memset(out, 0, sizeof *out);
  return read_with(out, path, 1);
}
