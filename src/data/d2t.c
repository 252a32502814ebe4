/* d2t.c — data-to-text readers (textdata.h): E2E official csv, E2E in LoRA's text format,
 * DART json and WebNLG json (LoRA / prefix-tuning format), linearised as LoRA's
 * format_converting_{e2e,dart,webnlg}.py do. */
#include "pst/textdata.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

pst_err pst_d2t_format_parse(pst_d2t_format *f, const char *name) {
  if (name && !strcasecmp(name, "e2e")) *f = PST_D2T_E2E;
  else if (name && !strcasecmp(name, "e2e_lora")) *f = PST_D2T_E2E_LORA;
  else if (name && !strcasecmp(name, "dart")) *f = PST_D2T_DART;
  else if (name && !strcasecmp(name, "webnlg")) *f = PST_D2T_WEBNLG;
  else PST_ERR(PST_ERR_CONFIG, "data-to-text format '%s': allowed values are e2e|e2e_lora|dart|webnlg", name ? name : "(null)");
  return PST_OK;
}

/* ---- growable string ---------------------------------------------------------------------- */
typedef struct {
  char *s;
  size_t n, cap;
} sbuf;

static pst_err sb_add(sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n + 1) nc *= 2;
    char *p = realloc(b->s, nc);
    if (!p) PST_ERR(PST_ERR_MEM, "out of memory building a linearised input");
    b->s = p;
    b->cap = nc;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
  return PST_OK;
}

static pst_err sb_str(sbuf *b, const char *s) { return sb_add(b, s, strlen(s)); }

/* Append s lower-cased as Python's str.lower() does for all but the final-sigma rule:
 * Unicode simple lower case per code point, U+0130 to "i" + U+0307. s is valid UTF-8. */
static pst_err sb_lower(sbuf *b, const char *s) {
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
  utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(s);
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(p, left, &cp);
    if (k <= 0) { /* not reached for valid input: copy the byte */
      PST_CHECK(sb_add(b, (const char *)p, 1));
      p++, left--;
      continue;
    }
    if (cp == 0x130) {
      PST_CHECK(sb_str(b, "i\xCC\x87"));
    } else {
      utf8proc_uint8_t enc[4];
      utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), enc);
      PST_CHECK(sb_add(b, (const char *)enc, (size_t)m));
    }
    p += k;
    left -= k;
  }
  return PST_OK;
}

/* ---- E2E csv --------------------------------------------------------------------------------- */

static int find_col_ci(const pst_dsv *h, const char *name) {
  for (int i = 0; i < h->nf; i++)
    if (!strcasecmp(h->f[i], name)) return i;
  return -1;
}

static pst_err e2e_csv(pst_text_builder *b, char *buf, size_t len) {
  pst_dsv r;
  int got;
  pst_err rc;
  pst_dsv_init(&r, b->name, buf, len, ',', 1);
  if ((rc = pst_dsv_next(&r, &got)) || !got) goto done;
  if (r.bad[0]) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s:%ld: header row: %s", b->name, r.row_line, r.bad);
    rc = PST_ERR_FORMAT;
    goto done;
  }
  int cm = find_col_ci(&r, "mr"), cr = find_col_ci(&r, "ref"), ncol = r.nf;
  if (cm < 0) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s:%ld: no column 'mr' in the header: not an E2E csv",
                b->name, r.row_line);
    rc = PST_ERR_FORMAT;
    goto done;
  }
  b->col_a = r.f[cm];
  b->col_b = cr >= 0 ? r.f[cr] : "";
  /* the header names stay valid: rows are split after them in the buffer */
  while (!(rc = pst_dsv_next(&r, &got)) && got) {
    if (r.bad[0]) rc = pst_tb_bad(b, r.row_line, "%s", r.bad);
    else if (r.nf != ncol) rc = pst_tb_bad(b, r.row_line, "expected %d columns (as the header), found %d", ncol, r.nf);
    else rc = pst_tb_add(b, r.row_line, r.f[cm], cr >= 0 ? r.f[cr] : NULL, NULL);
    if (rc) break;
  }
done:
  pst_dsv_free(&r);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- E2E, LoRA text format -------------------------------------------------------------------- */

static pst_err e2e_lora(pst_text_builder *b, char *buf, size_t len) {
  pst_dsv r;
  int got;
  pst_err rc;
  b->col_a = "context";
  b->col_b = "completion";
  pst_dsv_init(&r, b->name, buf, len, 0, 0);
  while (!(rc = pst_dsv_next(&r, &got)) && got) {
    if (r.bad[0]) {
      rc = pst_tb_bad(b, r.row_line, "%s", r.bad);
    } else {
      char *s = r.f[0], *e = s + strlen(s);
      while (s < e && isspace((unsigned char)*s)) s++;
      while (e > s && isspace((unsigned char)e[-1])) e--;
      *e = 0;
      char *sep = strstr(s, "||");
      if (!sep || s == e) {
        if (s != e) rc = pst_tb_bad(b, r.row_line, "no '||' between context and completion");
      } else {
        *sep = 0;
        char *comp = sep + 2, *next = strstr(comp, "||");
        if (next) *next = 0;
        rc = pst_tb_add(b, r.row_line, s, comp, NULL);
      }
    }
    if (rc) break;
  }
  pst_dsv_free(&r);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- json formats ----------------------------------------------------------------------------- */

/* Append one triple to the linearised input a (separator " | " between triples, or before
 * every triple with PST_D2T_LEADING_SEP). */
static pst_err add_triple(sbuf *a, int first, int flags, const char *s, const char *p, const char *o, int lower) {
  if (!first || (flags & PST_D2T_LEADING_SEP)) PST_CHECK(sb_str(a, " | "));
  PST_CHECK(sb_str(a, s));
  PST_CHECK(sb_str(a, " : "));
  PST_CHECK(lower ? sb_lower(a, p) : sb_str(a, p));
  PST_CHECK(sb_str(a, " : "));
  PST_CHECK(sb_str(a, o));
  return PST_OK;
}

/* Emit the examples of one entry: one per reference, or one with b = NULL if it has none
 * and PST_D2T_KEEP_UNREFERENCED is set. */
static pst_err emit(pst_text_builder *b, long entry, const char *a, const char **refs, size_t nref, int flags) {
  for (size_t i = 0; i < nref; i++) PST_CHECK(pst_tb_add(b, entry, a, refs[i], NULL));
  if (!nref && (flags & PST_D2T_KEEP_UNREFERENCED)) PST_CHECK(pst_tb_add(b, entry, a, NULL, NULL));
  return PST_OK;
}

/* A string member of an object, or NULL. */
static const char *str_member(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* One DART entry: {"tripleset": [[s, p, o], ...], "annotations": [{"text": ...}, ...]}. */
static pst_err dart_entry(pst_text_builder *b, json_t *e, long entry, int flags, sbuf *a, const char ***refs,
                          size_t *rcap) {
  a->n = 0;
  if (a->s) a->s[0] = 0;
  if (!json_is_object(e)) return pst_tb_bad(b, entry, "not a JSON object");
  json_t *ts = json_object_get(e, "tripleset");
  if (!json_is_array(ts) || !json_array_size(ts)) return pst_tb_bad(b, entry, "'tripleset' is not a non-empty array");
  size_t i;
  json_t *t;
  json_array_foreach(ts, i, t) {
    const char *s = json_string_value(json_array_get(t, 0)), *p = json_string_value(json_array_get(t, 1)),
               *o = json_string_value(json_array_get(t, 2));
    if (!json_is_array(t) || json_array_size(t) != 3 || !s || !p || !o)
      return pst_tb_bad(b, entry, "tripleset[%zu] is not a [subject, predicate, object] array of strings", i);
    PST_CHECK(add_triple(a, i == 0, flags, s, p, o, 1));
  }
  json_t *ann = json_object_get(e, "annotations");
  if (ann && !json_is_array(ann)) return pst_tb_bad(b, entry, "'annotations' is not an array");
  size_t n = json_array_size(ann);
  if (n > *rcap) {
    const char **nr = realloc(*refs, n * sizeof *nr);
    if (!nr) PST_ERR(PST_ERR_MEM, "out of memory reading %s", b->name);
    *refs = nr;
    *rcap = n;
  }
  json_array_foreach(ann, i, t) {
    if (!((*refs)[i] = str_member(t, "text"))) return pst_tb_bad(b, entry, "annotations[%zu] has no string 'text'", i);
  }
  return emit(b, entry, a->s, *refs, n, flags);
}

/* One WebNLG entry: {"<n>": {"modifiedtripleset": [{"subject", "property", "object"}],
 * "lexicalisations": [{"comment", "lex"}]}}. */
static pst_err webnlg_entry(pst_text_builder *b, json_t *e, long entry, int flags, sbuf *a, const char ***refs,
                            size_t *rcap) {
  a->n = 0;
  if (a->s) a->s[0] = 0;
  if (!json_is_object(e) || json_object_size(e) != 1)
    return pst_tb_bad(b, entry, "not an object with one member (\"<n>\": {...})");
  json_t *v = json_object_iter_value(json_object_iter(e));
  if (!json_is_object(v)) return pst_tb_bad(b, entry, "the value of \"%s\" is not an object", json_object_iter_key(json_object_iter(e)));
  json_t *ts = json_object_get(v, "modifiedtripleset");
  if (!json_is_array(ts) || !json_array_size(ts))
    return pst_tb_bad(b, entry, "'modifiedtripleset' is not a non-empty array");
  size_t i;
  json_t *t;
  json_array_foreach(ts, i, t) {
    const char *s = str_member(t, "subject"), *p = str_member(t, "property"), *o = str_member(t, "object");
    if (!s || !p || !o)
      return pst_tb_bad(b, entry, "modifiedtripleset[%zu] lacks a string subject, property or object", i);
    PST_CHECK(add_triple(a, i == 0, flags, s, p, o, 0));
  }
  json_t *lex = json_object_get(v, "lexicalisations");
  if (lex && !json_is_array(lex)) return pst_tb_bad(b, entry, "'lexicalisations' is not an array");
  size_t n = json_array_size(lex), k = 0;
  if (n > *rcap) {
    const char **nr = realloc(*refs, n * sizeof *nr);
    if (!nr) PST_ERR(PST_ERR_MEM, "out of memory reading %s", b->name);
    *refs = nr;
    *rcap = n;
  }
  json_array_foreach(lex, i, t) {
    const char *text = str_member(t, "lex"), *comment = str_member(t, "comment");
    if (!text) return pst_tb_bad(b, entry, "lexicalisations[%zu] has no string 'lex'", i);
    if ((flags & PST_D2T_ALL_LEX) || (comment && !strcmp(comment, "good"))) (*refs)[k++] = text;
  }
  return emit(b, entry, a->s, *refs, k, flags);
}

static pst_err d2t_json(pst_text_builder *b, pst_d2t_format f, const char *buf, size_t len, int flags) {
  if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) buf += 3, len -= 3;
  json_error_t je;
  json_t *root = json_loadb(buf, len, 0, &je);
  if (!root) PST_ERR(PST_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", b->name, je.line, je.column, je.text);
  json_t *list = root;
  pst_err rc = PST_OK;
  if (f == PST_D2T_WEBNLG) {
    list = json_is_object(root) ? json_object_get(root, "entries") : NULL;
    if (!json_is_array(list)) {
      json_decref(root);
      PST_ERR(PST_ERR_FORMAT, "%s: not a WebNLG json file (an object with an \"entries\" array)", b->name);
    }
  } else if (!json_is_array(root)) {
    json_decref(root);
    PST_ERR(PST_ERR_FORMAT, "%s: not a DART json file (an array of entries)", b->name);
  }
  b->unit = "entry";
  b->col_a = f == PST_D2T_DART ? "tripleset" : "modifiedtripleset";
  b->col_b = f == PST_D2T_DART ? "annotations" : "lexicalisations";
  sbuf a = {0};
  const char **refs = NULL;
  size_t rcap = 0, i;
  json_t *e;
  json_array_foreach(list, i, e) {
    rc = f == PST_D2T_DART ? dart_entry(b, e, (long)i + 1, flags, &a, &refs, &rcap)
                           : webnlg_entry(b, e, (long)i + 1, flags, &a, &refs, &rcap);
    if (rc) break;
  }
  free(a.s);
  free(refs);
  json_decref(root);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- entry points ------------------------------------------------------------------------------ */

/* Load from buf (len bytes + 1 spare, modified in place by the csv / text readers). */
static pst_err d2t_load_buf(pst_text_dataset *d, pst_d2t_format f, const char *name, char *buf, size_t len, int flags,
                            pst_bad_rows bad, long *skipped) {
  if (skipped) *skipped = 0;
  memset(d, 0, sizeof *d);
  if ((unsigned)f > PST_D2T_WEBNLG) PST_ERR(PST_ERR_ARG, "%s: bad data-to-text format %d", name, (int)f);
  pst_text_builder b;
  PST_CHECK(pst_tb_begin(&b, d, name, bad, 0, NULL));
  pst_err rc;
  switch (f) {
  case PST_D2T_E2E: rc = e2e_csv(&b, buf, len); break;
  case PST_D2T_E2E_LORA: rc = e2e_lora(&b, buf, len); break;
  default: rc = d2t_json(&b, f, buf, len, flags); break;
  }
  if (!rc) rc = pst_tb_end(&b, skipped);
  if (rc) {
    pst_tb_abort(&b);
    PST_CHECK(rc);
  }
  d->num_labels = 0; /* unlabeled */
  return PST_OK;
}

pst_err pst_d2t_load(pst_text_dataset *d, pst_d2t_format f, const char *path, int flags, pst_bad_rows bad,
                     long *skipped) {
  char *buf;
  size_t len;
  memset(d, 0, sizeof *d);
  PST_CHECK(pst_text_read_file(&buf, &len, path));
  pst_err rc = d2t_load_buf(d, f, path, buf, len, flags, bad, skipped);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err pst_d2t_load_mem(pst_text_dataset *d, pst_d2t_format f, const char *name, const char *data, size_t size,
                         int flags, pst_bad_rows bad, long *skipped) {
  memset(d, 0, sizeof *d);
  char *buf = malloc(size + 1);
  if (!buf) PST_ERR(PST_ERR_MEM, "out of memory copying %s", name);
  if (size) memcpy(buf, data, size);
  pst_err rc = d2t_load_buf(d, f, name, buf, size, flags, bad, skipped);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}
