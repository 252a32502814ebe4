/* inspect_cmd.c — `pst inspect-model DIR|FILE.gguf [-v|-q]`: read a Hugging Face model directory
 * (hfmodel.h), build the pst model it describes, load its weights and print the
 * architecture, the dimensions, the parameters per group and the files read; or read a GGUF
 * file (gguf.h, gguf_llama.h) and print its architecture, dimensions, tensors by type,
 * parameters, tokenizer, whether the head is tied, and what pst ignores in it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/cli.h"
#include "pst/config.h"
#include "pst/gguf.h"
#include "pst/gguf_llama.h"
#include "pst/hfmodel.h"
#include "pst/model.h"
#include "pst/params.h"

static void inspect_usage(FILE *f) {
  fprintf(f,
          "usage: pst inspect-model DIR|FILE.gguf [-v] [-q]\n\n"
          "Reads DIR/config.json and DIR/model.safetensors (or the shards listed in\n"
          "DIR/model.safetensors.index.json) of a Hugging Face BERT, RoBERTa or GPT-2 checkpoint,\n"
          "loads every tensor into a pst model and prints the architecture, dimensions, parameter\n"
          "counts per group and the files read. Fails with the first missing or mis-shaped tensor.\n"
          "A GGUF file (llama or qwen2 architecture) is validated and described: dimensions,\n"
          "tensors by type, parameters, tokenizer, tied head, metadata and tensors pst ignores.\n"
          "  -v  also list checkpoint tensors and metadata pst does not use, and error trails\n"
          "  -q  errors only\n");
}

enum { G_EMB, G_LIN, G_LN, G_HEAD, G_COUNT };
static const char *GROUP_NAMES[G_COUNT] = {"embeddings", "block linears", "layer norms", "head"};

/* Group of a checkpoint tensor by its pst name; -1 for PST trainables (not in checkpoints). */
static int group_of(const char *name) {
  size_t n = strlen(name);
  int ln = !strncmp(name, "emb.ln.", 7) || !strncmp(name, "lnf.", 4);
  if (n > 5 && (!strcmp(name + n - 5, "ln1.w") || !strcmp(name + n - 5, "ln1.b") ||
                !strcmp(name + n - 5, "ln2.w") || !strcmp(name + n - 5, "ln2.b")))
    ln = 1;
  if (ln) return G_LN;
  if (!strncmp(name, "emb.", 4)) return G_EMB;
  if (!strncmp(name, "pool.", 5) || !strncmp(name, "cls.", 4) || !strcmp(name, "head.w")) return G_HEAD;
  if (!strncmp(name, "blk.", 4) && n > 2 && name[n - 2] == '.' && (name[n - 1] == 'w' || name[n - 1] == 'b'))
    return G_LIN;
  return -1;
}

static void print_count(const char *label, long long n, const char *note) {
  printf("  %-16s %14lld  (%.2f M)%s%s\n", label, n, n / 1e6, note[0] ? "  " : "", note);
}

/* GGUF tensors that are the source of some pst tensor of model m: used[i] = 1. */
static void gguf_mark_used(const pst_gguf *g, const pst_gguf_llama *m, unsigned char *used) {
  static const char *const PARTS[] = {"ln1.w", "ln2.w", "q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "o.w", "o.b",
                                      "gate.w", "gate.b", "up.w", "up.b", "down.w", "down.b", NULL};
  char pst[96], src[PST_GGUF_MAX_NAME];
  int perm;
  for (int l = -1; l < m->layers; l++)
    for (int i = 0; l < 0 ? i < 3 : PARTS[i] != NULL; i++) {
      if (l < 0) snprintf(pst, sizeof pst, "%s", i == 0 ? "emb.tok" : i == 1 ? "lnf.w" : "head.w");
      else snprintf(pst, sizeof pst, "blk.%d.%s", l, PARTS[i]);
      const pst_gguf_tensor *t = pst_gguf_llama_name_of(m, pst, src, &perm) ? pst_gguf_find_tensor(g, src) : NULL;
      if (t) used[pst_gguf_tensor_index(g, t)] = 1;
    }
}

/* `pst inspect-model FILE.gguf`: 0 when pst can use the file, 1 otherwise. */
static int inspect_gguf(const char *path, int verbose) {
  pst_gguf *g = NULL;
  if (pst_gguf_open(&g, path)) {
    pst_err_print(stderr, verbose);
    return 1;
  }
  const int nt = pst_gguf_tensor_count(g), nkv = pst_gguf_kv_count(g);
  int by_type[64] = {0}, unsupported = 0;
  long long params = 0;
  for (int i = 0; i < nt; i++) {
    const pst_gguf_tensor *t = pst_gguf_tensor_at(g, i);
    if (t->type >= 0 && t->type < 64) by_type[t->type]++;
    if (!pst_ggml_type_supported(t->type)) unsupported++;
    params += (long long)(t->ne[0] * pst_gguf_rows(t));
  }
  printf("GGUF file        %s (version %u, %llu bytes, alignment %u)\n", path, pst_gguf_version(g),
         (unsigned long long)pst_gguf_file_size(g), pst_gguf_alignment(g));
  pst_gguf_llama m;
  char why[512] = "";
  const pst_err rc = pst_gguf_llama_read(g, &m);
  if (!rc) {
    printf("architecture     %s (pst model.arch = llama; q/k rows %s)\n", m.arch,
           m.permuted_qk ? "permuted by the converter, undone on load" : "not permuted");
    printf("dimensions       hidden %d, layers %d, heads %d (head dim %d), kv heads %d, ffn %d, vocab %d\n", m.hidden,
           m.layers, m.heads, m.head_dim, m.kv_heads, m.ffn, m.vocab);
    printf("                 positions %d, RMSNorm eps %g, rope theta %g, rope scaling %s", m.max_positions,
           (double)m.ln_eps, (double)m.rope_theta, m.rope_scaling);
    if (strcmp(m.rope_scaling, "none")) printf(" x%g", (double)m.rope_factor);
    printf("\n                 biases: qkv %s, o %s, mlp %s\n", m.qkv_bias ? "yes" : "no", m.o_bias ? "yes" : "no",
           m.mlp_bias ? "yes" : "no");
    printf("head             %s\n", m.tie_embeddings ? "tied to token_embd.weight (no output.weight)" : "its own output.weight");
  } else {
    snprintf(why, sizeof why, "%s", pst_err_message());
    printf("architecture     not usable by pst (below)\n");
  }
  printf("tensors          %d:", nt);
  for (int t = 0, first = 1; t < 64; t++)
    if (by_type[t]) {
      printf("%s %s %d", first ? "" : ",", pst_ggml_type_name(t), by_type[t]);
      first = 0;
    }
  printf("\nparameters       %lld (%.2f M)\n", params, params / 1e6);
  if (unsupported) printf("                 %d tensor%s of types pst cannot dequantize\n", unsupported, unsupported == 1 ? "" : "s");
  pst_err_clear();
  pst_gguf_tokenizer tok;
  if (!pst_gguf_tokenizer_read(g, rc ? 0 : m.vocab, &tok)) {
    printf("tokenizer        %s%s%s%s, %d tokens, %d merges, bos %d, eos %d, unk %d, pad %d\n", tok.model,
           tok.pre[0] ? " (pre-tokenizer '" : "", tok.pre, tok.pre[0] ? "')" : "", tok.ntokens, tok.nmerges, tok.bos_id,
           tok.eos_id, tok.unk_id, tok.pad_id);
    pst_gguf_tokenizer_free(&tok);
  } else {
    printf("tokenizer        none usable: %s\n", pst_err_message());
    pst_err_clear();
  }
  int ignored_kv = 0;
  for (int i = 0; i < nkv; i++)
    if (!pst_gguf_llama_key_used(rc ? "" : m.arch, pst_gguf_kv_key(g, i))) {
      ignored_kv++;
      if (verbose) fprintf(stderr, "metadata not used by pst: %s (%s)\n", pst_gguf_kv_key(g, i),
                           pst_gguf_type_name(pst_gguf_kv_type(g, i)));
    }
  printf("metadata         %d keys, %d not used by pst%s\n", nkv, ignored_kv,
         ignored_kv && !verbose ? " (-v lists them)" : ignored_kv ? " (listed on stderr)" : "");
  if (!rc) {
    unsigned char *used = calloc(nt ? (size_t)nt : 1, 1);
    if (!used) {
      pst_gguf_close(g);
      return 1;
    }
    gguf_mark_used(g, &m, used);
    int ignored = 0;
    for (int i = 0; i < nt; i++)
      if (!used[i]) {
        ignored++;
        if (verbose) fprintf(stderr, "tensor not used by pst: %s\n", pst_gguf_tensor_at(g, i)->name);
      }
    printf("tensors not used by pst: %d\n", ignored);
    free(used);
  }
  pst_err lr = PST_OK;
  if (!rc && !unsupported) { /* build the pst model the file describes and load every tensor */
    pst_config cfg;
    pst_config_defaults(&cfg);
    pst_model *pm = NULL;
    pst_gguf_report rep;
    lr = pst_gguf_llama_to_config(&m, &cfg);
    if (!lr) {
      strcpy(cfg.task, "lm");
      strcpy(cfg.method, "lora"); /* frozen W0, tiny trainables: the file's memory only */
      cfg.r1 = cfg.r2 = 1;
      cfg.seq_len = 1;
      lr = pst_config_finalize(&cfg);
    }
    if (!lr) lr = pst_model_create(&pm, &cfg, 1, 1, NULL);
    if (!lr) {
      pst_params *tabs[2] = {pst_model_frozen(pm), pst_model_trainables(pm)};
      lr = pst_gguf_load_params_from(g, tabs, 2, &rep);
    }
    if (!lr)
      printf("pst model        %d tensors loaded, %lld parameters (%.1f MB in fp32)\n", rep.loaded, rep.params_loaded,
             rep.params_loaded * 4.0 / 1e6);
    else
      pst_err_print(stderr, verbose);
    pst_model_destroy(pm);
  }
  pst_gguf_close(g);
  if (rc) fprintf(stderr, "pst: error: %s\n", why);
  else if (unsupported)
    fprintf(stderr, "pst: error: %s: %d tensor%s of types pst cannot dequantize (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)\n",
            path, unsupported, unsupported == 1 ? "" : "s");
  return rc || unsupported || lr ? 1 : 0;
}

/* A regular file (not a directory): a GGUF file to inspect. */
static int is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int pst_cmd_inspect_model(int argc, char **argv) {
  const char *dir = NULL;
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      inspect_usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "-v")) { verbose = 1; pst_log_level = 2; }
    else if (!strcmp(argv[i], "-q")) pst_log_level = 0;
    else if (argv[i][0] == '-') {
      fprintf(stderr, "pst inspect-model: unknown option '%s'\n\n", argv[i]);
      inspect_usage(stderr);
      return 2;
    } else if (dir) {
      fprintf(stderr, "pst inspect-model: only one directory may be given ('%s' and '%s')\n", dir, argv[i]);
      return 2;
    } else dir = argv[i];
  }
  if (!dir) {
    fprintf(stderr, "pst inspect-model: no model directory given\n\n");
    inspect_usage(stderr);
    return 2;
  }
  if (is_file(dir)) return inspect_gguf(dir, verbose);

  pst_config cfg;
  pst_config_defaults(&cfg);
  int offset = 0, labels = 0;
  pst_model *m = NULL;
  pst_hf_report rep;
  pst_err rc = pst_hf_read_config(dir, &cfg, &offset);
  if (!rc) rc = pst_hf_read_num_labels(dir, &labels);
  if (!rc) {
    const int decoder = strcmp(cfg.arch, "bert") != 0;
    if (labels > 0) cfg.num_labels = labels;
    strcpy(cfg.task, decoder ? "lm" : cfg.num_labels == 1 ? "regress" : "classify");
    strcpy(cfg.method, "lora"); /* frozen W0, tiny trainables: the checkpoint's memory only */
    cfg.r1 = cfg.r2 = 1;
    cfg.seq_len = 1;
    rc = pst_config_finalize(&cfg);
  }
  if (!rc) rc = pst_model_create(&m, &cfg, 1, 1, NULL);
  if (!rc) rc = pst_hf_load_weights_report(dir, m, &rep);
  if (rc) {
    pst_err_print(stderr, verbose);
    pst_model_destroy(m);
    return 1;
  }

  long long count[G_COUNT] = {0}, total = 0, fresh = 0;
  pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < tabs[k]->n; i++) {
      const pst_tensor_info *t = &tabs[k]->t[i];
      int g = group_of(t->name);
      if (g < 0) continue;
      count[g] += (long long)t->numel;
      total += (long long)t->numel;
      if ((!strncmp(t->name, "pool.", 5) && !rep.pool_loaded) || (!strncmp(t->name, "cls.", 4) && !rep.cls_loaded))
        fresh += (long long)t->numel;
    }

  const int gpt2 = !strcmp(cfg.arch, "gpt2"), llama = !strcmp(cfg.arch, "llama");
  printf("model directory  %s\n", dir);
  printf("architecture     %s (config.json model_type '%s'; tensor prefix %s%s%s; %s)\n", cfg.arch, rep.model_type,
         rep.prefix[0] ? "'" : "", rep.prefix[0] ? rep.prefix : "none", rep.prefix[0] ? "'" : "",
         gpt2    ? "pre-LN decoder, LM head tied to emb.tok"
         : llama ? "RMSNorm decoder with rotary positions, SwiGLU and grouped-query attention"
                 : "post-LN encoder");
  printf("dimensions       hidden %d, layers %d, heads %d (head dim %d)", cfg.hidden, cfg.layers, cfg.heads,
         cfg.hidden / cfg.heads);
  if (llama) printf(", kv heads %d", cfg.kv_heads ? cfg.kv_heads : cfg.heads);
  printf(", ffn %d, vocab %d\n", cfg.ffn, cfg.vocab);
  printf("                 positions %d", cfg.max_positions);
  if (offset) printf(" (position ids start at model.position_offset = %d)", offset);
  if (!gpt2 && !llama) printf(", token types %d", cfg.type_vocab);
  printf(", %s eps %g, activation %s\n", llama ? "RMSNorm" : "layer-norm", cfg.ln_eps, cfg.activation);
  if (llama) {
    printf("                 rope theta %g, rope scaling %s", cfg.rope_theta, cfg.rope_scaling);
    if (strcmp(cfg.rope_scaling, "none")) printf(" x%g", cfg.rope_factor);
    printf("; biases: qkv %s, o %s, mlp %s\n", cfg.qkv_bias ? "yes" : "no", cfg.o_bias ? "yes" : "no",
           cfg.mlp_bias ? "yes" : "no");
  }
  printf("parameters\n");
  print_count(GROUP_NAMES[G_EMB], count[G_EMB], "");
  print_count(GROUP_NAMES[G_LIN], count[G_LIN], "");
  print_count(GROUP_NAMES[G_LN], count[G_LN], "");
  if (!gpt2 && !llama) {
    char note[160];
    snprintf(note, sizeof note, "pooler %s, classifier (%d label%s) %s", rep.pool_loaded ? "loaded" : "fresh",
             cfg.num_labels, cfg.num_labels == 1 ? "" : "s", rep.cls_loaded ? "loaded" : "fresh");
    print_count(GROUP_NAMES[G_HEAD], count[G_HEAD], note);
  } else {
    print_count(GROUP_NAMES[G_HEAD], count[G_HEAD], cfg.tie_embeddings || gpt2 ? "tied to emb.tok" : "lm_head.weight");
  }
  print_count("total", total, "");
  print_count("from checkpoint", rep.params_loaded, fresh ? "(the rest is a fresh head)" : "");
  printf("files read\n");
  for (int i = 0; i < rep.nfiles && i < PST_HF_MAX_FILES; i++) {
    char path[PST_PATH_MAX + 300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rep.files[i]);
    if (stat(path, &sb) == 0) printf("  %s  (%lld bytes)\n", path, (long long)sb.st_size);
    else printf("  %s\n", path);
  }
  if (rep.nfiles > PST_HF_MAX_FILES) printf("  ... and %d more\n", rep.nfiles - PST_HF_MAX_FILES);
  if (rep.ignored)
    printf("checkpoint tensors not used by pst: %d%s\n", rep.ignored, verbose ? " (listed on stderr)" : " (-v lists them)");
  pst_model_destroy(m);
  return 0;
}
