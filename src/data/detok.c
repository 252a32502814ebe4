/* detok.c — token ids back to text, as Hugging Face tokenizers' decoders do it: ByteLevel
 * (each token's characters through the inverse of bytes_to_unicode, then lossy UTF-8) and the
 * SentencePiece-style sequence of Llama 2 / Mistral (Replace "▁" -> " ", ByteFallback of
 * <0xXX> runs, Fuse, Strip one leading space). */
#include "hftok.h"

#include <stdlib.h>
#include <string.h>

/* Growable byte buffer. */
typedef struct {
  unsigned char *p;
  size_t len, cap;
} dbuf;

static pst_err dbuf_put(dbuf *b, const void *s, size_t len) {
  if (b->len + len + 1 > b->cap) {
    size_t nc = b->cap ? 2 * b->cap : 256;
    while (nc < b->len + len + 1) nc *= 2;
    unsigned char *np = realloc(b->p, nc);
    if (!np) PST_ERR(PST_ERR_MEM, "out of memory decoding %zu bytes", b->len + len);
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->len, s, len);
  b->len += len;
  b->p[b->len] = 0;
  return PST_OK;
}

pst_err pst_utf8_lossy(const unsigned char *s, size_t len, char **out) {
  *out = NULL;
  dbuf b = {0};
  pst_err rc = dbuf_put(&b, "", 0);
  for (size_t i = 0; i < len && !rc;) {
    long l = pst_utf8_seq(s + i, len - i);
    if (l > 0) {
      size_t j = i + (size_t)l; /* copy the run of valid sequences at once */
      while (j < len && (l = pst_utf8_seq(s + j, len - j)) > 0) j += (size_t)l;
      rc = dbuf_put(&b, s + i, j - i);
      i = j;
    } else {
      rc = dbuf_put(&b, "\xef\xbf\xbd", 3);
      i += (size_t)-l;
    }
  }
  if (rc) {
    free(b.p);
    PST_CHECK(rc);
  }
  *out = (char *)b.p;
  return PST_OK;
}

pst_err pst_bytelevel_decode(const char *const *tokens, int n, char **text) {
  *text = NULL;
  int byte_of[324]; /* bytes_to_unicode maps onto U+0021..U+0143 */
  for (int c = 0; c < 324; c++) byte_of[c] = -1;
  for (int b = 0; b < 256; b++) byte_of[pst_byte_to_unicode(b)] = b;
  dbuf b = {0};
  pst_err rc = PST_OK;
  for (int i = 0; i < n && !rc; i++) {
    const unsigned char *t = (const unsigned char *)tokens[i];
    size_t tl = strlen(tokens[i]);
    int all = 1;
    for (size_t p = 0; p < tl && all;) {
      int32_t cp;
      p += (size_t)pst_utf8_next(t + p, &cp);
      all = cp < 324 && byte_of[cp] >= 0;
    }
    if (!all) { /* HF: a token with a character outside the map stays as its bytes */
      rc = dbuf_put(&b, t, tl);
      continue;
    }
    for (size_t p = 0; p < tl && !rc;) {
      int32_t cp;
      p += (size_t)pst_utf8_next(t + p, &cp);
      unsigned char c = (unsigned char)byte_of[cp];
      rc = dbuf_put(&b, &c, 1);
    }
  }
  if (!rc) rc = pst_utf8_lossy(b.p ? b.p : (const unsigned char *)"", b.len, text);
  free(b.p);
  PST_CHECK(rc);
  return PST_OK;
}

/* <0xXX> byte token: its value, else -1. */
static int byte_token(const char *t) {
  if (strlen(t) != 6 || strncmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; i++) {
    char c = t[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* ByteFallback's flush: the pending bytes as text if valid UTF-8, else one U+FFFD each. */
static pst_err flush_bytes(dbuf *out, dbuf *pend) {
  if (!pend->len) return PST_OK;
  pst_err rc;
  if (pst_utf8_invalid_at(pend->p, pend->len) < 0) {
    rc = dbuf_put(out, pend->p, pend->len);
  } else {
    rc = PST_OK;
    for (size_t i = 0; i < pend->len && !rc; i++) rc = dbuf_put(out, "\xef\xbf\xbd", 3);
  }
  pend->len = 0;
  PST_CHECK(rc);
  return PST_OK;
}

/* Llama 2's decoder: Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0). */
static pst_err sentencepiece_decode(const char *const *tokens, int n, char **text) {
  *text = NULL;
  dbuf out = {0}, pend = {0};
  pst_err rc = dbuf_put(&out, "", 0);
  for (int i = 0; i < n && !rc; i++) {
    int bv = byte_token(tokens[i]);
    if (bv >= 0) {
      unsigned char c = (unsigned char)bv;
      rc = dbuf_put(&pend, &c, 1);
      continue;
    }
    rc = flush_bytes(&out, &pend);
    for (const char *p = tokens[i]; *p && !rc;) {
      if (strncmp(p, "\xe2\x96\x81", 3) == 0) {
        rc = dbuf_put(&out, " ", 1);
        p += 3;
      } else {
        rc = dbuf_put(&out, p, 1);
        p++;
      }
    }
  }
  if (!rc) rc = flush_bytes(&out, &pend);
  free(pend.p);
  if (rc) {
    free(out.p);
    PST_CHECK(rc);
  }
  if (out.len && out.p[0] == ' ') memmove(out.p, out.p + 1, out.len--);
  *text = (char *)out.p;
  return PST_OK;
}

pst_err pst_hftok_decode(const pst_hftok *h, const int32_t *ids, int n, int skip_special, char **text) {
  *text = NULL;
  const char **toks = malloc((n > 0 ? (size_t)n : 1) * sizeof *toks);
  if (!toks) PST_ERR(PST_ERR_MEM, "out of memory decoding %d ids", n);
  int k = 0;
  for (int i = 0; i < n; i++) { /* ids without a token are left out, as HF does */
    const char *t = pst_hftok_token(h, ids[i]);
    if (t && !(skip_special && h->is_special[ids[i]])) toks[k++] = t;
  }
  pst_err rc = h->byte_level ? pst_bytelevel_decode(toks, k, text) : sentencepiece_decode(toks, k, text);
  free(toks);
  PST_CHECK(rc);
  return PST_OK;
}
