/* test_lm_logits.c — a real pretrained decoder in pst against transformers' logits
 * (tests/parity/run_smollm2_parity.sh: SmolLM2-135M-Instruct).
 *
 * usage: test_lm_logits REF.safetensors MODEL [TOL]
 * REF (tests/reference/smollm2_ref.py) holds input_ids, attention_mask [B,T] and logits [B,T,V].
 * pst builds the model from MODEL — a Hugging Face directory (config.json + safetensors) or a
 * GGUF file (dequantized by pst's own reader) — with pst.method = lora (W' = W0 +
 * U V with V = 0: exactly the pretrained weights, no mask), runs the same right-padded batch and
 * compares the logits of every real token: max |pst - ref| / max |ref| <= TOL (default 1e-4). It
 * also prints pst's mean next-token loss over the batch. From a GGUF file it also tokenizes the
 * reference's sentences (metadata "sentences", one per line) with pst's tokenizer of the GGUF
 * metadata and requires the reference's ids (SmolLM2's tokenizer rebuilt with PyPI tokenizers),
 * and the same for the 2,000 texts of REF.texts (one per line; ids in tok.ids / tok.offsets).
 * Exit 0 = within TOL and equal ids, 1 = not, 2 = error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/batch.h"
#include "pst/data.h"
#include "pst/config.h"
#include "pst/gguf_llama.h"
#include "pst/hfmodel.h"
#include "pst/model.h"
#include "pst/safetensors.h"
#include "pst/tokenizer.h"

#define DIE_ON(call) do { if (call) { pst_err_print(stderr, 1); return 2; } } while (0)

/* The texts of PATH.texts (one per line) against tok.ids / tok.offsets of st; returns the number
 * of texts whose ids differ (all of them when the file or the tensors are missing). */
static int check_texts(const pst_tokenizer *tok, const pst_safetensors *st) {
  char path[1200];
  snprintf(path, sizeof path, "%s.texts", pst_st_path(st));
  const pst_st_tensor *to = pst_st_find(st, "tok.offsets"), *ti = pst_st_find(st, "tok.ids");
  FILE *f = fopen(path, "r");
  if (!f || !to || !ti) {
    printf("FAIL: %s or tok.ids / tok.offsets missing\n", path);
    if (f) fclose(f);
    return 1;
  }
  const long n = (long)to->shape[0] - 1;
  int32_t *off = malloc((size_t)(n + 1) * sizeof *off), *ids = malloc((size_t)(ti->shape[0] + 1) * sizeof *ids);
  int bad = 0, broken = 0;
  if (!off || !ids || pst_st_read_i32(st, "tok.offsets", off, 1, to->shape) ||
      pst_st_read_i32(st, "tok.ids", ids, 1, ti->shape)) {
    pst_err_print(stderr, 1);
    broken = 1;
  }
  char *line = NULL;
  size_t lcap = 0;
  int32_t *mine = NULL;
  int cap = 0;
  long i = 0;
  for (; !broken && i < n && getline(&line, &lcap, f) > 0; i++) {
    line[strcspn(line, "\n")] = 0;
    int m = 0;
    int same = !pst_tokenize(tok, line, &mine, &m, &cap) && m == off[i + 1] - off[i];
    for (int k = 0; same && k < m; k++) same = mine[k] == ids[off[i] + k];
    if (!same && bad++ < 5) printf("FAIL tokens of text %ld: %s\n", i + 1, line);
  }
  if (i < n) bad += (int)(n - i);
  printf("%s: %ld of %ld real texts tokenized to the reference ids\n", bad ? "FAIL" : "ok", n - bad, n);
  free(line);
  free(mine);
  free(off);
  free(ids);
  fclose(f);
  return bad;
}

/* pst's GGUF tokenizer on the reference's sentences against its ids [B,T] (am: real tokens);
 * returns the number of sentences whose ids differ. */
static int check_tokens(const char *gguf, const pst_safetensors *st, const int32_t *ids, const int32_t *am, int B,
                        int T, int vocab) {
  const char *sents = pst_st_metadata(st, "sentences");
  pst_tokenizer *tok;
  if (!sents || pst_gguf_tokenizer_build(gguf, vocab, &tok)) {
    pst_err_print(stderr, 1);
    printf("FAIL: no sentences in the reference or no tokenizer in %s\n", gguf);
    return B;
  }
  int bad = 0, b = 0;
  for (const char *p = sents; b < B; b++) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *text = strndup(p, len);
    int32_t *mine = NULL;
    int n = 0, cap = 0, nref = 0;
    for (int t = 0; t < T; t++) nref += am[(long)b * T + t] != 0;
    const int32_t *ref = ids + (long)b * T;
    int same = text && !pst_tokenize(tok, text, &mine, &n, &cap) && n == nref;
    for (int i = 0; same && i < n; i++) same = mine[i] == ref[i];
    if (!same) {
      printf("FAIL tokens of sentence %d (%s): pst %d ids, reference %d\n", b, text ? text : "?", n, nref);
      bad++;
    }
    free(mine);
    free(text);
    p = nl ? nl + 1 : p + len;
  }
  printf("%s: pst's tokenizer of %s gives the reference ids for %d of %d sentences\n", bad ? "FAIL" : "ok", gguf,
         B - bad, B);
  bad += check_texts(tok, st);
  pst_tokenizer_free(tok);
  return bad;
}

static void *read_all(const pst_safetensors *st, const char *name, int i32, long *n, int64_t *shape, int *ndim) {
  const pst_st_tensor *t = pst_st_find(st, name);
  if (!t) return NULL;
  *n = 1;
  for (int i = 0; i < t->ndim; i++) *n *= t->shape[i], shape[i] = t->shape[i];
  *ndim = t->ndim;
  void *x = malloc((size_t)*n * 4);
  if (!x) return NULL;
  pst_err rc = i32 ? pst_st_read_i32(st, name, x, t->ndim, t->shape) : pst_st_read_f32(st, name, x, t->ndim, t->shape);
  if (rc) { free(x); return NULL; }
  return x;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s REF.safetensors HF_DIR|MODEL.gguf [TOL]\n", argv[0]);
    return 2;
  }
  const double tol = argc == 4 ? atof(argv[3]) : 1e-4;
  pst_safetensors *st;
  DIE_ON(pst_st_open(&st, argv[1]));
  long nids, nam, nlog;
  int64_t sh[3], shl[3];
  int nd, ndl;
  int32_t *ids = read_all(st, "input_ids", 1, &nids, sh, &nd);
  int32_t *am = read_all(st, "attention_mask", 1, &nam, sh, &nd);
  float *ref = read_all(st, "logits", 0, &nlog, shl, &ndl);
  if (!ids || !am || !ref || nd != 2 || ndl != 3) {
    fprintf(stderr, "%s: needs input_ids, attention_mask [B,T] and logits [B,T,V]\n", argv[1]);
    return 2;
  }
  const int B = (int)sh[0], T = (int)sh[1], V = (int)shl[2];
  pst_config cfg;
  pst_config_defaults(&cfg);
  struct stat sb;
  const int gguf = stat(argv[2], &sb) == 0 && S_ISREG(sb.st_mode);
  if (gguf) DIE_ON(pst_gguf_read_config(argv[2], &cfg));
  else DIE_ON(pst_hf_read_config(argv[2], &cfg, NULL));
  DIE_ON(pst_config_set(&cfg, "data.task=lm"));
  DIE_ON(pst_config_set(&cfg, "pst.method=lora"));
  char kv[64];
  snprintf(kv, sizeof kv, "train.seq_len=%d", T);
  DIE_ON(pst_config_set(&cfg, kv));
  DIE_ON(pst_config_finalize(&cfg));
  if (cfg.vocab != V) {
    fprintf(stderr, "vocabulary %d in %s, %d in the reference\n", cfg.vocab, argv[2], V);
    return 2;
  }
  pst_model *m;
  DIE_ON(pst_model_create(&m, &cfg, B, T, NULL));
  if (gguf) DIE_ON(pst_gguf_load_weights(argv[2], m, NULL));
  else DIE_ON(pst_hf_load_weights(argv[2], m));
  pst_batch b;
  DIE_ON(pst_batch_alloc(&b, B, T, PST_TASK_LM));
  for (long n = 0; n < (long)B * T; n++) {
    b.input_ids[n] = ids[n];
    b.attn_mask[n] = (uint8_t)am[n];
    const int t = (int)(n % T), next = t + 1 < T && am[n + 1];
    b.targets[n] = next ? ids[n + 1] : 0;
    b.loss_mask[n] = next && am[n] ? 1.f : 0.f;
  }
  double loss;
  DIE_ON(pst_model_forward(m, &b, &loss));
  long nl;
  const float *lg = pst_model_logits(m, &nl);
  double maxref = 0, maxdiff = 0;
  long at = 0, real = 0;
  for (long n = 0; n < (long)B * T; n++) {
    if (!am[n]) continue;
    real++;
    for (int v = 0; v < V; v++) {
      const double r = ref[n * V + v], d = fabs((double)lg[n * V + v] - r);
      if (fabs(r) > maxref) maxref = fabs(r);
      if (d > maxdiff || d != d) maxdiff = d, at = n * V + v;
    }
  }
  const double rel = maxdiff / (maxref > 0 ? maxref : 1);
  const int ok = rel <= tol && (!gguf || check_tokens(argv[2], st, ids, am, B, T, cfg.vocab) == 0);
  printf("%s: %s logits of %ld real tokens (B %d, T %d, V %d): max |pst - ref| %.3e, relative %.3e (tol %.1e; "
         "worst %.6g vs %.6g); pst mean next-token loss %.4f\n", ok ? "ok" : "FAIL", argv[2], real, B, T, V, maxdiff,
         rel, tol, lg[at], ref[at], loss);
  pst_batch_free(&b);
  pst_model_destroy(m);
  pst_st_close(st);
  free(ids);
  free(am);
  free(ref);
  return ok ? 0 : 1;
}
