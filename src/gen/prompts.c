/* prompts.c — reading and encoding the prompts of generation (prompts.h). */
#include "pst/prompts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pst/textdata.h"

/* Free prompts [from, p->n). */
static void free_items(pst_prompts *p, int from) {
  for (int i = from; i < p->n; i++) {
    if (p->text) free(p->text[i]);
    if (p->ids) free(p->ids[i]);
    if (p->refs) {
      for (int k = 0; k < p->nrefs[i]; k++) free(p->refs[i][k]);
      free(p->refs[i]);
    }
  }
}

void pst_prompts_truncate(pst_prompts *p, int n) {
  if (n >= p->n || n < 0) return;
  free_items(p, n);
  p->n = n;
}

void pst_prompts_free(pst_prompts *p) {
  free_items(p, 0);
  free(p->text);
  free(p->ids);
  free(p->len);
  free(p->line);
  free(p->refs);
  free(p->nrefs);
  memset(p, 0, sizeof *p);
}

static pst_err alloc_prompts(pst_prompts *p, int n, int with_refs) {
  p->n = n;
  p->text = calloc((size_t)n, sizeof *p->text);
  p->ids = calloc((size_t)n, sizeof *p->ids);
  p->len = calloc((size_t)n, sizeof *p->len);
  p->line = calloc((size_t)n, sizeof *p->line);
  if (with_refs) {
    p->refs = calloc((size_t)n, sizeof *p->refs);
    p->nrefs = calloc((size_t)n, sizeof *p->nrefs);
  }
  if (!p->text || !p->ids || !p->len || !p->line || (with_refs && (!p->refs || !p->nrefs))) {
    pst_prompts_free(p);
    PST_ERR(PST_ERR_MEM, "out of memory for %d prompts", n);
  }
  return PST_OK;
}

static char *dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

pst_err pst_prompts_from_strings(pst_prompts *p, const char *const *s, int n) {
  memset(p, 0, sizeof *p);
  if (n <= 0) PST_ERR(PST_ERR_ARG, "no prompt given");
  PST_CHECK(alloc_prompts(p, n, 0));
  snprintf(p->origin, sizeof p->origin, "the command line");
  for (int i = 0; i < n; i++) {
    p->line[i] = i + 1;
    if (!s[i][0]) {
      pst_prompts_free(p);
      PST_ERR(PST_ERR_ARG, "prompt %d on the command line is empty", i + 1);
    }
    if (!(p->text[i] = dup(s[i]))) {
      pst_prompts_free(p);
      PST_ERR(PST_ERR_MEM, "out of memory for the prompts");
    }
  }
  return PST_OK;
}

/* One prompt per line (text or ids); a trailing newline ends the file, a final line without
 * one counts; \r\n line ends are accepted. */
static pst_err from_lines(pst_prompts *p, const char *path, int as_ids) {
  char *buf;
  size_t size;
  PST_CHECK(pst_text_read_file(&buf, &size, path));
  int n = 0;
  for (size_t i = 0; i < size; i++) n += buf[i] == '\n';
  if (size && buf[size - 1] != '\n') n++;
  pst_err rc = n ? alloc_prompts(p, n, 0) : PST_OK;
  if (!n) {
    rc = PST_ERR_FORMAT;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "%s: no prompt in the file", path);
  }
  char *s = buf;
  for (int i = 0; !rc && i < n; i++) {
    char *e = memchr(s, '\n', (size_t)(buf + size - s));
    if (!e) e = buf + size;
    *e = 0;
    size_t L = (size_t)(e - s);
    if (L && s[L - 1] == '\r') s[--L] = 0;
    p->line[i] = i + 1;
    if (strlen(s) != L) {
      rc = PST_ERR_FORMAT;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "%s:%d: the line holds a NUL byte", path, i + 1);
    } else if (!s[0]) {
      rc = PST_ERR_FORMAT;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "%s:%d: empty prompt", path, i + 1);
    } else if (!as_ids) {
      if (!(p->text[i] = dup(s))) {
        rc = PST_ERR_MEM;
        pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for the prompts");
      }
    } else {
      int cap = 16, k = 0;
      int32_t *ids = malloc((size_t)cap * sizeof *ids);
      for (char *q = s; ids && *q;) {
        while (*q == ' ' || *q == '\t') q++;
        if (!*q) break;
        char *end;
        errno = 0;
        long v = strtol(q, &end, 10);
        if (end == q || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != '\t')) {
          rc = PST_ERR_FORMAT;
          pst_err_set(rc, __FILE__, __LINE__, __func__, "%s:%d: '%.20s' is not a token id", path, i + 1, q);
          break;
        }
        if (k == cap) {
          int32_t *t = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
          if (!t) {
            free(ids);
            ids = NULL;
            break;
          }
          ids = t;
        }
        ids[k++] = (int32_t)v;
        q = end;
      }
      if (!ids && !rc) {
        rc = PST_ERR_MEM;
        pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for the prompts");
      }
      if (!rc && !k) {
        rc = PST_ERR_FORMAT;
        pst_err_set(rc, __FILE__, __LINE__, __func__, "%s:%d: empty prompt", path, i + 1);
      }
      p->ids[i] = ids;
      p->len[i] = k;
    }
    s = e + 1;
  }
  free(buf);
  if (rc) pst_prompts_free(p);
  return rc;
}

/* The distinct inputs of a data-to-text file with their references. */
static pst_err from_d2t(pst_prompts *p, const char *path, pst_d2t_format f) {
  pst_text_dataset d;
  memset(&d, 0, sizeof d);
  pst_text_groups g;
  memset(&g, 0, sizeof g);
  long skipped = 0;
  PST_CHECK(pst_d2t_load(&d, f, path, PST_D2T_KEEP_UNREFERENCED, PST_BAD_FAIL, &skipped));
  const pst_group_by by = f == PST_D2T_E2E || f == PST_D2T_E2E_LORA ? PST_GROUP_BY_INPUT : PST_GROUP_BY_LINE;
  pst_err rc = pst_text_group(&g, &d, by);
  if (!rc && g.n == 0) {
    rc = PST_ERR_FORMAT;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "%s: no input in the file", path);
  }
  if (!rc && g.n > INT32_MAX) {
    rc = PST_ERR_FORMAT;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "%s: too many inputs", path);
  }
  if (!rc) rc = alloc_prompts(p, (int)g.n, 1);
  for (long i = 0; !rc && i < g.n; i++) {
    const pst_text_example *first = &d.ex[g.member[g.start[i]]];
    p->line[i] = first->line;
    p->text[i] = dup(first->a);
    int nr = 0;
    for (long k = g.start[i]; k < g.start[i + 1]; k++) nr += d.ex[g.member[k]].b != NULL;
    p->refs[i] = calloc((size_t)(nr ? nr : 1), sizeof(char *));
    if (!p->text[i] || !p->refs[i]) {
      rc = PST_ERR_MEM;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for the prompts");
      break;
    }
    for (long k = g.start[i]; k < g.start[i + 1]; k++) {
      const char *b = d.ex[g.member[k]].b;
      if (!b) continue;
      if (!(p->refs[i][p->nrefs[i]++] = dup(b))) {
        rc = PST_ERR_MEM;
        pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for the references");
        break;
      }
    }
  }
  pst_text_groups_free(&g);
  pst_text_dataset_free(&d);
  if (rc) pst_prompts_free(p);
  p->d2t = !rc;
  return rc;
}

pst_err pst_prompts_from_file(pst_prompts *p, const char *path, const char *format) {
  memset(p, 0, sizeof *p);
  pst_err rc;
  if (!strcmp(format, "lines") || !strcmp(format, "ids")) {
    rc = from_lines(p, path, !strcmp(format, "ids"));
  } else {
    pst_d2t_format f;
    if (pst_d2t_format_parse(&f, format)) {
      pst_err_clear();
      PST_ERR(PST_ERR_ARG, "prompt format '%s' is unknown: lines, ids, e2e, e2e_lora, dart or webnlg", format);
    }
    rc = from_d2t(p, path, f);
  }
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  snprintf(p->origin, sizeof p->origin, "%s", path);
  return PST_OK;
}

/* Append id (if >= 0) and the tokens of text to ids. */
static pst_err push(const pst_tokenizer *tok, int32_t id, const char *text, int32_t **ids, int *n, int *cap) {
  if (id >= 0) {
    if (*n == *cap) {
      int32_t *t = realloc(*ids, (size_t)(*cap = *cap ? 2 * *cap : 64) * sizeof **ids);
      if (!t) PST_ERR(PST_ERR_MEM, "out of memory encoding a prompt");
      *ids = t;
    }
    (*ids)[(*n)++] = id;
  }
  return text && text[0] ? pst_tokenize(tok, text, ids, n, cap) : PST_OK;
}

/* The chat template's markers in the vocabulary: ChatML or Llama 3 (kind 1 / 2), else 0. */
static int chat_kind(const pst_tokenizer *tok, int32_t *start, int32_t *end, int32_t *hdr_end) {
  *start = pst_tokenizer_token_id(tok, "<|im_start|>");
  *end = pst_tokenizer_token_id(tok, "<|im_end|>");
  *hdr_end = -1;
  if (*start >= 0 && *end >= 0) return 1;
  *start = pst_tokenizer_token_id(tok, "<|start_header_id|>");
  *hdr_end = pst_tokenizer_token_id(tok, "<|end_header_id|>");
  *end = pst_tokenizer_token_id(tok, "<|eot_id|>");
  if (*start >= 0 && *hdr_end >= 0 && *end >= 0) return 2;
  return 0;
}

/* One turn of the template (content NULL: the assistant header that opens the answer). */
static pst_err chat_turn(const pst_tokenizer *tok, int kind, int32_t start, int32_t end, int32_t hdr_end,
                         const char *role, const char *content, int32_t **ids, int *n, int *cap) {
  if (kind == 1) { /* <|im_start|>role\ncontent<|im_end|>\n */
    char head[32];
    snprintf(head, sizeof head, "%s\n", role);
    PST_CHECK(push(tok, start, head, ids, n, cap));
    if (!content) return PST_OK;
    PST_CHECK(push(tok, -1, content, ids, n, cap));
    return push(tok, end, "\n", ids, n, cap);
  }
  /* <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> */
  PST_CHECK(push(tok, start, role, ids, n, cap));
  PST_CHECK(push(tok, hdr_end, "\n\n", ids, n, cap));
  if (!content) return PST_OK;
  PST_CHECK(push(tok, -1, content, ids, n, cap));
  return push(tok, end, NULL, ids, n, cap);
}

pst_err pst_prompts_encode(pst_prompts *p, const pst_tokenizer *tok, int bos, int chat, const char *system,
                           int32_t *chat_end) {
  int32_t start = -1, end = -1, hdr_end = -1;
  const int kind = chat ? chat_kind(tok, &start, &end, &hdr_end) : 0;
  *chat_end = kind ? end : -1;
  if (chat && !kind)
    PST_ERR(PST_ERR_ARG, "--chat: the tokenizer (%s) has no ChatML (<|im_start|>) or Llama 3 (<|start_header_id|>) "
            "tokens; its chat template is not supported", pst_tokenizer_identity(tok));
  const int32_t bos_id = pst_tokenizer_bos_id(tok);
  if (bos && bos_id < 0) PST_ERR(PST_ERR_ARG, "--bos: the tokenizer has no beginning-of-sequence token");
  for (int i = 0; i < p->n; i++) {
    if (!p->text[i]) continue; /* given as ids */
    int32_t *ids = NULL;
    int n = 0, cap = 0;
    pst_err rc = PST_OK;
    if (bos || kind == 2) rc = push(tok, bos_id, NULL, &ids, &n, &cap);
    if (!rc && kind && system) rc = chat_turn(tok, kind, start, end, hdr_end, "system", system, &ids, &n, &cap);
    if (!rc && kind) rc = chat_turn(tok, kind, start, end, hdr_end, "user", p->text[i], &ids, &n, &cap);
    if (!rc && kind) rc = chat_turn(tok, kind, start, end, hdr_end, "assistant", NULL, &ids, &n, &cap);
    if (!rc && !kind) rc = push(tok, -1, p->text[i], &ids, &n, &cap);
    if (!rc && n == 0) {
      rc = PST_ERR_ARG;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "gives no tokens");
    }
    if (rc) {
      free(ids);
      char msg[512];
      snprintf(msg, sizeof msg, "%s", pst_err_message());
      pst_err_clear();
      PST_ERR(rc, "%s, prompt %d (line %ld): %s", p->origin, i + 1, p->line[i], msg);
    }
    p->ids[i] = ids;
    p->len[i] = n;
  }
  return PST_OK;
}

pst_err pst_prompts_template(pst_prompts *p, const char *tmpl) {
  const char *at = strstr(tmpl, "{}");
  if (!at) PST_ERR(PST_ERR_ARG, "--template '%s' has no {} where the input goes", tmpl);
  for (int i = 0; i < p->n; i++) {
    if (!p->text[i]) continue;
    const size_t n = strlen(tmpl) - 2 + strlen(p->text[i]) + 1;
    char *t = malloc(n);
    if (!t) PST_ERR(PST_ERR_MEM, "out of memory for the prompts");
    snprintf(t, n, "%.*s%s%s", (int)(at - tmpl), tmpl, p->text[i], at + 2);
    free(p->text[i]);
    p->text[i] = t;
  }
  return PST_OK;
}
