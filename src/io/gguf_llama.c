/* gguf_llama.c — LLaMA-family GGUF files as pst models: metadata -> pst_gguf_llama -> run
 * config, pst tensor names -> GGUF tensors, and the loader that dequantizes each pst tensor
 * (or its tensor-parallel slice) from the file, undoing the q/k row permutation of llama files
 * (see gguf_llama.h for the names and the permutation). */
#include "pst/gguf_llama.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- model description ---- */

/* "P.suffix" into buf */
static const char *pkey(char *buf, size_t cap, const char *arch, const char *suffix) {
  snprintf(buf, cap, "%s.%s", arch, suffix);
  return buf;
}

/* A required u32 count in [1, max] into *out. */
static pst_err get_count(const pst_gguf *g, const char *key, uint32_t max, int *out) {
  uint32_t v;
  PST_CHECK(pst_gguf_get_u32(g, key, &v));
  if (v < 1 || v > max)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %u is outside [1, %u]", pst_gguf_path(g), key, v, max);
  *out = (int)v;
  return PST_OK;
}

/* An optional f32 (def if absent) that must be finite and > 0. */
static pst_err get_pos_float(const pst_gguf *g, const char *key, int required, float def, float *out) {
  if (!required && pst_gguf_kv_find(g, key) < 0) {
    *out = def;
    return PST_OK;
  }
  PST_CHECK(pst_gguf_get_f32(g, key, out));
  if (!isfinite(*out) || *out <= 0)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %g must be a positive finite number", pst_gguf_path(g), key,
            (double)*out);
  return PST_OK;
}

/* An optional u32 that, when present, must equal want (what pst implements). */
static pst_err check_equal(const pst_gguf *g, const char *key, int want, const char *why) {
  if (pst_gguf_kv_find(g, key) < 0) return PST_OK;
  uint32_t v;
  PST_CHECK(pst_gguf_get_u32(g, key, &v));
  if ((int64_t)v != want)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %u, but pst supports only %d (%s)", pst_gguf_path(g), key, v,
            want, why);
  return PST_OK;
}

static int has_tensor(const pst_gguf *g, const char *name) { return pst_gguf_find_tensor(g, name) != NULL; }

pst_err pst_gguf_llama_read(const pst_gguf *g, pst_gguf_llama *out) {
  if (!g || !out) PST_ERR(PST_ERR_ARG, "pst_gguf_llama_read: NULL argument");
  const char *path = pst_gguf_path(g);
  pst_gguf_llama m;
  memset(&m, 0, sizeof m);
  const char *arch;
  PST_CHECK(pst_gguf_get_str(g, "general.architecture", &arch, NULL));
  if (strcmp(arch, "llama") && strcmp(arch, "qwen2"))
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'general.architecture' = '%s': pst reads 'llama' and 'qwen2' files",
            path, arch);
  snprintf(m.arch, sizeof m.arch, "%s", arch);
  m.permuted_qk = !strcmp(arch, "llama");
  char k[128];
#define K(s) pkey(k, sizeof k, arch, s)
  PST_CHECK(get_count(g, K("block_count"), 1024, &m.layers));
  PST_CHECK(get_count(g, K("embedding_length"), 65536, &m.hidden));
  PST_CHECK(get_count(g, K("feed_forward_length"), 1u << 20, &m.ffn));
  PST_CHECK(get_count(g, K("attention.head_count"), 1024, &m.heads));
  m.kv_heads = m.heads;
  if (pst_gguf_kv_find(g, K("attention.head_count_kv")) >= 0)
    PST_CHECK(get_count(g, K("attention.head_count_kv"), 1024, &m.kv_heads));
  PST_CHECK(get_count(g, K("context_length"), 1u << 20, &m.max_positions));
  PST_CHECK(get_pos_float(g, K("attention.layer_norm_rms_epsilon"), 1, 0, &m.ln_eps));
  PST_CHECK(get_pos_float(g, K("rope.freq_base"), 0, 10000.0f, &m.rope_theta));
  if (m.hidden % m.heads)
    PST_ERR(PST_ERR_FORMAT, "%s: %s.embedding_length = %d is not divisible by %s.attention.head_count = %d", path,
            arch, m.hidden, arch, m.heads);
  if (m.heads % m.kv_heads)
    PST_ERR(PST_ERR_FORMAT, "%s: %s.attention.head_count = %d is not divisible by %s.attention.head_count_kv = %d",
            path, arch, m.heads, arch, m.kv_heads);
  m.head_dim = m.hidden / m.heads;
  if (m.head_dim % 2)
    PST_ERR(PST_ERR_FORMAT, "%s: head dimension %d (%s.embedding_length / head_count) is odd; rotary needs pairs",
            path, m.head_dim, arch);
  PST_CHECK(check_equal(g, K("attention.key_length"), m.head_dim, "the head dimension embedding_length / head_count"));
  PST_CHECK(check_equal(g, K("attention.value_length"), m.head_dim, "the head dimension embedding_length / head_count"));
  PST_CHECK(check_equal(g, K("rope.dimension_count"), m.head_dim, "rotary over the whole head"));
  PST_CHECK(check_equal(g, K("expert_count"), 0, "dense feed-forward blocks, no experts"));

  /* rope scaling: P.rope.scaling.type none | linear (+ factor), or the older scale_linear */
  snprintf(m.rope_scaling, sizeof m.rope_scaling, "none");
  m.rope_factor = 1.0f;
  if (pst_gguf_kv_find(g, K("rope.scaling.type")) >= 0) {
    const char *st;
    PST_CHECK(pst_gguf_get_str(g, k, &st, NULL));
    if (!strcmp(st, "linear")) {
      snprintf(m.rope_scaling, sizeof m.rope_scaling, "linear");
      PST_CHECK(get_pos_float(g, K("rope.scaling.factor"), 1, 0, &m.rope_factor));
    } else if (strcmp(st, "none"))
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = '%s': pst supports rope scaling 'none' and 'linear'", path, k,
              st);
  } else if (pst_gguf_kv_find(g, K("rope.scale_linear")) >= 0) {
    PST_CHECK(get_pos_float(g, K("rope.scale_linear"), 1, 0, &m.rope_factor));
    if (m.rope_factor != 1.0f) snprintf(m.rope_scaling, sizeof m.rope_scaling, "linear");
  }
#undef K
  if (has_tensor(g, "rope_freqs.weight"))
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor 'rope_freqs.weight' (per-frequency rope factors, e.g. llama3 rope scaling) is not supported; "
            "pst reads rope scaling 'none' and 'linear' from %s.rope.scaling.type",
            path, arch);

  /* vocab: the token embedding's rows */
  const pst_gguf_tensor *emb = pst_gguf_find_tensor(g, "token_embd.weight");
  if (!emb) PST_ERR(PST_ERR_FORMAT, "%s: tensor 'token_embd.weight' not found", path);
  if (emb->ndim != 2 || emb->ne[0] != m.hidden || emb->ne[1] < 2 || emb->ne[1] > (1 << 24))
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor 'token_embd.weight' has ggml shape ne [%lld, %lld, %lld, %lld], expected [%d, vocab] with "
            "2 <= vocab <= %d",
            path, (long long)emb->ne[0], (long long)emb->ne[1], (long long)emb->ne[2], (long long)emb->ne[3],
            m.hidden, 1 << 24);
  m.vocab = (int)emb->ne[1];
  pkey(k, sizeof k, arch, "vocab_size");
  if (pst_gguf_kv_find(g, k) >= 0) {
    uint32_t v;
    PST_CHECK(pst_gguf_get_u32(g, k, &v));
    if ((int64_t)v != m.vocab)
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %u but tensor 'token_embd.weight' has %d rows", path, k, v,
              m.vocab);
  }
  m.tie_embeddings = !has_tensor(g, "output.weight");
  m.qkv_bias = has_tensor(g, "blk.0.attn_q.bias");
  m.o_bias = has_tensor(g, "blk.0.attn_output.bias");
  m.mlp_bias = has_tensor(g, "blk.0.ffn_gate.bias") || has_tensor(g, "blk.0.ffn_up.bias");
  *out = m;
  return PST_OK;
}

/* The shortest decimal that reads back as the float x ("1e-05", "100000"). */
static void fmt_float(char *buf, size_t cap, float x) {
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, cap, "%.*g", prec, (double)x);
    if (strtof(buf, NULL) == x) return;
  }
}

/* pst_config_set with a formatted "section.key=value"; errors name the GGUF file. */
static pst_err cfg_set(pst_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static pst_err cfg_set(pst_config *cfg, const char *fmt, ...) {
  char a[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a, sizeof a, fmt, ap);
  va_end(ap);
  PST_CHECK(pst_config_set(cfg, a));
  return PST_OK;
}

pst_err pst_gguf_llama_to_config(const pst_gguf_llama *m, pst_config *cfg) {
  if (!m || !cfg) PST_ERR(PST_ERR_ARG, "pst_gguf_llama_to_config: NULL argument");
  pst_config c = *cfg;
  char eps[32], theta[32], factor[32];
  fmt_float(eps, sizeof eps, m->ln_eps);
  fmt_float(theta, sizeof theta, m->rope_theta);
  fmt_float(factor, sizeof factor, m->rope_factor);
  PST_CHECK(cfg_set(&c, "model.arch=llama"));
  PST_CHECK(cfg_set(&c, "model.activation=silu"));
  PST_CHECK(cfg_set(&c, "model.position_offset=0"));
  PST_CHECK(cfg_set(&c, "model.hidden=%d", m->hidden));
  PST_CHECK(cfg_set(&c, "model.layers=%d", m->layers));
  PST_CHECK(cfg_set(&c, "model.heads=%d", m->heads));
  PST_CHECK(cfg_set(&c, "model.kv_heads=%d", m->kv_heads));
  PST_CHECK(cfg_set(&c, "model.ffn=%d", m->ffn));
  PST_CHECK(cfg_set(&c, "model.vocab=%d", m->vocab));
  PST_CHECK(cfg_set(&c, "model.max_positions=%d", m->max_positions));
  PST_CHECK(cfg_set(&c, "model.ln_eps=%s", eps));
  PST_CHECK(cfg_set(&c, "model.rope_theta=%s", theta));
  PST_CHECK(cfg_set(&c, "model.rope_scaling=%s", m->rope_scaling));
  PST_CHECK(cfg_set(&c, "model.rope_factor=%s", factor));
  PST_CHECK(cfg_set(&c, "model.tie_embeddings=%s", m->tie_embeddings ? "true" : "false"));
  PST_CHECK(cfg_set(&c, "model.qkv_bias=%s", m->qkv_bias ? "true" : "false"));
  PST_CHECK(cfg_set(&c, "model.o_bias=%s", m->o_bias ? "true" : "false"));
  PST_CHECK(cfg_set(&c, "model.mlp_bias=%s", m->mlp_bias ? "true" : "false"));
  *cfg = c;
  return PST_OK;
}

pst_err pst_gguf_read_config(const char *path, pst_config *cfg) {
  pst_gguf *g;
  PST_CHECK(pst_gguf_open(&g, path));
  pst_gguf_llama m;
  pst_err rc = pst_gguf_llama_read(g, &m);
  if (!rc) rc = pst_gguf_llama_to_config(&m, cfg);
  pst_gguf_close(g);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- names ---- */

static const char *const LIN[] = {"q", "attn_q", "k", "attn_k", "v", "attn_v", "o", "attn_output",
                                  "gate", "ffn_gate", "up", "ffn_up", "down", "ffn_down", NULL};

int pst_gguf_llama_name_of(const pst_gguf_llama *m, const char *name, char *out, int *permute_heads) {
  *permute_heads = 0;
  const int cap = PST_GGUF_MAX_NAME;
  if (!strcmp(name, "emb.tok")) return snprintf(out, cap, "token_embd.weight"), 1;
  if (!strcmp(name, "lnf.w")) return snprintf(out, cap, "output_norm.weight"), 1;
  if (!strcmp(name, "head.w")) return snprintf(out, cap, "output.weight"), 1;
  int l, n = 0;
  char part[16] = "", wb[4] = "";
  if (sscanf(name, "blk.%d.%15[^.].%3s%n", &l, part, wb, &n) != 3 || name[n] || l < 0 ||
      (strcmp(wb, "w") && strcmp(wb, "b")))
    return 0;
  const char *suffix = wb[0] == 'w' ? "weight" : "bias";
  if (!strcmp(part, "ln1") || !strcmp(part, "ln2")) {
    if (wb[0] != 'w') return 0; /* RMSNorm has no bias */
    return snprintf(out, cap, "blk.%d.%s.weight", l, part[2] == '1' ? "attn_norm" : "ffn_norm"), 1;
  }
  for (int i = 0; LIN[i]; i += 2)
    if (!strcmp(part, LIN[i])) {
      if (m->permuted_qk && (!strcmp(part, "q") || !strcmp(part, "k"))) *permute_heads = part[0] == 'q' ? m->heads : m->kv_heads;
      snprintf(out, cap, "blk.%d.%s.%s", l, LIN[i + 1], suffix);
      return 1;
    }
  return 0;
}

int pst_gguf_llama_key_used(const char *arch, const char *key) {
  static const char *const GENERAL[] = {"general.architecture", "general.alignment", "tokenizer.ggml.model",
                                        "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                        "tokenizer.ggml.scores", "tokenizer.ggml.merges",
                                        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                                        "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", NULL};
  static const char *const ARCH[] = {"block_count", "embedding_length", "feed_forward_length",
                                     "attention.head_count", "attention.head_count_kv", "context_length",
                                     "attention.layer_norm_rms_epsilon", "rope.freq_base", "rope.scaling.type",
                                     "rope.scaling.factor", "rope.scale_linear", "vocab_size",
                                     "attention.key_length", "attention.value_length", "rope.dimension_count",
                                     "expert_count", NULL};
  for (int i = 0; GENERAL[i]; i++)
    if (!strcmp(key, GENERAL[i])) return 1;
  const size_t n = strlen(arch);
  if (strncmp(key, arch, n) || key[n] != '.') return 0;
  for (int i = 0; ARCH[i]; i++)
    if (!strcmp(key + n + 1, ARCH[i])) return 1;
  return 0;
}

/* ---- loading ---- */


/* A shard must lie inside its global tensor and match it in the other dimension. */
static pst_err check_shard(const pst_tensor_info *t) {
  if (t->ndim < 1 || t->ndim > 2) PST_ERR(PST_ERR_ARG, "pst tensor '%s': %d dimensions (1 or 2 expected)", t->name, t->ndim);
  if (t->shard_dim < 0) return PST_OK;
  const int d = t->shard_dim;
  int ok = d < t->ndim && t->shard_start >= 0 && t->shard_start <= t->gshape[d] &&
           t->shape[d] <= t->gshape[d] - t->shard_start;
  for (int i = 0; ok && i < t->ndim; i++)
    if (i != d) ok = t->shape[i] == t->gshape[i];
  if (!ok)
    PST_ERR(PST_ERR_ARG, "pst tensor '%s': shard from %lld along dimension %d does not fit its global shape", t->name,
            (long long)t->shard_start, d);
  return PST_OK;
}

/* The GGUF row holding Hugging Face row r of a tensor whose rows are permuted per head of hd
 * rows (hd even): r = h*hd + j*hd/2 + i lies at h*hd + 2i + j. */
static int64_t perm_row(int64_t r, int64_t hd) {
  const int64_t h = r / hd, w = r % hd, half = hd / 2;
  return h * hd + 2 * (w % half) + w / half;
}

/* Read pst tensor t (its shard, if any) from GGUF tensor gt into *t->bind. */
static pst_err read_param(const pst_gguf *g, const pst_tensor_info *t, const pst_gguf_tensor *gt, int perm_heads) {
  const int sd = t->shard_dim;
  const int64_t s0 = sd >= 0 ? t->shard_start : 0;
  float *dst = *t->bind;
  /* rows [r0, r0 + nr) and columns [c0, c0 + nc) of the pst tensor (global indices); a 1-D pst
   * tensor is the single GGUF row, its elements the columns */
  int64_t r0 = 0, nr = 1, c0 = 0, nc;
  if (t->ndim == 2) {
    nr = sd == 0 ? t->shape[0] : t->gshape[0];
    nc = sd == 1 ? t->shape[1] : t->gshape[1];
    if (sd == 0) r0 = s0;
    if (sd == 1) c0 = s0;
  } else {
    nc = t->shape[0];
    c0 = s0;
  }
  if (!perm_heads) {
    PST_CHECK(pst_gguf_read_block_f32(g, gt, r0, nr, c0, nc, dst));
    return PST_OK;
  }
  const int64_t hd = t->gshape[0] / perm_heads; /* rows per head; gshape[0] = heads * hd checked */
  if (t->ndim == 2) {
    for (int64_t i = 0; i < nr; i++)
      PST_CHECK(pst_gguf_read_block_f32(g, gt, perm_row(r0 + i, hd), 1, c0, nc, dst + i * nc));
  } else {
    for (int64_t i = 0; i < nc; i++) PST_CHECK(pst_gguf_read_block_f32(g, gt, 0, 1, perm_row(c0 + i, hd), 1, dst + i));
  }
  return PST_OK;
}

typedef struct {
  const pst_gguf *g;
  pst_gguf_llama m;
  unsigned char *used; /* [tensor count] */
  pst_gguf_report *rep;
} gg_load;

static pst_err load_tensor(gg_load *L, const pst_tensor_info *t) {
  char src[PST_GGUF_MAX_NAME];
  int perm;
  if (!pst_gguf_llama_name_of(&L->m, t->name, src, &perm)) return PST_OK;
  PST_CHECK(check_shard(t));
  const char *path = pst_gguf_path(L->g);
  const pst_gguf_tensor *gt = pst_gguf_find_tensor(L->g, src);
  if (!gt) {
    if (!t->required) {
      pst_log(2, "pst: %s: no '%s' in the file: %s keeps its initial values\n", path, src, t->name);
      return PST_OK;
    }
    if (!strcmp(t->name, "head.w"))
      PST_ERR(PST_ERR_FORMAT,
              "%s: tensor 'output.weight' not found (needed for pst tensor 'head.w'): the file ties the head to "
              "token_embd.weight (model.tie_embeddings = true)",
              path);
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' not found (needed for pst tensor '%s')", path, src, t->name);
  }
  /* the file holds the GLOBAL tensor: ggml ne reversed must equal gshape */
  int ok = gt->ndim == t->ndim;
  for (int i = 0; ok && i < t->ndim; i++) ok = gt->ne[t->ndim - 1 - i] == t->gshape[i];
  if (perm && ok && t->gshape[0] % ((int64_t)perm * 2)) ok = 0;
  if (!ok) {
    int64_t have[PST_GGUF_MAX_DIMS];
    for (int i = 0; i < gt->ndim; i++) have[i] = gt->ne[gt->ndim - 1 - i];
    char hs[128], ws[128];
    pst_fmt_shape(hs, sizeof hs, gt->ndim, have);
    pst_fmt_shape(ws, sizeof ws, t->ndim, t->gshape);
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s%s (for pst tensor '%s')", path, src, hs, ws,
            perm ? " in whole heads of even size" : "", t->name);
  }
  PST_CHECK(read_param(L->g, t, gt, perm));
  L->used[pst_gguf_tensor_index(L->g, gt)] = 1;
  L->rep->loaded++;
  L->rep->params_loaded += (long long)t->numel;
  return PST_OK;
}

static const pst_tensor_info *tabs_find(pst_params *const *tabs, int n, const char *name) {
  for (int k = 0; k < n; k++) {
    const pst_tensor_info *t = pst_params_find(tabs[k], name);
    if (t) return t;
  }
  return NULL;
}

static pst_err load_all(gg_load *L, pst_params *const *tabs, int ntabs) {
  const char *path = pst_gguf_path(L->g);
  PST_CHECK(pst_gguf_llama_read(L->g, &L->m));
  int layers = 0;
  char nm[64];
  for (;;) {
    snprintf(nm, sizeof nm, "blk.%d.q.w", layers);
    if (!tabs_find(tabs, ntabs, nm)) break;
    layers++;
  }
  if (layers != L->m.layers)
    PST_ERR(PST_ERR_ARG, "%s: %s.block_count = %d but the model was created with %d layers", path, L->m.arch,
            L->m.layers, layers);
  const int nt = pst_gguf_tensor_count(L->g);
  L->used = calloc(nt ? (size_t)nt : 1, 1);
  if (!L->used) PST_ERR(PST_ERR_MEM, "%s: out of memory", path);
  for (int k = 0; k < ntabs; k++)
    for (int i = 0; i < tabs[k]->n; i++) PST_CHECK(load_tensor(L, &tabs[k]->t[i]));
  for (int i = 0; i < nt; i++)
    if (!L->used[i]) {
      L->rep->ignored++;
      pst_log(2, "pst: %s: ignoring tensor '%s' (not used by pst)\n", path, pst_gguf_tensor_at(L->g, i)->name);
    }
  L->rep->model = L->m;
  return PST_OK;
}

pst_err pst_gguf_load_params_from(const pst_gguf *g, pst_params *const *tabs, int ntabs, pst_gguf_report *report) {
  if (!g || ntabs < 0 || (ntabs > 0 && !tabs)) PST_ERR(PST_ERR_ARG, "pst_gguf_load_params: invalid arguments");
  pst_gguf_report local;
  gg_load L;
  memset(&L, 0, sizeof L);
  L.g = g;
  L.rep = report ? report : &local;
  memset(L.rep, 0, sizeof *L.rep);
  pst_err rc = load_all(&L, tabs, ntabs);
  free(L.used);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  pst_log(1, "pst: loaded %d tensors (%lld parameters) from %s (%s; unused file tensors: %d)\n", L.rep->loaded,
          L.rep->params_loaded, pst_gguf_path(g), L.m.arch, L.rep->ignored);
  return PST_OK;
}

pst_err pst_gguf_load_params(const char *path, pst_params *const *tabs, int ntabs, pst_gguf_report *report) {
  pst_gguf *g;
  PST_CHECK(pst_gguf_open(&g, path));
  pst_err rc = pst_gguf_load_params_from(g, tabs, ntabs, report);
  pst_gguf_close(g);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}
