/* gguf_smollm2.c — the GGUF reader on a real file: SmolLM2-135M-Instruct.Q4_1.gguf (llama,
 * 30 blocks, hidden 576, 9 heads, 3 kv heads, ffn 1536, vocab 49152; 210 Q4_1, 61 F32 and one
 * Q8_0 tensor; the head tied to token_embd).
 *
 * Usage: gguf_smollm2 MODEL.gguf REF.safetensors (REF from tests/reference/gguf_smollm2_ref.py;
 * run by tests/parity/run_gguf_smollm2.sh). Checks, each a FAIL line on mismatch:
 *   - the tensor count by type, the llama config and the pst config it gives, the tokenizer
 *     metadata;
 *   - every reference tensor of gguf-py's dequantization, bit for bit: whole tensors, row ranges
 *     of the Q8_0 token embedding, and (pst:...) the q/k weights loaded through
 *     pst_gguf_load_params in Hugging Face order;
 *   - tensor-parallel shards (tp 3: three q heads and one kv head per rank; o and down by
 *     columns) equal to the slices of the whole load;
 *   - with HF_DIR (tests/reference/gguf_smollm2_hf.py: transformers' own GGUF reading, renamed
 *     and un-permuted by transformers, saved as a Hugging Face directory): the pst config from
 *     the GGUF equals the one from HF_DIR/config.json, and the pst llama model loaded from the
 *     GGUF equals the same model loaded from HF_DIR by pst's Hugging Face loader, every tensor
 *     bit for bit (an independent check of names, shapes, tying and the q/k permutation).
 * Usage: gguf_smollm2 MODEL.gguf REF.safetensors [HF_DIR].
 * Prints "N passed, M failed"; exit status 0 only if none failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/config.h"
#include "pst/gguf.h"
#include "pst/gguf_llama.h"
#include "pst/hfmodel.h"
#include "pst/model.h"
#include "pst/params.h"
#include "pst/safetensors.h"

static int npass, nfail;

static void check(int ok, const char *what) {
  if (ok) npass++;
  else {
    nfail++;
    printf("FAIL %s\n", what);
  }
}

static int bits_equal(const float *a, const float *b, size_t n) { return !n || !memcmp(a, b, n * sizeof(float)); }

/* The tensors q.w, k.w, o.w of every block (global shapes), rank `rank` of tp (q, k by rows;
 * o by columns), bound to their data. */
static float *slots[256];
static int tables(pst_params *p, int layers, int rank, int tp) {
  memset(p, 0, sizeof *p);
  char n[64];
  for (int l = 0; l < layers; l++) {
    snprintf(n, sizeof n, "blk.%d.q.w", l);
    if (pst_params_add(p, n, 2, 576 / tp, 576, 0, 1, NULL, NULL)) return 1;
    if (tp > 1) pst_params_shard_last(p, 0, 576 / tp * rank, 576);
    snprintf(n, sizeof n, "blk.%d.k.w", l);
    if (pst_params_add(p, n, 2, 192 / tp, 576, 0, 1, NULL, NULL)) return 1;
    if (tp > 1) pst_params_shard_last(p, 0, 192 / tp * rank, 192);
    snprintf(n, sizeof n, "blk.%d.o.w", l);
    if (pst_params_add(p, n, 2, 576, 576 / tp, 0, 1, NULL, NULL)) return 1;
    if (tp > 1) pst_params_shard_last(p, 1, 576 / tp * rank, 576);
  }
  if (pst_params_alloc(p, 0)) return 1;
  for (int i = 0; i < p->n; i++) {
    slots[i] = p->data + p->t[i].offset;
    p->t[i].bind = &slots[i];
  }
  return 0;
}

/* The pst model of cfg loaded from the GGUF file and from the Hugging Face directory hf:
 * configs and every tensor equal. Returns nonzero only when it cannot run at all. */
static int compare_hf(const char *gguf, const char *hf, const pst_config *cfg_g) {
  pst_config ch;
  pst_config_defaults(&ch);
  if (pst_hf_read_config(hf, &ch, NULL)) {
    pst_err_print(stdout, 1);
    check(0, "pst_hf_read_config on transformers' reading of the GGUF");
    return 0;
  }
  const pst_config *a = cfg_g;
  check(!strcmp(a->arch, ch.arch) && a->hidden == ch.hidden && a->layers == ch.layers && a->heads == ch.heads &&
            a->kv_heads == ch.kv_heads && a->ffn == ch.ffn && a->vocab == ch.vocab &&
            a->max_positions == ch.max_positions && (float)a->ln_eps == (float)ch.ln_eps &&
            a->rope_theta == ch.rope_theta && !strcmp(a->rope_scaling, ch.rope_scaling) &&
            a->tie_embeddings == ch.tie_embeddings && a->qkv_bias == ch.qkv_bias && a->o_bias == ch.o_bias &&
            a->mlp_bias == ch.mlp_bias,
        "pst config from the GGUF = pst config from transformers' config.json (ln_eps as f32)");
  pst_config c = *cfg_g;
  strcpy(c.task, "lm");
  strcpy(c.method, "lora");
  c.r1 = c.r2 = 1;
  c.seq_len = 1;
  pst_model *m = NULL;
  if (pst_config_finalize(&c) || pst_model_create(&m, &c, 1, 1, NULL)) {
    pst_err_print(stderr, 1);
    return 1;
  }
  pst_params *fz = pst_model_frozen(m);
  pst_gguf_report rep;
  float *from_gguf = NULL;
  int ok = !pst_gguf_load_weights(gguf, m, &rep) && rep.ignored == 0;
  if (ok) {
    from_gguf = malloc(fz->total * sizeof(float));
    if (!from_gguf) return 1;
    memcpy(from_gguf, fz->data, fz->total * sizeof(float));
    memset(fz->data, 0, fz->total * sizeof(float));
  } else pst_err_print(stdout, 1);
  check(ok, "the pst llama model loads every tensor of the GGUF (none left unused)");
  ok = ok && !pst_hf_load_weights(hf, m);
  if (!ok) pst_err_print(stdout, 1);
  int same = ok, nt = 0;
  for (int i = 0; ok && i < fz->n; i++) {
    const pst_tensor_info *t = &fz->t[i];
    nt++;
    if (!bits_equal(fz->data + t->offset, from_gguf + t->offset, t->numel)) {
      if (same) printf("  first difference: %s\n", t->name);
      same = 0;
    }
  }
  char what[160];
  snprintf(what, sizeof what, "pst model from the GGUF = from transformers' reading of it, %d frozen tensors bit for bit", nt);
  check(same && nt == 272, what);
  free(from_gguf);
  pst_model_destroy(m);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: gguf_smollm2 MODEL.gguf REF.safetensors [HF_DIR]\n");
    return 2;
  }
  pst_log_level = 0;
  const char *mp = argv[1];
  pst_gguf *g = NULL;
  pst_safetensors *ref = NULL;
  if (pst_gguf_open(&g, mp) || pst_st_open(&ref, argv[2])) {
    pst_err_print(stderr, 1);
    return 1;
  }

  /* tensor types */
  int nq41 = 0, nf32 = 0, nq80 = 0;
  long long params = 0;
  for (int i = 0; i < pst_gguf_tensor_count(g); i++) {
    const pst_gguf_tensor *t = pst_gguf_tensor_at(g, i);
    nq41 += t->type == PST_GGML_Q4_1;
    nf32 += t->type == PST_GGML_F32;
    nq80 += t->type == PST_GGML_Q8_0;
    params += t->ne[0] * pst_gguf_rows(t);
  }
  printf("tensors: %d (Q4_1 %d, F32 %d, Q8_0 %d), %lld parameters\n", pst_gguf_tensor_count(g), nq41, nf32, nq80, params);
  check(pst_gguf_tensor_count(g) == 272 && nq41 == 210 && nf32 == 61 && nq80 == 1, "tensor count by type 272 = 210 Q4_1 + 61 F32 + 1 Q8_0");
  check(params == 134515008, "134515008 parameters");
  check(pst_gguf_find_tensor(g, "token_embd.weight")->type == PST_GGML_Q8_0, "token_embd.weight is Q8_0");

  /* config */
  pst_gguf_llama m;
  int rc = pst_gguf_llama_read(g, &m);
  if (rc) pst_err_print(stdout, 1);
  check(!rc && !strcmp(m.arch, "llama") && m.layers == 30 && m.hidden == 576 && m.heads == 9 && m.kv_heads == 3 &&
            m.head_dim == 64 && m.ffn == 1536 && m.vocab == 49152 && m.max_positions == 8192 &&
            m.rope_theta == 100000.0f && m.ln_eps == 1e-5f && !strcmp(m.rope_scaling, "none") && m.tie_embeddings &&
            !m.qkv_bias && !m.o_bias && !m.mlp_bias && m.permuted_qk,
        "llama config: 30 blocks, hidden 576, 9/3 heads, ffn 1536, vocab 49152, ctx 8192, theta 1e5, eps 1e-5, tied");
  pst_config cfg;
  pst_config_defaults(&cfg);
  rc = pst_gguf_read_config(mp, &cfg);
  if (rc) pst_err_print(stdout, 1);
  check(!rc && !strcmp(cfg.arch, "llama") && cfg.layers == 30 && cfg.hidden == 576 && cfg.heads == 9 && cfg.kv_heads == 3 &&
            cfg.ffn == 1536 && cfg.vocab == 49152 && cfg.max_positions == 8192 && cfg.rope_theta == 100000.0 &&
            cfg.ln_eps == 1e-5 && !strcmp(cfg.rope_scaling, "none") && cfg.rope_factor == 1.0 && cfg.tie_embeddings &&
            !cfg.qkv_bias && !cfg.o_bias && !cfg.mlp_bias,
        "pst config keys (model.arch = llama, ..., ln_eps = 1e-05, tie_embeddings = true)");

  /* tokenizer */
  pst_gguf_tokenizer tok;
  rc = pst_gguf_tokenizer_read(g, m.vocab, &tok);
  if (rc) pst_err_print(stdout, 1);
  check(!rc && tok.ntokens == 49152 && !strcmp(tok.model, "gpt2") && !strcmp(tok.pre, "smollm") && tok.nmerges == 48900 &&
            tok.bos_id == 1 && tok.eos_id == 2 && tok.unk_id == 0 && tok.pad_id == 2 && tok.add_bos == 0 &&
            tok.token_type && !tok.scores && !strcmp(tok.tokens[0], "<|endoftext|>") && !strcmp(tok.tokens[1], "<|im_start|>"),
        "tokenizer: gpt2/smollm, 49152 tokens, 48900 merges, bos 1, eos 2, unk 0, pad 2");
  pst_gguf_tokenizer_free(&tok);

  /* the pst loader: q, k, o of every block, whole */
  pst_params full;
  if (tables(&full, 30, 0, 1)) return 1;
  pst_params *tabs[1] = {&full};
  pst_gguf_report rep;
  rc = pst_gguf_load_params_from(g, tabs, 1, &rep);
  if (rc) pst_err_print(stdout, 1);
  check(!rc && rep.loaded == 90 && rep.ignored == 272 - 90, "load q, k, o of 30 blocks (90 tensors; 182 unused)");

  /* reference tensors */
  for (int i = 0; i < pst_st_count(ref); i++) {
    const pst_st_tensor *e = pst_st_at(ref, i);
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    float *want = malloc(n * 4), *got = malloc(n * 4);
    if (!want || !got || pst_st_read_f32(ref, e->name, want, e->ndim, e->shape)) return 1;
    char what[200], name[128];
    long r0, nr;
    int ok;
    if (!strncmp(e->name, "pst:", 4)) {
      const pst_tensor_info *t = pst_params_find(&full, e->name + 4);
      ok = t && t->numel == n && bits_equal(full.data + t->offset, want, n);
      snprintf(what, sizeof what, "%s (loaded in Hugging Face order) = gguf-py, un-permuted", e->name + 4);
    } else if (sscanf(e->name, "%127[^@]@rows:%ld:%ld", name, &r0, &nr) == 3) {
      ok = !pst_gguf_read_rows_f32(g, name, r0, nr, got) && bits_equal(got, want, n);
      snprintf(what, sizeof what, "%s rows [%ld, %ld) = gguf-py", name, r0, r0 + nr);
    } else {
      const pst_gguf_tensor *t = pst_gguf_find_tensor(g, e->name);
      ok = t && (size_t)(t->ne[0] * pst_gguf_rows(t)) == n && !pst_gguf_read_f32(g, e->name, got) && bits_equal(got, want, n);
      snprintf(what, sizeof what, "%s (%s) = gguf-py", e->name, t ? pst_ggml_type_name(t->type) : "missing");
    }
    check(ok, what);
    free(want);
    free(got);
  }

  /* tp 3: slices of the whole load */
  for (int rank = 0; rank < 3; rank++) {
    pst_params sh;
    if (tables(&sh, 30, rank, 3)) return 1;
    pst_params *st1[1] = {&sh};
    int ok = !pst_gguf_load_params_from(g, st1, 1, NULL);
    for (int i = 0; ok && i < sh.n; i++) {
      const pst_tensor_info *t = &sh.t[i], *f = pst_params_find(&full, t->name);
      const float *fd = full.data + f->offset, *sd = sh.data + t->offset;
      if (t->shard_dim == 0) ok = bits_equal(sd, fd + t->shard_start * t->shape[1], t->numel);
      else
        for (int64_t r = 0; ok && r < t->shape[0]; r++)
          ok = bits_equal(sd + r * t->shape[1], fd + r * t->gshape[1] + t->shard_start, (size_t)t->shape[1]);
    }
    char what[96];
    snprintf(what, sizeof what, "tp 3 rank %d: q/k rows (3 q heads, 1 kv head) and o columns = slices of the whole", rank);
    check(ok, what);
    pst_params_free(&sh);
  }
  pst_params_free(&full);
  pst_st_close(ref);
  pst_gguf_close(g);
  if (argc == 4 && compare_hf(mp, argv[3], &cfg)) return 1;
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail ? 1 : 0;
}
