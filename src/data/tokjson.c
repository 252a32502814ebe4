/* tokjson.c — a Hugging Face tokenizer.json with a BPE model read into a pst_hftok: model
 * (vocab, merges as "a b" strings or ["a", "b"] pairs, unk_token, byte_fallback, fuse_unk,
 * ignore_merges), normalizer (NFC, Prepend, Replace with a string pattern, Sequence),
 * pre_tokenizer (ByteLevel, Split with the GPT-2 / Llama 3 / Qwen2 regex recognised by its
 * exact text, Digits, Metaspace, Sequence), added_tokens and post_processor
 * (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence). Anything else
 * is an error naming the file and the field; the decoder is not read (see detok.c). */
#include "hftok.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The Split regexes this tokenizer implements by hand (compared as text). */
static const struct {
  const char *pattern;
  int type;
} known_patterns[] = {
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", HF_PRE_GPT2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     HF_PRE_LLAMA3},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     HF_PRE_QWEN2},
};

typedef struct {
  const char *path; /* for messages */
  pst_hftok *h;
} jctx;

/* Field helpers: a boolean (absent or null = dflt), or -1 after setting the error. */
static int get_bool(const jctx *c, json_t *obj, const char *field, const char *key, int dflt) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return dflt;
  if (json_is_boolean(v)) return json_is_true(v);
  pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: %s.%s: expected true or false", c->path, field, key);
  return -1;
}

static const char *type_of(json_t *obj) { return json_string_value(json_object_get(obj, "type")); }

/* ---- model ---------------------------------------------------------------------------------------- */

/* One merge: "left right" or ["left", "right"]. */
static pst_err add_merge(const jctx *c, json_t *m, size_t i) {
  const char *l = NULL, *r = NULL;
  size_t ll = 0, rl = 0;
  char why[256];
  if (json_is_string(m)) {
    const char *s = json_string_value(m), *sp = strchr(s, ' ');
    if (sp && sp > s && sp[1] && !strchr(sp + 1, ' ')) l = s, ll = (size_t)(sp - s), r = sp + 1, rl = strlen(r);
  } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
             json_is_string(json_array_get(m, 1))) {
    l = json_string_value(json_array_get(m, 0)), ll = json_string_length(json_array_get(m, 0));
    r = json_string_value(json_array_get(m, 1)), rl = json_string_length(json_array_get(m, 1));
  }
  if (!l) PST_ERR(PST_ERR_FORMAT, "%s: model.merges[%zu]: expected \"left right\" or [\"left\", \"right\"]", c->path, i);
  pst_err rc = pst_bpe_add_merge(c->h->bpe, l, ll, r, rl, why, sizeof why);
  if (rc) PST_ERR(rc, "%s: model.merges[%zu]: %s", c->path, i, why);
  return PST_OK;
}

static pst_err parse_model(const jctx *c, json_t *root) {
  json_t *m = json_object_get(root, "model");
  if (!json_is_object(m)) PST_ERR(PST_ERR_FORMAT, "%s: model: missing or not an object", c->path);
  const char *type = type_of(m);
  if (type && strcmp(type, "BPE"))
    PST_ERR(PST_ERR_FORMAT, "%s: model.type \"%.40s\" is not supported (only BPE)", c->path, type);
  if (!type && !json_object_get(m, "merges"))
    PST_ERR(PST_ERR_FORMAT, "%s: model.type: missing (and no model.merges: not a BPE model)", c->path);
  json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges");
  if (!json_is_object(vocab) || !json_object_size(vocab))
    PST_ERR(PST_ERR_FORMAT, "%s: model.vocab: missing or not a non-empty object of token -> id", c->path);
  if (!json_is_array(merges)) PST_ERR(PST_ERR_FORMAT, "%s: model.merges: missing or not an array", c->path);
  json_t *v = json_object_get(m, "dropout");
  if (v && !json_is_null(v) && !(json_is_number(v) && json_number_value(v) == 0))
    PST_ERR(PST_ERR_FORMAT, "%s: model.dropout: BPE dropout is not supported", c->path);
  static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
  for (int i = 0; i < 2; i++) {
    v = json_object_get(m, affix[i]);
    if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)))
      PST_ERR(PST_ERR_FORMAT, "%s: model.%s: not supported (must be null)", c->path, affix[i]);
  }
  const char *key;
  json_t *val;
  json_object_foreach(vocab, key, val) {
    json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
    if (id < 0 || id >= PST_TOK_MAX_ID)
      PST_ERR(PST_ERR_FORMAT, "%s: model.vocab: token \"%.64s\": id is not an integer in [0, %d)", c->path, key,
              PST_TOK_MAX_ID);
    PST_CHECK(pst_bpe_add_token(c->h->bpe, key, strlen(key), (int32_t)id));
  }
  size_t i;
  json_array_foreach(merges, i, val) PST_CHECK(add_merge(c, val, i));
  pst_bpe_opts o = {.unk = -1};
  v = json_object_get(m, "unk_token");
  if (v && !json_is_null(v)) {
    if (!json_is_string(v)) PST_ERR(PST_ERR_FORMAT, "%s: model.unk_token: expected a string or null", c->path);
    o.unk = pst_bpe_id(c->h->bpe, json_string_value(v));
    if (o.unk < 0)
      PST_ERR(PST_ERR_FORMAT, "%s: model.unk_token \"%.64s\" is not in model.vocab", c->path, json_string_value(v));
  }
  if ((o.fuse_unk = get_bool(c, m, "model", "fuse_unk", 0)) < 0 ||
      (o.byte_fallback = get_bool(c, m, "model", "byte_fallback", 0)) < 0 ||
      (o.ignore_merges = get_bool(c, m, "model", "ignore_merges", 0)) < 0)
    return PST_ERR_FORMAT;
  c->h->unk = o.unk;
  o.byte_level = c->h->byte_level;
  pst_bpe_set_opts(c->h->bpe, &o);
  return PST_OK;
}

/* A Sequence's list n.key: parse(c, element, "field.key[i]") for each element in order. */
typedef pst_err (*parse_fn)(const jctx *c, json_t *n, const char *field);
static pst_err parse_sequence(const jctx *c, json_t *n, const char *field, const char *key, parse_fn parse) {
  json_t *list = json_object_get(n, key), *e;
  if (!json_is_array(list)) PST_ERR(PST_ERR_FORMAT, "%s: %s.%s: expected an array", c->path, field, key);
  size_t i;
  json_array_foreach(list, i, e) {
    char sub[128];
    snprintf(sub, sizeof sub, "%.80s.%s[%zu]", field, key, i);
    PST_CHECK(parse(c, e, sub));
  }
  return PST_OK;
}

/* ---- normalizer ---------------------------------------------------------------------------------- */

static pst_err parse_normalizer(const jctx *c, json_t *n, const char *field) {
  if (!n || json_is_null(n)) return PST_OK;
  const char *type = type_of(n);
  if (!json_is_object(n) || !type) PST_ERR(PST_ERR_FORMAT, "%s: %s: expected an object with a \"type\"", c->path, field);
  if (!strcmp(type, "Sequence")) return parse_sequence(c, n, field, "normalizers", parse_normalizer);
  if (!strcmp(type, "NFC")) {
    PST_CHECK(pst_hftok_add_norm(c->h, HF_NORM_NFC, NULL, NULL));
    return PST_OK;
  }
  if (!strcmp(type, "Prepend")) {
    const char *p = json_string_value(json_object_get(n, "prepend"));
    if (!p) PST_ERR(PST_ERR_FORMAT, "%s: %s.prepend: expected a string", c->path, field);
    PST_CHECK(pst_hftok_add_norm(c->h, HF_NORM_PREPEND, p, NULL));
    return PST_OK;
  }
  if (!strcmp(type, "Replace")) {
    json_t *pat = json_object_get(n, "pattern");
    const char *from = json_string_value(json_object_get(pat, "String"));
    const char *to = json_string_value(json_object_get(n, "content"));
    if (!from || !*from)
      PST_ERR(PST_ERR_FORMAT, "%s: %s.pattern: only a non-empty {\"String\": ...} pattern is supported", c->path, field);
    if (!to) PST_ERR(PST_ERR_FORMAT, "%s: %s.content: expected a string", c->path, field);
    PST_CHECK(pst_hftok_add_norm(c->h, HF_NORM_REPLACE, from, to));
    return PST_OK;
  }
  PST_ERR(PST_ERR_FORMAT, "%s: %s.type \"%.40s\" is not supported (NFC, Prepend, Replace, Sequence)", c->path, field,
          type);
}

/* ---- pre_tokenizer ---------------------------------------------------------------------------------- */

static pst_err add_pre(const jctx *c, const char *field, hf_pre p) {
  if (c->h->npre >= HF_MAX_PRE) PST_ERR(PST_ERR_FORMAT, "%s: %s: more than %d pre-tokenizer steps", c->path, field, HF_MAX_PRE);
  c->h->pre[c->h->npre++] = p;
  return PST_OK;
}

static pst_err parse_split(const jctx *c, json_t *n, const char *field) {
  json_t *pat = json_object_get(n, "pattern");
  const char *re = json_string_value(json_object_get(pat, "Regex"));
  const char *behavior = json_string_value(json_object_get(n, "behavior"));
  if (!re) PST_ERR(PST_ERR_FORMAT, "%s: %s.pattern: only a {\"Regex\": ...} pattern is supported", c->path, field);
  if (!behavior || strcmp(behavior, "Isolated"))
    PST_ERR(PST_ERR_FORMAT, "%s: %s.behavior \"%.40s\" is not supported (only Isolated)", c->path, field,
            behavior ? behavior : "(missing)");
  int inv = get_bool(c, n, field, "invert", 0);
  if (inv < 0) return PST_ERR_FORMAT;
  if (inv) PST_ERR(PST_ERR_FORMAT, "%s: %s.invert: true is not supported", c->path, field);
  for (size_t k = 0; k < sizeof known_patterns / sizeof known_patterns[0]; k++)
    if (!strcmp(re, known_patterns[k].pattern)) {
      PST_CHECK(add_pre(c, field, (hf_pre){.type = known_patterns[k].type}));
      return PST_OK;
    }
  PST_ERR(PST_ERR_FORMAT, "%s: %s.pattern.Regex: unknown pattern \"%.400s\" (known: the GPT-2, Llama 3 and Qwen2 "
          "patterns)", c->path, field, re);
}

static pst_err parse_metaspace(const jctx *c, json_t *n, const char *field) {
  hf_pre p = {.type = HF_PRE_METASPACE, .prepend = HF_PREPEND_ALWAYS};
  const char *rep = json_string_value(json_object_get(n, "replacement"));
  if (!rep || !*rep || strlen(rep) >= sizeof p.rep)
    PST_ERR(PST_ERR_FORMAT, "%s: %s.replacement: expected one character", c->path, field);
  strcpy(p.rep, rep);
  const char *scheme = json_string_value(json_object_get(n, "prepend_scheme"));
  if (scheme) {
    if (!strcmp(scheme, "first")) p.prepend = HF_PREPEND_FIRST;
    else if (!strcmp(scheme, "always")) p.prepend = HF_PREPEND_ALWAYS;
    else if (!strcmp(scheme, "never")) p.prepend = HF_PREPEND_NEVER;
    else PST_ERR(PST_ERR_FORMAT, "%s: %s.prepend_scheme \"%.40s\": expected first, always or never", c->path, field, scheme);
  } else { /* older files: add_prefix_space */
    int a = get_bool(c, n, field, "add_prefix_space", 1);
    if (a < 0) return PST_ERR_FORMAT;
    p.prepend = a ? HF_PREPEND_ALWAYS : HF_PREPEND_NEVER;
  }
  if ((p.split = get_bool(c, n, field, "split", 1)) < 0) return PST_ERR_FORMAT;
  PST_CHECK(add_pre(c, field, p));
  return PST_OK;
}

static pst_err parse_pre(const jctx *c, json_t *n, const char *field) {
  if (!n || json_is_null(n)) return PST_OK;
  const char *type = type_of(n);
  if (!json_is_object(n) || !type) PST_ERR(PST_ERR_FORMAT, "%s: %s: expected an object with a \"type\"", c->path, field);
  if (!strcmp(type, "Sequence")) return parse_sequence(c, n, field, "pretokenizers", parse_pre);
  if (!strcmp(type, "ByteLevel")) {
    int aps = get_bool(c, n, field, "add_prefix_space", 0), re = get_bool(c, n, field, "use_regex", 1);
    if (aps < 0 || re < 0) return PST_ERR_FORMAT;
    if (aps) PST_ERR(PST_ERR_FORMAT, "%s: %s.add_prefix_space: true is not supported", c->path, field);
    if (re) PST_CHECK(add_pre(c, field, (hf_pre){.type = HF_PRE_GPT2}));
    PST_CHECK(add_pre(c, field, (hf_pre){.type = HF_PRE_BYTELEVEL}));
    return PST_OK;
  }
  if (!strcmp(type, "Split")) {
    PST_CHECK(parse_split(c, n, field));
    return PST_OK;
  }
  if (!strcmp(type, "Digits")) {
    int ind = get_bool(c, n, field, "individual_digits", 0);
    if (ind < 0) return PST_ERR_FORMAT;
    PST_CHECK(add_pre(c, field, (hf_pre){.type = ind ? HF_PRE_DIGITS_EACH : HF_PRE_DIGITS}));
    return PST_OK;
  }
  if (!strcmp(type, "Metaspace")) {
    PST_CHECK(parse_metaspace(c, n, field));
    return PST_OK;
  }
  PST_ERR(PST_ERR_FORMAT, "%s: %s.type \"%.40s\" is not supported (ByteLevel, Split, Digits, Metaspace, Sequence)",
          c->path, field, type);
}

/* ---- added tokens --------------------------------------------------------------------------------- */

static pst_err parse_added(const jctx *c, json_t *list) {
  if (!list || json_is_null(list)) return PST_OK;
  if (!json_is_array(list)) PST_ERR(PST_ERR_FORMAT, "%s: added_tokens: expected an array", c->path);
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    json_t *idv = json_object_get(a, "id"), *cv = json_object_get(a, "content");
    json_int_t id = json_is_integer(idv) ? json_integer_value(idv) : -1;
    if (id < 0 || id >= PST_TOK_MAX_ID || !json_is_string(cv) || !json_string_length(cv))
      PST_ERR(PST_ERR_FORMAT, "%s: added_tokens[%zu]: expected an integer id in [0, %d) and a non-empty content", c->path,
              i, PST_TOK_MAX_ID);
    char field[64];
    snprintf(field, sizeof field, "added_tokens[%zu]", i);
    int special = get_bool(c, a, field, "special", 0), sw = get_bool(c, a, field, "single_word", 0),
        ls = get_bool(c, a, field, "lstrip", 0), rs = get_bool(c, a, field, "rstrip", 0);
    if (special < 0 || sw < 0 || ls < 0 || rs < 0) return PST_ERR_FORMAT;
    int norm = get_bool(c, a, field, "normalized", !special);
    if (norm < 0) return PST_ERR_FORMAT;
    if (sw) PST_ERR(PST_ERR_FORMAT, "%s: %s.single_word: true is not supported", c->path, field);
    pst_err rc = pst_hftok_add_token(c->h, json_string_value(cv), json_string_length(cv), (int32_t)id, special, ls, rs,
                                     norm);
    if (rc) {
      char msg[300];
      snprintf(msg, sizeof msg, "%s", pst_err_message());
      PST_ERR(rc, "%s: %s: %s", c->path, field, msg);
    }
  }
  return PST_OK;
}

/* ---- post_processor --------------------------------------------------------------------------------- */

/* Template items of TemplateProcessing's "single" / "pair" list into items[*n]. */
static pst_err parse_template(const jctx *c, json_t *list, json_t *specials, const char *field, hf_item *items,
                              int *n) {
  if (!json_is_array(list)) PST_ERR(PST_ERR_FORMAT, "%s: %s: expected an array", c->path, field);
  *n = 0;
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    json_t *sp = json_object_get(e, "SpecialToken"), *sq = json_object_get(e, "Sequence"), *obj = sp ? sp : sq;
    const char *id = json_string_value(json_object_get(obj, "id"));
    json_t *tv = json_object_get(obj, "type_id");
    int type_id = json_is_integer(tv) ? (int)json_integer_value(tv) : 0;
    if (!id) PST_ERR(PST_ERR_FORMAT, "%s: %s[%zu]: expected {\"SpecialToken\" or \"Sequence\": {\"id\": ...}}", c->path, field, i);
    if (sq) {
      if (strcmp(id, "A") && strcmp(id, "B"))
        PST_ERR(PST_ERR_FORMAT, "%s: %s[%zu].Sequence.id: expected A or B", c->path, field, i);
      if (*n >= HF_MAX_ITEMS) PST_ERR(PST_ERR_FORMAT, "%s: %s: more than %d items", c->path, field, HF_MAX_ITEMS);
      items[(*n)++] = (hf_item){-1, id[0] == 'B', type_id};
      continue;
    }
    json_t *ids = json_object_get(json_object_get(specials, id), "ids"), *x;
    if (!json_is_array(ids))
      PST_ERR(PST_ERR_FORMAT, "%s: %s[%zu]: special token \"%.64s\" is not in special_tokens", c->path, field, i, id);
    size_t k;
    json_array_foreach(ids, k, x) {
      json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
      if (v < 0 || v >= PST_TOK_MAX_ID)
        PST_ERR(PST_ERR_FORMAT, "%s: special_tokens.%.64s.ids[%zu]: expected an id in [0, %d)", c->path, id, k,
                PST_TOK_MAX_ID);
      if (*n >= HF_MAX_ITEMS) PST_ERR(PST_ERR_FORMAT, "%s: %s: more than %d items", c->path, field, HF_MAX_ITEMS);
      items[(*n)++] = (hf_item){(int32_t)v, -1, type_id};
    }
  }
  return PST_OK;
}

/* BertProcessing / RobertaProcessing: "cls" and "sep" as [token, id]. */
static pst_err parse_bert_like(const jctx *c, json_t *n, const char *field, int roberta) {
  int32_t id[2];
  static const char *const keys[] = {"cls", "sep"};
  for (int k = 0; k < 2; k++) {
    json_t *v = json_array_get(json_object_get(n, keys[k]), 1);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= PST_TOK_MAX_ID)
      PST_ERR(PST_ERR_FORMAT, "%s: %s.%s: expected [token, id]", c->path, field, keys[k]);
    id[k] = (int32_t)json_integer_value(v);
  }
  pst_hftok *h = c->h;
  h->has_template = 1;
  h->nsingle = 3;
  h->single[0] = (hf_item){id[0], -1, 0}, h->single[1] = (hf_item){-1, 0, 0}, h->single[2] = (hf_item){id[1], -1, 0};
  int tb = roberta ? 0 : 1, k = 0;
  h->pair[k++] = (hf_item){id[0], -1, 0};
  h->pair[k++] = (hf_item){-1, 0, 0};
  h->pair[k++] = (hf_item){id[1], -1, 0};
  if (roberta) h->pair[k++] = (hf_item){id[1], -1, 0};
  h->pair[k++] = (hf_item){-1, 1, tb};
  h->pair[k++] = (hf_item){id[1], -1, tb};
  h->npair = k;
  return PST_OK;
}

static pst_err parse_post(const jctx *c, json_t *n, const char *field) {
  if (!n || json_is_null(n)) return PST_OK;
  const char *type = type_of(n);
  if (!json_is_object(n) || !type) PST_ERR(PST_ERR_FORMAT, "%s: %s: expected an object with a \"type\"", c->path, field);
  if (!strcmp(type, "ByteLevel")) return PST_OK; /* offsets only */
  if (!strcmp(type, "Sequence")) {
    json_t *list = json_object_get(n, "processors"), *e;
    if (!json_is_array(list)) PST_ERR(PST_ERR_FORMAT, "%s: %s.processors: expected an array", c->path, field);
    size_t i;
    json_array_foreach(list, i, e) {
      char sub[128];
      snprintf(sub, sizeof sub, "%.80s.processors[%zu]", field, i);
      PST_CHECK(parse_post(c, e, sub));
    }
    return PST_OK;
  }
  if (c->h->has_template)
    PST_ERR(PST_ERR_FORMAT, "%s: %s: more than one template post-processor", c->path, field);
  if (!strcmp(type, "TemplateProcessing")) {
    char sub[128];
    json_t *specials = json_object_get(n, "special_tokens");
    snprintf(sub, sizeof sub, "%.80s.single", field);
    PST_CHECK(parse_template(c, json_object_get(n, "single"), specials, sub, c->h->single, &c->h->nsingle));
    snprintf(sub, sizeof sub, "%.80s.pair", field);
    PST_CHECK(parse_template(c, json_object_get(n, "pair"), specials, sub, c->h->pair, &c->h->npair));
    int na = 0, nb = 0, pa = 0, pb = 0;
    for (int i = 0; i < c->h->nsingle; i++) na += c->h->single[i].seq == 0, nb += c->h->single[i].seq == 1;
    for (int i = 0; i < c->h->npair; i++) pa += c->h->pair[i].seq == 0, pb += c->h->pair[i].seq == 1;
    if (na != 1 || nb || pa != 1 || pb != 1)
      PST_ERR(PST_ERR_FORMAT, "%s: %s: \"single\" must hold $A once (and no $B), \"pair\" $A and $B once each",
              c->path, field);
    c->h->has_template = 1;
    return PST_OK;
  }
  if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
    PST_CHECK(parse_bert_like(c, n, field, type[0] == 'R'));
    return PST_OK;
  }
  PST_ERR(PST_ERR_FORMAT, "%s: %s.type \"%.40s\" is not supported (TemplateProcessing, BertProcessing, "
          "RobertaProcessing, ByteLevel, Sequence)", c->path, field, type);
}

/* ---- the whole file ----------------------------------------------------------------------------------- */

/* Id of the first of names that is an added token, -1 if none. */
static int32_t first_added(const pst_hftok *h, const char *const *names) {
  for (; *names; names++)
    for (int i = 0; i < h->nadded; i++)
      if (!strcmp(h->added[i].text, *names)) return h->added[i].id;
  return -1;
}

static pst_err parse_root(const jctx *c, json_t *root) {
  pst_hftok *h = c->h;
  PST_CHECK(parse_normalizer(c, json_object_get(root, "normalizer"), "normalizer"));
  PST_CHECK(parse_pre(c, json_object_get(root, "pre_tokenizer"), "pre_tokenizer"));
  for (int i = 0; i + 1 < h->npre; i++)
    if (h->pre[i].type == HF_PRE_BYTELEVEL)
      PST_ERR(PST_ERR_FORMAT, "%s: pre_tokenizer: ByteLevel must be the last step", c->path);
  h->byte_level = h->npre && h->pre[h->npre - 1].type == HF_PRE_BYTELEVEL;
  PST_CHECK(parse_model(c, root));
  PST_CHECK(parse_added(c, json_object_get(root, "added_tokens")));
  PST_CHECK(parse_post(c, json_object_get(root, "post_processor"), "post_processor"));
  pst_err rc = pst_hftok_finish(h);
  if (rc) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s", pst_err_message());
    PST_ERR(rc, "%s: %s", c->path, msg);
  }
  for (int i = 0; i < h->nsingle; i++)
    if (h->single[i].seq < 0 && h->bos < 0) h->bos = h->single[i].id;
  static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>", NULL};
  static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>", NULL};
  if (h->bos < 0) h->bos = first_added(h, bos_names);
  h->eos = first_added(h, eos_names);
  json_t *pad = json_object_get(json_object_get(root, "padding"), "pad_id");
  static const char *const pad_names[] = {"<pad>", "<|pad|>", "[PAD]", NULL};
  if (json_is_integer(pad) && json_integer_value(pad) >= 0 && json_integer_value(pad) < h->vocab_size)
    h->pad = (int32_t)json_integer_value(pad);
  else h->pad = first_added(h, pad_names);
  if (h->pad < 0) h->pad = h->eos >= 0 ? h->eos : 0;
  for (int i = 0; i < h->nsingle; i++)
    if (h->single[i].id >= h->vocab_size) PST_ERR(PST_ERR_FORMAT, "%s: post_processor: id %d is not a token", c->path, (int)h->single[i].id);
  for (int i = 0; i < h->npair; i++)
    if (h->pair[i].id >= h->vocab_size) PST_ERR(PST_ERR_FORMAT, "%s: post_processor: id %d is not a token", c->path, (int)h->pair[i].id);
  return PST_OK;
}

pst_err pst_tokenizer_load_json_buf(pst_tokenizer **out, const char *name, const char *buf, size_t len) {
  *out = NULL;
  json_error_t je;
  json_t *root = json_loadb(buf, len, 0, &je);
  if (!root) PST_ERR(PST_ERR_FORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
  if (!json_is_object(root)) {
    json_decref(root);
    PST_ERR(PST_ERR_FORMAT, "%s: not a JSON object", name);
  }
  pst_hftok *h;
  pst_err rc = pst_hftok_new(&h);
  if (rc) {
    json_decref(root);
    PST_CHECK(rc);
  }
  jctx c = {name, h};
  rc = parse_root(&c, root);
  json_decref(root);
  if (rc) {
    pst_hftok_free(h);
    PST_CHECK(rc);
  }
  char sha[65];
  pst_sha256_hex(buf, len, sha);
  snprintf(h->identity, sizeof h->identity, "bpe-json %s sha256:%s", h->byte_level ? "byte-level" : "sentencepiece",
           sha);
  PST_CHECK(pst_tokenizer_wrap_hf(out, h));
  return PST_OK;
}

pst_err pst_tokenizer_load_json(pst_tokenizer **out, const char *tokenizer_json) {
  *out = NULL;
  char *buf;
  size_t len;
  PST_CHECK(pst_tok_read_file(tokenizer_json, &buf, &len));
  pst_err rc = pst_tokenizer_load_json_buf(out, tokenizer_json, buf, len);
  free(buf);
  PST_CHECK(rc);
  return PST_OK;
}
