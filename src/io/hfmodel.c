/* hfmodel.c — Hugging Face model directories (hfmodel.h): config.json through jansson,
 * weights through the safetensors reader, HF tensor names mapped onto pst's (model.h).
 *
 * The loader walks the model's own tables (frozen, then trainable), or any tables given to
 * pst_hf_load_params: each pst tensor that a checkpoint can provide has one HF source and a
 * transform (copy, transpose, a third of GPT-2's c_attn, or a row window of the position
 * table). The source's shape is checked against the GLOBAL shape before reading, so errors
 * name the HF tensor, its file and both shapes. A tensor-parallel shard (params.h) reads only
 * its slice of the source: never a full-size temporary. */
#include "pst/jsonkind.h"
#include "pst/hfmodel.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/params.h"
#include "pst/safetensors.h"

/* ---- config.json ----------------------------------------------------------------------- */

typedef struct {
  int gpt2, roberta, llama, qwen2; /* llama: the LLaMA family (llama, mistral, qwen2) */
  char model_type[32];
  int offset;  /* position id of the first token (RoBERTa: pad_token_id + 1) */
  int layers;
} hf_arch;

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static pst_err load_json(const char *path, json_t **out) {
  *out = NULL;
  if (!file_exists(path)) PST_ERR(PST_ERR_IO, "%s: no such file", path);
  json_error_t e;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
  if (!root) PST_ERR(PST_ERR_FORMAT, "%s: invalid JSON at line %d, column %d: %s", path, e.line, e.column, e.text);
  if (!json_is_object(root)) {
    json_decref(root);
    PST_ERR(PST_ERR_FORMAT, "%s: the top level is not a JSON object", path);
  }
  *out = root;
  return PST_OK;
}

/* Positive integer key; absent -> def (def < 0: required). */
static pst_err get_int(const json_t *root, const char *path, const char *key, int def, int *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) {
    if (def < 0) PST_ERR(PST_ERR_CONFIG, "%s: required key '%s' is missing", path, key);
    *out = def;
    return PST_OK;
  }
  if (!json_is_integer(v))
    PST_ERR(PST_ERR_CONFIG, "%s: key '%s' must be an integer, found %s", path, key, pst_json_kind(v));
  json_int_t x = json_integer_value(v);
  if (x < 1 || x > INT_MAX)
    PST_ERR(PST_ERR_CONFIG, "%s: key '%s' = %lld must be a positive integer", path, key, (long long)x);
  *out = (int)x;
  return PST_OK;
}

static pst_err get_real(const json_t *root, const char *path, const char *key, double def, double *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) { *out = def; return PST_OK; }
  if (!json_is_number(v)) PST_ERR(PST_ERR_CONFIG, "%s: key '%s' must be a number, found %s", path, key, pst_json_kind(v));
  *out = json_number_value(v);
  return PST_OK;
}

static pst_err get_str(const json_t *root, const char *path, const char *key, const char *def, const char **out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) { *out = def; return PST_OK; }
  if (!json_is_string(v)) PST_ERR(PST_ERR_CONFIG, "%s: key '%s' must be a string, found %s", path, key, pst_json_kind(v));
  *out = json_string_value(v);
  return PST_OK;
}

/* A boolean key that must have the value `want` when present (pst implements only that). */
static pst_err want_bool(const json_t *root, const char *path, const char *key, int want, const char *why) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) return PST_OK;
  if (!json_is_boolean(v))
    PST_ERR(PST_ERR_CONFIG, "%s: key '%s' must be true or false, found %s", path, key, pst_json_kind(v));
  if (json_is_true(v) != want)
    PST_ERR(PST_ERR_CONFIG, "%s: key '%s' = %s is not supported (%s)", path, key, want ? "false" : "true", why);
  return PST_OK;
}

/* Set one model.* key through the config table (its range and enum checks), naming the
 * config.json key on failure. */
static pst_err set_key(pst_config *cfg, const char *path, const char *hfkey, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static pst_err set_key(pst_config *cfg, const char *path, const char *hfkey, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (pst_config_set(cfg, buf)) {
    char msg[512];
    const char *m = pst_err_message();
    if (!strncmp(m, "command line: ", 14)) m += 14;
    snprintf(msg, sizeof msg, "%s", m);
    pst_err_clear();
    PST_ERR(PST_ERR_CONFIG, "%s: key '%s': %s", path, hfkey, msg);
  }
  return PST_OK;
}

static pst_err map_activation(const char *path, const char *key, const char *act, const char **out) {
  static const char *ERF[] = {"gelu", "gelu_python"};
  static const char *TANH[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate"};
  for (size_t i = 0; i < sizeof ERF / sizeof *ERF; i++)
    if (!strcmp(act, ERF[i])) { *out = "gelu_erf"; return PST_OK; }
  for (size_t i = 0; i < sizeof TANH / sizeof *TANH; i++)
    if (!strcmp(act, TANH[i])) { *out = "gelu_tanh"; return PST_OK; }
  PST_ERR(PST_ERR_CONFIG,
          "%s: key '%s' = '%s' is not supported (pst implements gelu and gelu_python as gelu_erf; gelu_new, "
          "gelu_pytorch_tanh, gelu_fast and gelu_accurate as gelu_tanh)",
          path, key, act);
}

/* Which family: from model_type, else from architectures[0]. */
static pst_err detect_arch(const json_t *root, const char *path, hf_arch *a) {
  const char *mt;
  PST_CHECK(get_str(root, path, "model_type", NULL, &mt));
  char guess[32] = "";
  if (!mt) {
    json_t *arr = json_object_get(root, "architectures");
    const char *a0 = json_is_array(arr) ? json_string_value(json_array_get(arr, 0)) : NULL;
    if (a0) {
      if (!strncmp(a0, "GPT2", 4)) strcpy(guess, "gpt2");
      else if (!strncmp(a0, "Llama", 5)) strcpy(guess, "llama");
      else if (!strncmp(a0, "Mistral", 7)) strcpy(guess, "mistral");
      else if (!strncmp(a0, "Qwen2", 5)) strcpy(guess, "qwen2");
      else if (!strncmp(a0, "XLMRoberta", 10)) strcpy(guess, "xlm-roberta");
      else if (!strncmp(a0, "Camembert", 9)) strcpy(guess, "camembert");
      else if (!strncmp(a0, "Roberta", 7)) strcpy(guess, "roberta");
      else if (!strncmp(a0, "Bert", 4)) strcpy(guess, "bert");
    }
    if (!guess[0])
      PST_ERR(PST_ERR_CONFIG, "%s: required key 'model_type' is missing (and 'architectures' names no BERT, "
              "RoBERTa, GPT-2, Llama, Mistral or Qwen2 class)", path);
    mt = guess;
  }
  memset(a, 0, sizeof *a);
  if (!strcmp(mt, "bert")) {
  } else if (!strcmp(mt, "roberta") || !strcmp(mt, "xlm-roberta") || !strcmp(mt, "camembert")) {
    a->roberta = 1;
  } else if (!strcmp(mt, "gpt2")) {
    a->gpt2 = 1;
  } else if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2")) {
    a->llama = 1;
    a->qwen2 = !strcmp(mt, "qwen2");
  } else {
    PST_ERR(PST_ERR_CONFIG,
            "%s: model_type '%s' is not supported (supported: bert, roberta, xlm-roberta, camembert, gpt2, llama, "
            "mistral, qwen2)", path, mt);
  }
  snprintf(a->model_type, sizeof a->model_type, "%s", mt);
  return PST_OK;
}

/* A boolean key (absent or null: def). */
static pst_err get_bool(const json_t *root, const char *path, const char *key, int def, int *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) { *out = def; return PST_OK; }
  if (!json_is_boolean(v))
    PST_ERR(PST_ERR_CONFIG, "%s: key '%s' must be true or false, found %s", path, key, pst_json_kind(v));
  *out = json_is_true(v);
  return PST_OK;
}

/* rope_scaling of a LLaMA-family config.json: null, {"rope_type" (or the older "type"):
 * "default" | "linear" | "llama3", "factor", llama3's low/high_freq_factor and
 * original_max_position_embeddings}; other kinds (dynamic, yarn, longrope) are errors. */
static pst_err parse_rope_scaling(const json_t *root, const char *path, pst_config *cfg) {
  json_t *rs = json_object_get(root, "rope_scaling");
  if (!rs || json_is_null(rs)) return PST_OK;
  if (!json_is_object(rs))
    PST_ERR(PST_ERR_CONFIG, "%s: key 'rope_scaling' must be an object or null, found %s", path, pst_json_kind(rs));
  const char *type;
  PST_CHECK(get_str(rs, path, "rope_type", NULL, &type));
  if (!type) PST_CHECK(get_str(rs, path, "type", "default", &type));
  if (!strcmp(type, "default")) return PST_OK;
  if (strcmp(type, "linear") && strcmp(type, "llama3"))
    PST_ERR(PST_ERR_CONFIG, "%s: key 'rope_scaling.rope_type' = '%s' is not supported (pst implements default, "
            "linear and llama3)", path, type);
  double factor, lo, hi;
  int orig;
  PST_CHECK(get_real(rs, path, "factor", -1, &factor));
  if (!(factor > 0)) PST_ERR(PST_ERR_CONFIG, "%s: key 'rope_scaling.factor' must be a positive number", path);
  PST_CHECK(set_key(cfg, path, "rope_scaling.rope_type", "model.rope_scaling=%s", type));
  PST_CHECK(set_key(cfg, path, "rope_scaling.factor", "model.rope_factor=%.17g", factor));
  if (!strcmp(type, "llama3")) {
    PST_CHECK(get_real(rs, path, "low_freq_factor", 1, &lo));
    PST_CHECK(get_real(rs, path, "high_freq_factor", 4, &hi));
    PST_CHECK(get_int(rs, path, "original_max_position_embeddings", 8192, &orig));
    PST_CHECK(set_key(cfg, path, "rope_scaling.low_freq_factor", "model.rope_low_freq_factor=%.17g", lo));
    PST_CHECK(set_key(cfg, path, "rope_scaling.high_freq_factor", "model.rope_high_freq_factor=%.17g", hi));
    PST_CHECK(set_key(cfg, path, "rope_scaling.original_max_position_embeddings",
                      "model.rope_original_max_positions=%d", orig));
  }
  return PST_OK;
}

/* The LLaMA family's config.json (LlamaConfig, MistralConfig, Qwen2Config) into cfg. */
static pst_err parse_llama_config(const json_t *root, const char *path, pst_config *cfg, hf_arch *a) {
  int hidden, layers, heads, kv, ffn, vocab, maxpos, head_dim, tie, attn_bias, mlp_bias, window = 0, use_window;
  double eps, theta;
  const char *act;
  PST_CHECK(get_int(root, path, "hidden_size", -1, &hidden));
  PST_CHECK(get_int(root, path, "num_hidden_layers", -1, &layers));
  PST_CHECK(get_int(root, path, "num_attention_heads", -1, &heads));
  PST_CHECK(get_int(root, path, "num_key_value_heads", heads, &kv));
  PST_CHECK(get_int(root, path, "intermediate_size", -1, &ffn));
  PST_CHECK(get_int(root, path, "vocab_size", -1, &vocab));
  PST_CHECK(get_int(root, path, "max_position_embeddings", -1, &maxpos));
  PST_CHECK(get_real(root, path, "rms_norm_eps", 1e-6, &eps));
  PST_CHECK(get_real(root, path, "rope_theta", 10000, &theta));
  PST_CHECK(get_str(root, path, "hidden_act", "silu", &act));
  PST_CHECK(get_bool(root, path, "tie_word_embeddings", 0, &tie));
  PST_CHECK(get_bool(root, path, "attention_bias", 0, &attn_bias));
  PST_CHECK(get_bool(root, path, "mlp_bias", 0, &mlp_bias));
  if (strcmp(act, "silu"))
    PST_ERR(PST_ERR_CONFIG, "%s: key 'hidden_act' = '%s' is not supported (the LLaMA family's MLP is SwiGLU: silu)",
            path, act);
  if (hidden % heads) PST_ERR(PST_ERR_CONFIG, "%s: 'hidden_size' = %d is not divisible by 'num_attention_heads' = %d",
                              path, hidden, heads);
  if (heads % kv)
    PST_ERR(PST_ERR_CONFIG, "%s: 'num_attention_heads' = %d is not divisible by 'num_key_value_heads' = %d", path,
            heads, kv);
  PST_CHECK(get_int(root, path, "head_dim", hidden / heads, &head_dim));
  if (head_dim != hidden / heads)
    PST_ERR(PST_ERR_CONFIG, "%s: key 'head_dim' = %d differs from hidden_size / num_attention_heads = %d (not "
            "supported)", path, head_dim, hidden / heads);
  if (!(eps > 0 && eps <= 1)) PST_ERR(PST_ERR_CONFIG, "%s: key 'rms_norm_eps' = %g must be in (0, 1]", path, eps);
  /* Mistral v0.1 and Qwen2 with use_sliding_window attend to the last sliding_window keys only:
   * pst's attention is full, so sequences are limited to the window (equal results) */
  PST_CHECK(get_bool(root, path, "use_sliding_window", !a->qwen2, &use_window));
  if (use_window) PST_CHECK(get_int(root, path, "sliding_window", 0, &window));
  if (window > 0 && window < maxpos) {
    pst_log(1, "pst: %s: sliding_window = %d: sequences are limited to %d tokens (pst attends to all keys)\n", path,
            window, window);
    maxpos = window;
  }
  PST_CHECK(set_key(cfg, path, "model_type", "model.arch=llama"));
  PST_CHECK(set_key(cfg, path, "hidden_size", "model.hidden=%d", hidden));
  PST_CHECK(set_key(cfg, path, "num_hidden_layers", "model.layers=%d", layers));
  PST_CHECK(set_key(cfg, path, "num_attention_heads", "model.heads=%d", heads));
  PST_CHECK(set_key(cfg, path, "num_key_value_heads", "model.kv_heads=%d", kv));
  PST_CHECK(set_key(cfg, path, "intermediate_size", "model.ffn=%d", ffn));
  PST_CHECK(set_key(cfg, path, "vocab_size", "model.vocab=%d", vocab));
  PST_CHECK(set_key(cfg, path, "max_position_embeddings", "model.max_positions=%d", maxpos));
  PST_CHECK(set_key(cfg, path, "max_position_embeddings", "model.position_offset=0"));
  PST_CHECK(set_key(cfg, path, "rms_norm_eps", "model.ln_eps=%.17g", eps));
  PST_CHECK(set_key(cfg, path, "hidden_act", "model.activation=silu"));
  PST_CHECK(set_key(cfg, path, "rope_theta", "model.rope_theta=%.17g", theta));
  PST_CHECK(set_key(cfg, path, "rope_scaling", "model.rope_scaling=none"));
  PST_CHECK(set_key(cfg, path, "rope_scaling", "model.rope_factor=1"));
  PST_CHECK(parse_rope_scaling(root, path, cfg));
  /* Qwen2: q, k, v always have biases, o never; Llama: attention_bias for all four */
  PST_CHECK(set_key(cfg, path, "attention_bias", "model.qkv_bias=%s", a->qwen2 || attn_bias ? "true" : "false"));
  PST_CHECK(set_key(cfg, path, "attention_bias", "model.o_bias=%s", !a->qwen2 && attn_bias ? "true" : "false"));
  PST_CHECK(set_key(cfg, path, "mlp_bias", "model.mlp_bias=%s", mlp_bias ? "true" : "false"));
  PST_CHECK(set_key(cfg, path, "tie_word_embeddings", "model.tie_embeddings=%s", tie ? "true" : "false"));
  a->offset = 0;
  a->layers = layers;
  return PST_OK;
}

/* Parse DIR/config.json into cfg's model keys and a. */
static pst_err parse_config(const char *dir, pst_config *cfg, hf_arch *a) {
  char path[PST_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *root;
  PST_CHECK(load_json(path, &root));
  pst_err rc = PST_OK;
#define TRY(call) do { rc = (call); if (rc) { pst_err_trace(__FILE__, __LINE__, __func__); goto done; } } while (0)
#define FAIL(...)                                                           \
  do {                                                                      \
    rc = PST_ERR_CONFIG;                                                    \
    pst_err_set(rc, __FILE__, __LINE__, __func__, __VA_ARGS__);             \
    goto done;                                                              \
  } while (0)
  TRY(detect_arch(root, path, a));
  if (a->llama) {
    TRY(parse_llama_config(root, path, cfg, a));
    goto done;
  }
  int hidden, layers, heads, ffn, vocab, maxpos, tv = 1;
  double eps;
  const char *act, *mapped;
  if (a->gpt2) {
    TRY(get_int(root, path, "n_embd", -1, &hidden));
    TRY(get_int(root, path, "n_layer", -1, &layers));
    TRY(get_int(root, path, "n_head", -1, &heads));
    TRY(get_int(root, path, "vocab_size", -1, &vocab));
    if (json_object_get(root, "n_positions")) TRY(get_int(root, path, "n_positions", -1, &maxpos));
    else if (json_object_get(root, "n_ctx")) TRY(get_int(root, path, "n_ctx", -1, &maxpos));
    else TRY(get_int(root, path, "n_positions", -1, &maxpos)); /* the missing-key error */
    TRY(get_int(root, path, "n_inner", 0, &ffn)); /* null or absent = 4 n_embd */
    if (ffn == 0) {
      if (hidden > INT_MAX / 4) FAIL("%s: key 'n_embd' = %d is too large", path, hidden);
      ffn = 4 * hidden;
    }
    TRY(get_real(root, path, "layer_norm_epsilon", 1e-5, &eps));
    TRY(get_str(root, path, "activation_function", "gelu_new", &act));
    TRY(map_activation(path, "activation_function", act, &mapped));
    TRY(want_bool(root, path, "scale_attn_weights", 1, "pst scales attention scores by 1/sqrt(head dim)"));
    TRY(want_bool(root, path, "scale_attn_by_inverse_layer_idx", 0, "pst does not scale by the layer index"));
    TRY(want_bool(root, path, "add_cross_attention", 0, "pst has no cross-attention"));
    TRY(want_bool(root, path, "tie_word_embeddings", 1, "pst's GPT-2 LM head is the token embedding"));
    a->offset = 0;
  } else {
    TRY(get_int(root, path, "hidden_size", -1, &hidden));
    TRY(get_int(root, path, "num_hidden_layers", -1, &layers));
    TRY(get_int(root, path, "num_attention_heads", -1, &heads));
    TRY(get_int(root, path, "intermediate_size", -1, &ffn));
    TRY(get_int(root, path, "vocab_size", -1, &vocab));
    TRY(get_int(root, path, "max_position_embeddings", -1, &maxpos));
    TRY(get_int(root, path, "type_vocab_size", 2, &tv));
    TRY(get_real(root, path, "layer_norm_eps", 1e-12, &eps));
    TRY(get_str(root, path, "hidden_act", "gelu", &act));
    TRY(map_activation(path, "hidden_act", act, &mapped));
    const char *pet;
    TRY(get_str(root, path, "position_embedding_type", "absolute", &pet));
    if (strcmp(pet, "absolute"))
      FAIL("%s: key 'position_embedding_type' = '%s' is not supported (pst implements 'absolute')", path, pet);
    TRY(want_bool(root, path, "is_decoder", 0, "pst's BERT attention is bidirectional"));
    TRY(want_bool(root, path, "add_cross_attention", 0, "pst has no cross-attention"));
    a->offset = 0;
    if (a->roberta) {
      json_t *pad = json_object_get(root, "pad_token_id");
      int pad_id = 1; /* RobertaConfig's default */
      if (pad && !json_is_null(pad)) {
        if (!json_is_integer(pad) || json_integer_value(pad) < 0 || json_integer_value(pad) > INT_MAX / 2)
          FAIL("%s: key 'pad_token_id' must be a non-negative integer", path);
        pad_id = (int)json_integer_value(pad);
      }
      a->offset = pad_id + 1;
      if (maxpos <= a->offset)
        FAIL("%s: key 'max_position_embeddings' = %d leaves no positions after the RoBERTa offset %d "
             "(pad_token_id + 1)", path, maxpos, a->offset);
    }
  }
  const char *k_h = a->gpt2 ? "n_embd" : "hidden_size", *k_l = a->gpt2 ? "n_layer" : "num_hidden_layers";
  const char *k_n = a->gpt2 ? "n_head" : "num_attention_heads", *k_f = a->gpt2 ? "n_inner" : "intermediate_size";
  const char *k_p = a->gpt2 ? "n_positions" : "max_position_embeddings";
  const char *k_e = a->gpt2 ? "layer_norm_epsilon" : "layer_norm_eps";
  if (!(eps > 0 && eps <= 1)) FAIL("%s: key '%s' = %g must be in (0, 1]", path, k_e, eps);
  if (hidden % heads) FAIL("%s: '%s' = %d is not divisible by '%s' = %d", path, k_h, hidden, k_n, heads);
  TRY(set_key(cfg, path, "model_type", "model.arch=%s", a->gpt2 ? "gpt2" : "bert"));
  TRY(set_key(cfg, path, k_h, "model.hidden=%d", hidden));
  TRY(set_key(cfg, path, k_l, "model.layers=%d", layers));
  TRY(set_key(cfg, path, k_n, "model.heads=%d", heads));
  TRY(set_key(cfg, path, k_f, "model.ffn=%d", ffn));
  TRY(set_key(cfg, path, "vocab_size", "model.vocab=%d", vocab));
  TRY(set_key(cfg, path, k_p, "model.max_positions=%d", maxpos));
  TRY(set_key(cfg, path, a->roberta ? "pad_token_id" : k_p, "model.position_offset=%d", a->offset));
  if (!a->gpt2) TRY(set_key(cfg, path, "type_vocab_size", "model.type_vocab=%d", tv));
  TRY(set_key(cfg, path, k_e, "model.ln_eps=%.17g", eps));
  TRY(set_key(cfg, path, a->gpt2 ? "activation_function" : "hidden_act", "model.activation=%s", mapped));
  a->layers = layers;
#undef TRY
#undef FAIL
done:
  json_decref(root);
  return rc;
}

pst_err pst_hf_read_config(const char *dir, pst_config *cfg, int *position_offset) {
  pst_config *tmp = malloc(sizeof *tmp);
  if (!tmp) PST_ERR(PST_ERR_MEM, "out of memory reading %s/config.json", dir);
  *tmp = *cfg;
  hf_arch a;
  pst_err rc = parse_config(dir, tmp, &a);
  if (!rc) {
    *cfg = *tmp;
    if (position_offset) *position_offset = a.offset;
  }
  free(tmp);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_hf_read_num_labels(const char *dir, int *num_labels) {
  char path[PST_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *root;
  PST_CHECK(load_json(path, &root));
  *num_labels = 0;
  json_t *v = json_object_get(root, "id2label");
  pst_err rc = PST_OK;
  if (json_is_object(v) && json_object_size(v) > 0) {
    *num_labels = (int)json_object_size(v);
  } else if (json_object_get(root, "num_labels")) {
    rc = get_int(root, path, "num_labels", -1, num_labels);
  }
  json_decref(root);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- the checkpoint: one file or shards ------------------------------------------------ */

typedef struct {
  pst_safetensors *st;
  char name[256];          /* relative to the directory */
  unsigned char *used;     /* [count] */
} hf_file;

typedef struct {
  hf_file *files;
  int nfiles;
  json_t *index;           /* the index root (NULL for a single file) */
  json_t *weight_map;      /* borrowed from index */
  char where[PST_PATH_MAX + 64]; /* file named in "not found" errors */
} hf_ckpt;

static void ckpt_close(hf_ckpt *ck) {
  for (int i = 0; i < ck->nfiles; i++) {
    pst_st_close(ck->files[i].st);
    free(ck->files[i].used);
  }
  free(ck->files);
  if (ck->index) json_decref(ck->index);
  memset(ck, 0, sizeof *ck);
}

static pst_err ckpt_add(hf_ckpt *ck, const char *dir, const char *name) {
  for (int i = 0; i < ck->nfiles; i++)
    if (!strcmp(ck->files[i].name, name)) return PST_OK;
  if (strlen(name) >= sizeof ck->files[0].name) PST_ERR(PST_ERR_FORMAT, "%s: shard name too long: %s", ck->where, name);
  hf_file *nf = realloc(ck->files, (size_t)(ck->nfiles + 1) * sizeof *nf);
  if (!nf) PST_ERR(PST_ERR_MEM, "out of memory opening %s", name);
  ck->files = nf;
  hf_file *f = &ck->files[ck->nfiles];
  memset(f, 0, sizeof *f);
  snprintf(f->name, sizeof f->name, "%s", name);
  char path[PST_PATH_MAX + 300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  PST_CHECK(pst_st_open(&f->st, path));
  ck->nfiles++; /* owned from here on */
  int n = pst_st_count(f->st);
  f->used = calloc((size_t)(n > 0 ? n : 1), 1);
  if (!f->used) PST_ERR(PST_ERR_MEM, "out of memory opening %s", path);
  return PST_OK;
}

static pst_err ckpt_open(hf_ckpt *ck, const char *dir) {
  memset(ck, 0, sizeof *ck);
  char single[PST_PATH_MAX + 32], index[PST_PATH_MAX + 48];
  snprintf(single, sizeof single, "%s/model.safetensors", dir);
  snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
  if (file_exists(single)) {
    snprintf(ck->where, sizeof ck->where, "%s", single);
    PST_CHECK(ckpt_add(ck, dir, "model.safetensors"));
    return PST_OK;
  }
  if (!file_exists(index)) {
    char bin[PST_PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
    PST_ERR(PST_ERR_IO, "%s: neither model.safetensors nor model.safetensors.index.json found%s", dir,
            file_exists(bin) ? " (pytorch_model.bin is not read: convert it to safetensors)" : "");
  }
  snprintf(ck->where, sizeof ck->where, "%s", index);
  PST_CHECK(load_json(index, &ck->index));
  ck->weight_map = json_object_get(ck->index, "weight_map");
  if (!ck->weight_map) PST_ERR(PST_ERR_FORMAT, "%s: required key 'weight_map' is missing", index);
  if (!json_is_object(ck->weight_map))
    PST_ERR(PST_ERR_FORMAT, "%s: key 'weight_map' must be an object, found %s", index, pst_json_kind(ck->weight_map));
  if (json_object_size(ck->weight_map) == 0) PST_ERR(PST_ERR_FORMAT, "%s: 'weight_map' is empty", index);
  const char *key;
  json_t *v;
  json_object_foreach(ck->weight_map, key, v) {
    const char *s = json_string_value(v);
    if (!s) PST_ERR(PST_ERR_FORMAT, "%s: weight_map['%s'] must be a file name, found %s", index, key, pst_json_kind(v));
    if (!s[0] || s[0] == '/' || strstr(s, ".."))
      PST_ERR(PST_ERR_FORMAT, "%s: weight_map['%s'] = '%s' is not a file name inside the directory", index, key, s);
    PST_CHECK(ckpt_add(ck, dir, s));
  }
  return PST_OK;
}

/* *found = 1 and (*f, *t) set, or *found = 0; an index entry whose shard lacks the tensor
 * is an error. */
static pst_err ckpt_find(hf_ckpt *ck, const char *name, int *found, hf_file **f, const pst_st_tensor **t) {
  *found = 0;
  hf_file *file = NULL;
  if (ck->weight_map) {
    const char *s = json_string_value(json_object_get(ck->weight_map, name));
    if (!s) return PST_OK;
    for (int i = 0; i < ck->nfiles; i++)
      if (!strcmp(ck->files[i].name, s)) file = &ck->files[i];
    if (!file) PST_ERR(PST_ERR_INTERNAL, "shard %s of %s was not opened", s, ck->where);
  } else {
    file = &ck->files[0];
  }
  const pst_st_tensor *tt = pst_st_find(file->st, name);
  if (!tt) {
    if (ck->weight_map)
      PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' is listed in %s but not stored there", pst_st_path(file->st), name,
              ck->where);
    return PST_OK;
  }
  *found = 1;
  *f = file;
  *t = tt;
  return PST_OK;
}

/* Mark t as used: pst_st_at lists the tensors sorted by name, so its index is found by
 * binary search. */
static void ckpt_mark(hf_file *f, const pst_st_tensor *t) {
  int lo = 0, hi = pst_st_count(f->st) - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2, c = strcmp(pst_st_at(f->st, mid)->name, t->name);
    if (!c) { f->used[mid] = 1; return; }
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
}

/* ---- name mapping ---------------------------------------------------------------------- */

/* the transforms of hfmodel.h (pst_hf_xform), short names for this file */
#define X_COPY PST_HF_COPY
#define X_T PST_HF_TRANSPOSE
#define X_QKV_W PST_HF_QKV_WEIGHT
#define X_QKV_B PST_HF_QKV_BIAS
#define X_ROWS PST_HF_ROWS
typedef pst_hf_xform xform;

typedef struct {
  char hf[192], alt[192]; /* source name; alternative spelling ("" if none) */
  xform x;
  int part;               /* X_QKV_*: 0 q, 1 k, 2 v */
} hf_src;

static const char *const BERT_LIN[] = {"q", "attention.self.query", "k", "attention.self.key", "v",
                                       "attention.self.value", "o", "attention.output.dense", "fc1",
                                       "intermediate.dense", "fc2", "output.dense", NULL};

/* Source of pst tensor `name`; 0 if the checkpoint does not provide it (PST trainables). */
static int map_name(const hf_arch *a, const char *P, const char *name, hf_src *s) {
  memset(s, 0, sizeof *s);
  s->x = X_COPY;
  int l, n = 0;
  char part[16] = "", wb[4] = "";
  const int blk = sscanf(name, "blk.%d.%15[^.].%3s%n", &l, part, wb, &n) == 3 && name[n] == 0 &&
                  (!strcmp(wb, "w") || !strcmp(wb, "b"));
  const int is_w = !strcmp(wb, "w");
#define SET(...) snprintf(s->hf, sizeof s->hf, __VA_ARGS__)
#define ALT(...) snprintf(s->alt, sizeof s->alt, __VA_ARGS__)
  if (a->llama) { /* every tensor as is: nn.Linear [out, in] like pst */
    static const char *const LL[] = {"q", "self_attn.q_proj", "k", "self_attn.k_proj", "v", "self_attn.v_proj",
                                     "o", "self_attn.o_proj", "gate", "mlp.gate_proj", "up", "mlp.up_proj",
                                     "down", "mlp.down_proj", NULL};
    if (!strcmp(name, "emb.tok")) SET("%sembed_tokens.weight", P);
    else if (!strcmp(name, "lnf.w")) SET("%snorm.weight", P);
    else if (!strcmp(name, "head.w")) SET("lm_head.weight");
    else if (!blk) return 0;
    else if (!strcmp(part, "ln1") && is_w) SET("%slayers.%d.input_layernorm.weight", P, l);
    else if (!strcmp(part, "ln2") && is_w) SET("%slayers.%d.post_attention_layernorm.weight", P, l);
    else {
      const char *hfl = NULL;
      for (int i = 0; LL[i]; i += 2)
        if (!strcmp(part, LL[i])) hfl = LL[i + 1];
      if (!hfl) return 0;
      SET("%slayers.%d.%s.%s", P, l, hfl, is_w ? "weight" : "bias");
    }
    return 1;
  }
  if (a->gpt2) {
    if (!strcmp(name, "emb.tok")) SET("%swte.weight", P);
    else if (!strcmp(name, "emb.pos")) { SET("%swpe.weight", P); s->x = X_ROWS; }
    else if (!strcmp(name, "lnf.w")) SET("%sln_f.weight", P);
    else if (!strcmp(name, "lnf.b")) SET("%sln_f.bias", P);
    else if (!blk) return 0;
    else if (!strcmp(part, "ln1") || !strcmp(part, "ln2"))
      SET("%sh.%d.ln_%c.%s", P, l, part[2], is_w ? "weight" : "bias");
    else if (!strcmp(part, "q") || !strcmp(part, "k") || !strcmp(part, "v")) {
      SET("%sh.%d.attn.c_attn.%s", P, l, is_w ? "weight" : "bias");
      s->x = is_w ? X_QKV_W : X_QKV_B;
      s->part = part[0] == 'q' ? 0 : part[0] == 'k' ? 1 : 2;
    } else if (!strcmp(part, "o")) SET("%sh.%d.attn.c_proj.%s", P, l, is_w ? "weight" : "bias");
    else if (!strcmp(part, "fc1")) SET("%sh.%d.mlp.c_fc.%s", P, l, is_w ? "weight" : "bias");
    else if (!strcmp(part, "fc2")) SET("%sh.%d.mlp.c_proj.%s", P, l, is_w ? "weight" : "bias");
    else return 0;
    /* Conv1D stores [in, out]: c_proj and the MLP weights are transposed */
    if (blk && is_w && (!strcmp(part, "o") || !strcmp(part, "fc1") || !strcmp(part, "fc2"))) s->x = X_T;
    return 1;
  }
  if (!strcmp(name, "emb.tok")) SET("%sembeddings.word_embeddings.weight", P);
  else if (!strcmp(name, "emb.pos")) { SET("%sembeddings.position_embeddings.weight", P); s->x = X_ROWS; }
  else if (!strcmp(name, "emb.type")) SET("%sembeddings.token_type_embeddings.weight", P);
  else if (!strcmp(name, "emb.ln.w") || !strcmp(name, "emb.ln.b")) {
    const int w = name[7] == 'w'; /* old TF-converted checkpoints say gamma / beta */
    SET("%sembeddings.LayerNorm.%s", P, w ? "weight" : "bias");
    ALT("%sembeddings.LayerNorm.%s", P, w ? "gamma" : "beta");
  } else if (!strcmp(name, "pool.w") || !strcmp(name, "pool.b")) {
    const char *wbn = name[5] == 'w' ? "weight" : "bias";
    if (a->roberta) { SET("classifier.dense.%s", wbn); ALT("%spooler.dense.%s", P, wbn); }
    else SET("%spooler.dense.%s", P, wbn);
  } else if (!strcmp(name, "cls.w") || !strcmp(name, "cls.b")) {
    const char *wbn = name[4] == 'w' ? "weight" : "bias";
    if (a->roberta) SET("classifier.out_proj.%s", wbn);
    else SET("classifier.%s", wbn);
  } else if (!blk) return 0;
  else if (!strcmp(part, "ln1") || !strcmp(part, "ln2")) {
    const char *where = part[2] == '1' ? "attention.output" : "output";
    SET("%sencoder.layer.%d.%s.LayerNorm.%s", P, l, where, is_w ? "weight" : "bias");
    ALT("%sencoder.layer.%d.%s.LayerNorm.%s", P, l, where, is_w ? "gamma" : "beta");
  } else {
    const char *hfl = NULL;
    for (int i = 0; BERT_LIN[i]; i += 2)
      if (!strcmp(part, BERT_LIN[i])) hfl = BERT_LIN[i + 1];
    if (!hfl) return 0;
    SET("%sencoder.layer.%d.%s.%s", P, l, hfl, is_w ? "weight" : "bias");
  }
#undef SET
#undef ALT
  return 1;
}

int pst_hf_name_of(pst_hf_family family, const char *prefix, const char *name, pst_hf_name *out) {
  hf_arch a;
  memset(&a, 0, sizeof a);
  a.gpt2 = family == PST_HF_GPT2;
  a.roberta = family == PST_HF_ROBERTA;
  a.llama = family == PST_HF_LLAMA;
  hf_src src;
  if (!map_name(&a, prefix, name, &src)) return 0;
  snprintf(out->name, sizeof out->name, "%s", src.hf);
  out->x = src.x;
  out->part = src.part;
  return 1;
}


typedef struct {
  const char *dir;
  hf_arch a;
  char prefix[32];
  hf_ckpt ck;
  pst_hf_report *rep;
} hf_load;

/* Where t's values lie in the HF source tensor, given its transform x (local [m, n] of a
 * global [gm, gn]; t sliced along sd (-1: whole) from s0):
 *   X_COPY   file [gm, gn]            read along sd, [s0, s0 + local extent)
 *   X_T      file [gn, gm] = global^T  read along 1 - sd into [n, m], transposed
 *   X_QKV_W  file [gn, 3 gm] (Conv1D)  columns part gm + [s0, s0 + m) into [n, m], transposed
 *   X_QKV_B  file [3 gm]               elements part gm + [s0, s0 + m)
 *   X_ROWS   file [>= gm, gn]          rows [s0, s0 + m) (the first gm rows of the table)
 * Every read is one slice along one file dimension (*fdim, from *fstart, *fcount); t sharded
 * along the other dimension of a QKV weight or a position table is not supported. */
static pst_err source_slice(const pst_tensor_info *t, const hf_src *s, const pst_st_tensor *ht, int *fdim,
                            int64_t *fstart, int64_t *fcount, int *transpose) {
  const int sd = t->shard_dim;
  const int64_t s0 = sd >= 0 ? t->shard_start : 0, m = t->shape[0], gm = t->gshape[0];
  *transpose = s->x == X_T || s->x == X_QKV_W;
  switch (s->x) {
    case X_COPY:
    case X_T:
      *fdim = sd < 0 ? 0 : s->x == X_T ? 1 - sd : sd;
      *fstart = s0;
      *fcount = sd < 0 ? ht->shape[0] : t->shape[sd];
      return PST_OK;
    case X_QKV_W:
    case X_QKV_B:
    case X_ROWS:
      if (sd > 0)
        PST_ERR(PST_ERR_ARG, "pst tensor '%s' is sharded along dimension %d, which loading from '%s' does not support",
                t->name, sd, ht->name);
      *fdim = s->x == X_QKV_W ? 1 : 0;
      *fstart = (s->x == X_ROWS ? 0 : s->part * gm) + s0;
      *fcount = m;
      return PST_OK;
  }
  PST_ERR(PST_ERR_INTERNAL, "bad transform for %s", t->name);
}

/* A shard must lie inside its global tensor and match it in the other dimension. */
static pst_err check_shard(const pst_tensor_info *t) {
  if (t->shard_dim < 0) return PST_OK;
  const int d = t->shard_dim;
  int ok = d < t->ndim && t->shard_start >= 0 && t->shard_start <= t->gshape[d] &&
           t->shape[d] <= t->gshape[d] - t->shard_start;
  for (int i = 0; ok && i < t->ndim; i++)
    if (i != d) ok = t->shape[i] == t->gshape[i];
  if (!ok)
    PST_ERR(PST_ERR_ARG, "pst tensor '%s': shard [%lld, %lld] from %lld along dimension %d does not fit global shape "
            "[%lld, %lld]", t->name, (long long)t->shape[0], (long long)t->shape[1], (long long)t->shard_start, d,
            (long long)t->gshape[0], (long long)t->gshape[1]);
  return PST_OK;
}

/* Write pst tensor t from the checkpoint: all of it, or only its shard (t->shard_dim >= 0)
 * without ever holding the global tensor in memory. */
static pst_err load_tensor(hf_load *L, const pst_tensor_info *t) {
  hf_src s;
  if (!map_name(&L->a, L->prefix, t->name, &s)) return PST_OK;
  PST_CHECK(check_shard(t));
  hf_file *f = NULL;
  const pst_st_tensor *ht = NULL;
  int found;
  PST_CHECK(ckpt_find(&L->ck, s.hf, &found, &f, &ht));
  if (!found && s.alt[0]) PST_CHECK(ckpt_find(&L->ck, s.alt, &found, &f, &ht));
  if (!found) {
    if (t->required)
      PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' not found (needed for pst tensor '%s')", L->ck.where, s.hf, t->name);
    pst_log(2, "pst: %s: no '%s' in the checkpoint: %s keeps its initial values\n", L->dir, s.hf, t->name);
    return PST_OK;
  }
  const char *hfname = ht->name;
  /* the file holds the GLOBAL tensor [m, n] (its shard, if any, is taken below) */
  const int64_t m = t->gshape[0], n = t->ndim == 2 ? t->gshape[1] : 1;
  int64_t want[2] = {0, 0};
  int wnd = t->ndim, ok;
  switch (s.x) {
    case X_COPY: want[0] = m; want[1] = n; break;
    case X_T: want[0] = n; want[1] = m; break;
    case X_QKV_W: want[0] = n; want[1] = 3 * m; break;
    case X_QKV_B: want[0] = 3 * m; break;
    case X_ROWS: want[0] = m; want[1] = n; break;
  }
  ok = ht->ndim == wnd && ht->shape[0] == want[0] && (wnd == 1 || ht->shape[1] == want[1]);
  if (s.x == X_ROWS) ok = ht->ndim == 2 && ht->shape[0] >= want[0] && ht->shape[1] == want[1];
  if (!ok) {
    char have[128], exp[128];
    pst_fmt_shape(have, sizeof have, ht->ndim, ht->shape);
    pst_fmt_shape(exp, sizeof exp, wnd, want);
    if (!t->required && !strncmp(t->name, "cls.", 4) && ht->ndim == wnd && (wnd == 1 || ht->shape[1] == want[1])) {
      /* a classifier for another label count: a fresh head, as for a new task */
      pst_log(1, "pst: %s: '%s' has shape %s but the model has %lld labels: %s keeps its initial values\n",
              pst_st_path(f->st), hfname, have, (long long)m, t->name);
      ckpt_mark(f, ht);
      return PST_OK;
    }
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s%s (for pst tensor '%s')", pst_st_path(f->st),
            hfname, have, s.x == X_ROWS ? "at least " : "", exp, t->name);
  }
  int fdim, tr;
  int64_t fstart, fcount;
  PST_CHECK(source_slice(t, &s, ht, &fdim, &fstart, &fcount, &tr));
  float *dst = *t->bind;
  if (!tr) { /* the slice is dst itself, row-major */
    PST_CHECK(pst_st_read_f32_slice(f->st, hfname, dst, ht->ndim, ht->shape, fdim, fstart, fcount));
  } else { /* the slice is dst^T: read into a temporary of the LOCAL size [lc, lr], transpose */
    const int64_t lr = t->shape[0], lc = t->shape[1];
    float *tmp;
    PST_CHECK(pst_calloc((void **)&tmp, t->numel, sizeof(float), hfname));
    pst_err rc = pst_st_read_f32_slice(f->st, hfname, tmp, ht->ndim, ht->shape, fdim, fstart, fcount);
    if (rc) {
      pst_free(tmp);
      PST_CHECK(rc);
    }
    for (int64_t i = 0; i < lr; i++) /* dst [lr, lc], tmp [lc, lr] */
      for (int64_t j = 0; j < lc; j++) dst[i * lc + j] = tmp[j * lr + i];
    pst_free(tmp);
  }
  ckpt_mark(f, ht);
  if (L->rep) {
    L->rep->loaded++;
    L->rep->params_loaded += (long long)t->numel;
    if (!strncmp(t->name, "pool.", 5)) L->rep->pool_loaded = 1;
    if (!strncmp(t->name, "cls.", 4)) L->rep->cls_loaded = 1;
  }
  return PST_OK;
}

/* The tensor-name prefix: "bert." / "roberta." / "transformer." if the token embedding has
 * it, else none. */
static pst_err find_prefix(hf_load *L) {
  const char *probe = L->a.gpt2 ? "wte.weight" : L->a.llama ? "embed_tokens.weight" : "embeddings.word_embeddings.weight";
  const char *cands[2] = {L->a.gpt2 ? "transformer." : L->a.roberta ? "roberta." : L->a.llama ? "model." : "bert.", ""};
  char name[192];
  for (int i = 0; i < 2; i++) {
    snprintf(name, sizeof name, "%s%s", cands[i], probe);
    int found;
    hf_file *f;
    const pst_st_tensor *t;
    PST_CHECK(ckpt_find(&L->ck, name, &found, &f, &t));
    if (found) {
      snprintf(L->prefix, sizeof L->prefix, "%s", cands[i]);
      return PST_OK;
    }
  }
  PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s%s' not found (nor '%s'): not a %s checkpoint", L->ck.where, cands[0], probe,
          probe, L->a.model_type);
}

/* A tensor of any of the n tables, or NULL. */
static const pst_tensor_info *tabs_find(pst_params *const *tabs, int n, const char *name) {
  for (int k = 0; k < n; k++) {
    const pst_tensor_info *t = pst_params_find(tabs[k], name);
    if (t) return t;
  }
  return NULL;
}

/* The tables must hold the architecture and depth that config.json describes. */
static pst_err check_model(hf_load *L, pst_params *const *tabs, int ntabs) {
  const int model_llama = tabs_find(tabs, ntabs, "blk.0.gate.w") != NULL;
  const int model_gpt2 = !model_llama && tabs_find(tabs, ntabs, "lnf.w") != NULL;
  char cfgpath[PST_PATH_MAX + 16];
  snprintf(cfgpath, sizeof cfgpath, "%s/config.json", L->dir);
  if (model_gpt2 != L->a.gpt2 || model_llama != L->a.llama)
    PST_ERR(PST_ERR_ARG, "%s: model_type '%s' but the model was created with model.arch = %s", cfgpath,
            L->a.model_type, model_llama ? "llama" : model_gpt2 ? "gpt2" : "bert");
  int layers = 0;
  char nm[64];
  for (;;) {
    snprintf(nm, sizeof nm, "blk.%d.q.w", layers);
    if (!tabs_find(tabs, ntabs, nm)) break;
    layers++;
  }
  if (layers != L->a.layers)
    PST_ERR(PST_ERR_ARG, "%s: %s = %d but the model was created with %d layers", cfgpath,
            L->a.gpt2 ? "n_layer" : "num_hidden_layers", L->a.layers, layers);
  if (L->a.llama && !tabs_find(tabs, ntabs, "head.w")) /* tied: a saved lm_head copy is not read */
    pst_log(2, "pst: %s: the LM head is the token embedding (tie_word_embeddings)\n", cfgpath);
  return PST_OK;
}

static void rep_file(pst_hf_report *rep, const char *name) {
  if (!rep) return;
  if (rep->nfiles < PST_HF_MAX_FILES) snprintf(rep->files[rep->nfiles], sizeof rep->files[0], "%s", name);
  rep->nfiles++;
}

static pst_err load_all(hf_load *L, pst_params *const *tabs, int ntabs) {
  pst_config scratch;
  pst_config_defaults(&scratch);
  PST_CHECK(parse_config(L->dir, &scratch, &L->a));
  PST_CHECK(check_model(L, tabs, ntabs));
  rep_file(L->rep, "config.json");
  PST_CHECK(ckpt_open(&L->ck, L->dir));
  if (L->ck.index) rep_file(L->rep, "model.safetensors.index.json");
  for (int i = 0; i < L->ck.nfiles; i++) rep_file(L->rep, L->ck.files[i].name);
  PST_CHECK(find_prefix(L));
  for (int k = 0; k < ntabs; k++)
    for (int i = 0; i < tabs[k]->n; i++) PST_CHECK(load_tensor(L, &tabs[k]->t[i]));
  int ignored = 0;
  for (int i = 0; i < L->ck.nfiles; i++) {
    hf_file *f = &L->ck.files[i];
    for (int j = 0; j < pst_st_count(f->st); j++)
      if (!f->used[j]) {
        ignored++;
        pst_log(2, "pst: %s: ignoring tensor '%s' (not used by pst)\n", pst_st_path(f->st), pst_st_at(f->st, j)->name);
      }
  }
  if (L->rep) {
    L->rep->ignored = ignored;
    snprintf(L->rep->model_type, sizeof L->rep->model_type, "%s", L->a.model_type);
    snprintf(L->rep->prefix, sizeof L->rep->prefix, "%s", L->prefix);
    L->rep->position_offset = L->a.offset;
  }
  return PST_OK;
}

pst_err pst_hf_load_params(const char *dir, pst_params *const *tabs, int ntabs, pst_hf_report *report) {
  if (!dir || ntabs < 0 || (ntabs > 0 && !tabs)) PST_ERR(PST_ERR_ARG, "pst_hf_load_params: invalid arguments");
  pst_hf_report *rep = report ? report : malloc(sizeof *rep);
  if (!rep) PST_ERR(PST_ERR_MEM, "out of memory loading %s", dir);
  memset(rep, 0, sizeof *rep);
  hf_load L;
  memset(&L, 0, sizeof L);
  L.dir = dir;
  L.rep = rep;
  pst_err rc = load_all(&L, tabs, ntabs);
  ckpt_close(&L.ck);
  if (!rc)
    pst_log(1, "pst: loaded %d tensors (%lld parameters) from %s (%s; unused checkpoint tensors: %d)\n", rep->loaded,
            rep->params_loaded, dir, rep->model_type, rep->ignored);
  if (rep != report) free(rep);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_hf_load_weights_report(const char *dir, pst_model *m, pst_hf_report *report) {
  pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  PST_CHECK(pst_hf_load_params(dir, tabs, 2, report));
  return PST_OK;
}

pst_err pst_hf_load_weights(const char *dir, pst_model *m) {
  PST_CHECK(pst_hf_load_weights_report(dir, m, NULL));
  return PST_OK;
}
