/* config.c — the table of run-config keys and the INI/override parser built on inih. */
#include "pst/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { K_INT, K_LONG, K_U64, K_DOUBLE, K_BOOL, K_ENUM, K_STR } key_type;

typedef struct {
  const char *section, *key;
  key_type type;
  size_t offset, size;   /* field in pst_config; size for strings */
  const char *def;       /* default as text */
  double lo, hi;         /* numeric range (inclusive) */
  const char *allowed;   /* K_ENUM: '|'-separated values */
  const char *help;
} key_def;

#define F(field) offsetof(pst_config, field), sizeof(((pst_config *)0)->field)
#define BIG 1e300
#define PST_INI_MAX_LINE 200 /* INI_MAX_LINE of Debian's libinih */

static const key_def KEYS[] = {
    {"model", "arch", K_ENUM, F(arch), "bert", 0, 0, "bert|gpt2|llama", "architecture: BERT/RoBERTa encoder (post-LN), GPT-2 decoder (pre-LN) or LLaMA-family decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention)"},
    {"model", "hidden", K_INT, F(hidden), "64", 1, 65536, NULL, "hidden size"},
    {"model", "layers", K_INT, F(layers), "2", 1, 1024, NULL, "number of transformer blocks"},
    {"model", "heads", K_INT, F(heads), "4", 1, 1024, NULL, "attention heads (must divide hidden)"},
    {"model", "kv_heads", K_INT, F(kv_heads), "0", 0, 1024, NULL, "llama: key/value heads of grouped-query attention (divides heads); 0 = heads"},
    {"model", "ffn", K_INT, F(ffn), "256", 1, 1 << 20, NULL, "feed-forward inner size"},
    {"model", "vocab", K_INT, F(vocab), "1000", 2, 1 << 24, NULL, "vocabulary size"},
    {"model", "max_positions", K_INT, F(max_positions), "128", 1, 1 << 20, NULL, "position embeddings"},
    {"model", "type_vocab", K_INT, F(type_vocab), "2", 1, 1024, NULL, "token types (bert)"},
    {"model", "position_offset", K_INT, F(position_offset), "0", 0, 1 << 20, NULL, "first position id (roberta: 2)"},
    {"model", "ln_eps", K_DOUBLE, F(ln_eps), "0", 0, 1, NULL, "layer-norm (llama: RMSNorm) epsilon; 0 = bert 1e-12, gpt2 1e-5, llama 1e-6"},
    {"model", "activation", K_ENUM, F(activation), "auto", 0, 0, "auto|gelu_erf|gelu_tanh|silu", "auto = gelu_erf for bert, gelu_tanh for gpt2, silu (SwiGLU) for llama"},
    {"model", "rope_theta", K_DOUBLE, F(rope_theta), "10000", 1e-300, BIG, NULL, "llama: rotary embedding base"},
    {"model", "rope_scaling", K_ENUM, F(rope_scaling), "none", 0, 0, "none|linear|llama3", "llama: rotary frequency scaling (Hugging Face rope_scaling rope_type)"},
    {"model", "rope_factor", K_DOUBLE, F(rope_factor), "1", 1e-300, BIG, NULL, "llama: rope_scaling factor (linear: positions / factor; llama3: low frequencies / factor)"},
    {"model", "rope_low_freq_factor", K_DOUBLE, F(rope_low_freq_factor), "1", 1e-300, BIG, NULL, "llama: rope_scaling llama3 low_freq_factor"},
    {"model", "rope_high_freq_factor", K_DOUBLE, F(rope_high_freq_factor), "4", 1e-300, BIG, NULL, "llama: rope_scaling llama3 high_freq_factor"},
    {"model", "rope_original_max_positions", K_INT, F(rope_original_max_positions), "8192", 1, 1 << 24, NULL, "llama: rope_scaling llama3 original_max_position_embeddings"},
    {"model", "qkv_bias", K_BOOL, F(qkv_bias), "false", 0, 0, NULL, "llama: q, k, v have biases (Qwen2; Llama attention_bias)"},
    {"model", "o_bias", K_BOOL, F(o_bias), "false", 0, 0, NULL, "llama: the attention output has a bias (Llama attention_bias)"},
    {"model", "mlp_bias", K_BOOL, F(mlp_bias), "false", 0, 0, NULL, "llama: gate, up, down have biases (mlp_bias)"},
    {"model", "tie_embeddings", K_BOOL, F(tie_embeddings), "true", 0, 0, NULL, "llama: the LM head is the token embedding (false: its own frozen head.w)"},
    {"model", "num_labels", K_INT, F(num_labels), "2", 1, 1 << 20, NULL, "bert head outputs; 1 = regression (MSE)"},
    {"model", "weights", K_STR, F(weights), "", 0, 0, NULL, "safetensors file of pst tensor names; empty = random init"},
    {"model", "gguf", K_STR, F(gguf), "", 0, 0, NULL, "GGUF model file (llama family): dimensions, weights (dequantized to fp32) and tokenizer"},
    {"model", "hf_dir", K_STR, F(hf_dir), "", 0, 0, NULL, "Hugging Face model directory (config.json, safetensors, tokenizer); sets the model.* dimensions"},
    {"model", "train_head", K_BOOL, F(train_head), "true", 0, 0, NULL, "train pooler + classifier (false = official code's frozen head)"},
    {"model", "init_std", K_DOUBLE, F(init_std), "0.02", 0, 10, NULL, "std of random frozen weights"},
    {"pst", "method", K_ENUM, F(method), "pst", 0, 0, "pst|dense|lora|magnitude|movement|soft-movement|magnitude-full|movement-full", "sparsification method: pst; dense = full fine-tuning (every tensor trains, no mask); lora; magnitude / movement / soft-movement = masks over W0 + UV (low-rank update); magnitude-full / movement-full = the paper's baselines (full fine-tuning, masked by |W0| or a trainable score)"},
    {"pst", "r1", K_INT, F(r1), "8", 1, 4096, NULL, "rank of the importance factors A B"},
    {"pst", "r2", K_INT, F(r2), "8", 1, 4096, NULL, "rank of the weight update U V"},
    {"pst", "alpha1", K_DOUBLE, F(alpha1), "1", -BIG, BIG, NULL, "scale of A B in the score"},
    {"pst", "alpha2", K_DOUBLE, F(alpha2), "1", -BIG, BIG, NULL, "scale of R + C in the score"},
    {"pst", "beta", K_DOUBLE, F(beta), "1", -BIG, BIG, NULL, "scale of U V in W'"},
    {"pst", "sparsity_init", K_DOUBLE, F(sparsity_init), "0", 0, 1, NULL, "sparsity at the start"},
    {"pst", "sparsity_final", K_DOUBLE, F(sparsity_final), "0.9", 0, 1, NULL, "target sparsity"},
    {"pst", "warmup_frac", K_DOUBLE, F(warmup_frac), "0.1", 0, 1, NULL, "fraction of steps at sparsity_init"},
    {"pst", "cooldown_frac", K_DOUBLE, F(cooldown_frac), "0.3", 0, 1, NULL, "fraction of steps at sparsity_final"},
    {"pst", "threshold", K_DOUBLE, F(threshold), "0", -BIG, BIG, NULL, "soft-movement: keep weights whose score exceeds it"},
    {"pst", "detach_magnitude", K_BOOL, F(detach_magnitude), "false", 0, 0, NULL, "drop the gradient through |W'| into U V"},
    {"optim", "lr", K_DOUBLE, F(lr), "5e-5", 0, 10, NULL, "peak learning rate"},
    {"optim", "weight_decay", K_DOUBLE, F(weight_decay), "0.01", 0, 10, NULL, "decoupled weight decay (matrices only)"},
    {"optim", "beta1", K_DOUBLE, F(beta1), "0.9", 0, 0.999999, NULL, "Adam beta1"},
    {"optim", "beta2", K_DOUBLE, F(beta2), "0.999", 0, 0.99999999, NULL, "Adam beta2"},
    {"optim", "eps", K_DOUBLE, F(eps), "1e-8", 0, 1, NULL, "Adam epsilon"},
    {"optim", "warmup_steps", K_INT, F(warmup_steps), "0", 0, 1 << 30, NULL, "linear LR warm-up steps (0: optim.warmup_ratio)"},
    {"optim", "warmup_ratio", K_DOUBLE, F(warmup_ratio), "0", 0, 1, NULL, "linear LR warm-up as a fraction of the steps, rounded up (used when warmup_steps = 0)"},
    {"optim", "max_grad_norm", K_DOUBLE, F(max_grad_norm), "1", 0, BIG, NULL, "global gradient-norm clip; 0 = off"},
    {"optim", "label_smoothing", K_DOUBLE, F(label_smoothing), "0", 0, 1, NULL, "cross-entropy label smoothing"},
    {"optim", "grad_accum", K_INT, F(grad_accum), "1", 1, 1 << 20, NULL, "micro-batches per optimizer step"},
    {"train", "steps", K_LONG, F(steps), "0", 0, 1e15, NULL, "optimizer steps; 0 = epochs x batches"},
    {"train", "epochs", K_INT, F(epochs), "1", 1, 1 << 20, NULL, "passes over the training data"},
    {"train", "batch_size", K_INT, F(batch_size), "32", 1, 1 << 20, NULL, "sequences per micro-batch"},
    {"train", "seq_len", K_INT, F(seq_len), "128", 1, 1 << 20, NULL, "tokens per sequence (pad/truncate)"},
    {"train", "padding", K_ENUM, F(padding), "longest", 0, 0, "longest|seq_len", "pad each batch to its longest example (rounded up to a multiple of 8, at most seq_len) or always to seq_len"},
    {"train", "seed", K_U64, F(seed), "42", 0, 0, NULL, "random seed"},
    {"train", "log_every", K_INT, F(log_every), "1", 1, 1 << 30, NULL, "progress line every N steps"},
    {"train", "eval_every", K_INT, F(eval_every), "0", 0, 1 << 30, NULL, "dev evaluation every N steps; 0 = each epoch"},
    {"train", "threads", K_INT, F(threads), "0", 0, 4096, NULL, "OpenMP/BLAS threads; 0 = all cores"},
    {"train", "device", K_ENUM, F(device), "auto", 0, 0, "auto|cpu|cuda", "where the step runs: auto/cuda look for a CUDA device (builds with --with-cuda) and fall back to the CPU with a message"},
    {"train", "run_dir", K_STR, F(run_dir), "runs/default", 0, 0, NULL, "output directory (metrics.jsonl, config.ini)"},
    {"dist", "tp", K_INT, F(tp), "1", 1, 4096, NULL, "tensor-parallel ranks per model replica (divides the job's ranks, heads and ffn); dp = ranks / tp"},
    {"dist", "check_replicas", K_INT, F(check_replicas), "0", 0, 1 << 30, NULL, "every N steps verify that all replicas hold bit-identical trainables (0 = never)"},
    {"dist", "rank_logs", K_BOOL, F(rank_logs), "false", 0, 0, NULL, "every rank also logs to run_dir/logs/rank-N.log (rank 0 prints)"},
    {"ckpt", "every", K_INT, F(ckpt_every), "0", 0, 1 << 30, NULL, "write a checkpoint every N steps (0 = only at the end and on SIGTERM/SIGUSR1)"},
    {"ckpt", "every_minutes", K_DOUBLE, F(ckpt_every_minutes), "0", 0, 1e9, NULL, "also write a checkpoint when this many minutes of wall time passed since the last one (rank 0's clock; 0 = off)"},
    {"ckpt", "sparse", K_BOOL, F(ckpt_sparse), "false", 0, 0, NULL, "every checkpoint also holds the sparse model (CSR of M ⊙ W'); false: only the final one (resume does not need it; pst export writes it from any)"},
    {"ckpt", "mpiio_hints", K_STR, F(ckpt_mpiio_hints), "", 0, 0, NULL, "MPI-IO hints for writing checkpoints, key=value[,key=value...] (e.g. striping_factor=8,striping_unit=4194304,cb_nodes=4), given to MPI_File_open through HDF5"},
    {"ckpt", "keep", K_INT, F(ckpt_keep), "2", 1, 1 << 20, NULL, "checkpoints kept (older ones are deleted after a new one is complete)"},
    {"ckpt", "dir", K_STR, F(ckpt_dir), "", 0, 0, NULL, "checkpoint directory; empty = run_dir/checkpoints"},
    {"ckpt", "resume", K_STR, F(ckpt_resume), "none", 0, 0, NULL, "none | auto (newest valid checkpoint of ckpt.dir, else start fresh) | a checkpoint file (also --resume)"},
    {"data", "task", K_ENUM, F(task), "classify", 0, 0, "classify|regress|lm", "training objective"},
    {"data", "train", K_STR, F(train_path), "", 0, 0, NULL, "training data file (format glue: the glue_data task folder or its train.tsv)"},
    {"data", "dev", K_STR, F(dev_path), "", 0, 0, NULL, "dev data, same format (optional)"},
    {"data", "dev_max", K_LONG, F(dev_max), "0", 0, 1e15, NULL, "evaluate only the first N dev examples (0 = all)"},
    {"data", "format", K_ENUM, F(format), "ids", 0, 0, "ids|glue|tsv|csv|jsonl|e2e|e2e_lora|dart|webnlg|prep", "ids: label<TAB>token ids; glue/tsv/csv/jsonl: text, tokenized with data.tokenizer; e2e/e2e_lora/dart/webnlg: data-to-text pairs for lm; prep: a `pst prep` HDF5 file"},
    {"data", "glue_task", K_STR, F(glue_task), "", 0, 0, NULL, "format = glue: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI"},
    {"data", "text_a", K_STR, F(text_a), "sentence", 0, 0, NULL, "tsv/csv/jsonl: column of the first text"},
    {"data", "text_b", K_STR, F(text_b), "", 0, 0, NULL, "tsv/csv/jsonl: column of the second text (empty: none)"},
    {"data", "label", K_STR, F(label), "label", 0, 0, NULL, "tsv/csv/jsonl: column of the label"},
    {"data", "group_by_length", K_BOOL, F(group_by_length), "false", 0, 0, NULL, "train on batches of similar length: each run of 50 steps' examples of the shuffled data is sorted by length, longest first (Hugging Face's group_by_length)"},
    {"data", "bad_rows", K_ENUM, F(bad_rows), "fail", 0, 0, "fail|skip", "malformed rows stop the run or are skipped (and counted)"},
    {"data", "tokenizer", K_STR, F(tokenizer), "", 0, 0, NULL, "tokenizer directory (vocab.txt or vocab.json + merges.txt); empty = model.hf_dir"},
    {"generate", "max_new_tokens", K_INT, F(gen_max_new_tokens), "64", 1, 1 << 20, NULL, "new tokens at most"},
    {"generate", "min_new_tokens", K_INT, F(gen_min_new_tokens), "0", 0, 1 << 20, NULL, "end-of-sequence banned before this many new tokens"},
    {"generate", "num_beams", K_INT, F(gen_num_beams), "1", 1, 1 << 20, NULL, "beam size; 1 = greedy (or sampling)"},
    {"generate", "length_penalty", K_DOUBLE, F(gen_length_penalty), "1", -BIG, BIG, NULL, "beam: finished hypotheses score sum log p / length^length_penalty"},
    {"generate", "no_repeat_ngram_size", K_INT, F(gen_no_repeat_ngram), "0", 0, 1 << 20, NULL, "no n-gram of this size occurs twice (0 = off)"},
    {"generate", "early_stopping", K_BOOL, F(gen_early_stopping), "false", 0, 0, NULL, "beam: stop once num_beams hypotheses are finished (false: transformers' heuristic)"},
    {"generate", "do_sample", K_BOOL, F(gen_do_sample), "false", 0, 0, NULL, "sample instead of argmax (num_beams = 1)"},
    {"generate", "temperature", K_DOUBLE, F(gen_temperature), "1", 1e-6, BIG, NULL, "sampling temperature"},
    {"generate", "top_k", K_INT, F(gen_top_k), "0", 0, 1 << 30, NULL, "sampling: keep the k most likely tokens (0 = off)"},
    {"generate", "top_p", K_DOUBLE, F(gen_top_p), "1", 1e-9, 1, NULL, "sampling: keep the most likely tokens up to this probability mass"},
    {"generate", "batch", K_INT, F(gen_batch), "8", 1, 1 << 20, NULL, "prompts decoded together"},
    {"eval", "generate", K_BOOL, F(eval_generate), "false", 0, 0, NULL, "data-to-text: decode the dev inputs with [generate] at each evaluation and score them (BLEU selects the best)"},
    {"eval", "generate_max", K_LONG, F(eval_generate_max), "0", 0, 1e15, NULL, "decode only the first N dev inputs (0 = all)"},
    {"eval", "sparse", K_ENUM, F(eval_sparse), "auto", 0, 0, "auto|on|off", "evaluation and generation (never training) run each masked linear on the sparse kernels (CSR, include/pst/sparse.h): auto = where its kept share is below the measured crossover (bench/RESULTS.md), on = every masked linear, off = none"},
    {"eval", "meteor_jar", K_STR, F(meteor_jar), "", 0, 0, NULL, "METEOR 1.5 jar for the scores (empty: PST_METEOR_JAR or the reference stack; else METEOR is reported unavailable)"},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

static const key_def *find_key(const char *section, const char *key) {
  for (int i = 0; i < NKEYS; i++)
    if (!strcmp(KEYS[i].section, section) && !strcmp(KEYS[i].key, key)) return &KEYS[i];
  return NULL;
}

static int enum_allowed(const char *allowed, const char *v) {
  size_t n = strlen(v);
  for (const char *p = allowed; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !strncmp(p, v, n)) return 1;
    if (!bar) break;
    p = bar + 1;
  }
  return 0;
}

/* Parse value text into the field of k; `where` names the origin for messages. */
static pst_err set_value(pst_config *cfg, const key_def *k, const char *value, const char *where) {
  char *field = (char *)cfg + k->offset;
  char *end = NULL;
  errno = 0;
  switch (k->type) {
    case K_INT:
    case K_LONG: {
      long long v = strtoll(value, &end, 10);
      if (errno || end == value || *end)
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = '%s' is not an integer", where, k->section, k->key, value);
      if ((double)v < k->lo || (double)v > k->hi)
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = %lld is out of range [%.0f, %.0f]", where, k->section,
                k->key, v, k->lo, k->hi);
      if (k->type == K_INT) *(int *)field = (int)v;
      else *(long *)field = (long)v;
      return PST_OK;
    }
    case K_U64: {
      const char *nb = value;
      while (*nb == ' ' || *nb == '\t') nb++;
      if (nb[0] == '-')
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = '%s' must be a non-negative integer", where, k->section, k->key, value);
      unsigned long long v = strtoull(value, &end, 10);
      if (errno || end == value || *end)
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = '%s' is not a non-negative integer", where, k->section, k->key, value);
      *(uint64_t *)field = (uint64_t)v;
      return PST_OK;
    }
    case K_DOUBLE: {
      double v = strtod(value, &end);
      if (errno || end == value || *end || !isfinite(v))
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = '%s' is not a finite number", where, k->section, k->key, value);
      if (v < k->lo || v > k->hi)
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = %g is out of range [%g, %g]", where, k->section, k->key, v,
                k->lo, k->hi);
      *(double *)field = v;
      return PST_OK;
    }
    case K_BOOL:
      if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes")) *(int *)field = 1;
      else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no")) *(int *)field = 0;
      else PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = '%s': allowed values are true|false", where, k->section, k->key, value);
      return PST_OK;
    case K_ENUM:
      if (!enum_allowed(k->allowed, value))
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s = '%s': allowed values are %s", where, k->section, k->key, value, k->allowed);
      /* fall through: stored like a string */
      __attribute__((fallthrough));
    case K_STR:
      if (strpbrk(value, "\n\r"))
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s contains a line break", where, k->section, k->key);
      if (strlen(value) >= k->size)
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s is longer than %zu characters", where, k->section, k->key, k->size - 1);
      if (strlen(k->key) + 3 + strlen(value) > PST_INI_MAX_LINE - 1) /* "key = value" must re-load */
        PST_ERR(PST_ERR_CONFIG, "%s: %s.%s is longer than %zu characters (INI line limit)", where, k->section,
                k->key, (size_t)PST_INI_MAX_LINE - 4 - strlen(k->key));
      memcpy(field, value, strlen(value) + 1);
      return PST_OK;
  }
  PST_ERR(PST_ERR_INTERNAL, "bad key type");
}

void pst_config_defaults(pst_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < NKEYS; i++) {
    pst_err rc = set_value(cfg, &KEYS[i], KEYS[i].def, "defaults");
    if (rc) { pst_err_print(stderr, 1); abort(); } /* a bad default is a bug */
  }
}

typedef struct {
  pst_config *cfg;
  pst_err rc;
  char msg[1024]; /* first error, without the line number */
  FILE *f;
  int line, err_line, too_long;
  int seen_line[sizeof KEYS / sizeof KEYS[0]]; /* line where each key was set, 0 = not yet */
} ini_ctx;

/* inih reader: counts physical lines and refuses lines inih would split */
static char *read_ini_line(char *str, int num, void *stream) {
  ini_ctx *ctx = stream;
  if (ctx->too_long || !fgets(str, num, ctx->f)) return NULL;
  ctx->line++;
  size_t n = strlen(str);
  if (n == (size_t)num - 1 && str[n - 1] != '\n') {
    int c = getc(ctx->f);
    if (c != '\n' && c != EOF) { ctx->too_long = 1; return NULL; }
  }
  return str;
}

/* inih callback: Debian's inih passes no line number, so the message is kept here with the
 * line counted by read_ini_line and reported by pst_config_load. */
static int on_ini_key(void *user, const char *section, const char *name, const char *value) {
  ini_ctx *ctx = user;
  if (ctx->rc) return 0;
  const key_def *k = find_key(section, name);
  if (!k) {
    int known_section = 0;
    for (int i = 0; i < NKEYS; i++) known_section |= !strcmp(KEYS[i].section, section);
    if (!known_section)
      snprintf(ctx->msg, sizeof ctx->msg, "unknown section [%s] (sections: model, pst, optim, train, dist, ckpt, data)", section);
    else
      snprintf(ctx->msg, sizeof ctx->msg, "unknown key '%s' in [%s] (see `pst train --help` for the keys)", name, section);
    ctx->rc = PST_ERR_CONFIG;
    ctx->err_line = ctx->line;
    return 0;
  }
  ctx->err_line = ctx->line;
  int *seen = &ctx->seen_line[k - KEYS];
  if (*seen) { /* a key given twice: the later would silently win */
    snprintf(ctx->msg, sizeof ctx->msg, "%s.%s is given twice (lines %d and %d); give it once", k->section, k->key,
             *seen, ctx->line);
    ctx->rc = PST_ERR_CONFIG;
    return 0;
  }
  *seen = ctx->line;
  ctx->rc = set_value(ctx->cfg, k, value, "");
  if (ctx->rc) {
    snprintf(ctx->msg, sizeof ctx->msg, "%s", pst_err_message() + 2); /* drop the empty "where: " */
    pst_err_clear();
  }
  return ctx->rc == PST_OK;
}

pst_err pst_config_load(pst_config *cfg, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) PST_ERR(PST_ERR_IO, "cannot open config '%s': %s", path, strerror(errno));
  ini_ctx ctx = {cfg, PST_OK, "", f, 0, 0, 0, {0}};
  int line = ini_parse_stream(read_ini_line, &ctx, on_ini_key, &ctx);
  fclose(f);
  if (ctx.too_long) PST_ERR(PST_ERR_CONFIG, "%s:%d: line longer than %d characters", path, ctx.line, PST_INI_MAX_LINE - 1);
  if (ctx.rc && !(line && line < ctx.err_line)) PST_ERR(ctx.rc, "%s:%d: %s", path, ctx.err_line, ctx.msg);
  if (line != 0) PST_ERR(PST_ERR_CONFIG, "%s:%d: syntax error (expected [section] or key = value)", path, line);
  /* relative paths in the file resolve against the file's directory */
  const char *slash = strrchr(path, '/');
  if (slash) {
    size_t n = (size_t)(slash - path);
    if (n >= sizeof cfg->base_dir) PST_ERR(PST_ERR_CONFIG, "config path too long: %s", path);
    memcpy(cfg->base_dir, path, n);
    cfg->base_dir[n] = 0;
  } else {
    strcpy(cfg->base_dir, ".");
  }
  return PST_OK;
}

pst_err pst_config_set(pst_config *cfg, const char *assignment) {
  const char *eq = strchr(assignment, '=');
  const char *dot = strchr(assignment, '.');
  if (!eq || !dot || dot > eq)
    PST_ERR(PST_ERR_CONFIG, "override '%s' is not of the form section.key=value", assignment);
  char section[64], key[64];
  size_t ns = (size_t)(dot - assignment), nk = (size_t)(eq - dot - 1);
  if (ns >= sizeof section || nk >= sizeof key) PST_ERR(PST_ERR_CONFIG, "override '%s': name too long", assignment);
  memcpy(section, assignment, ns);
  section[ns] = 0;
  memcpy(key, dot + 1, nk);
  key[nk] = 0;
  const key_def *k = find_key(section, key);
  if (!k) PST_ERR(PST_ERR_CONFIG, "override '%s': unknown key %s.%s (see `pst train --help`)", assignment, section, key);
  PST_CHECK(set_value(cfg, k, eq + 1, "command line"));
  return PST_OK;
}

pst_err pst_config_finalize(pst_config *cfg) {
  const int gpt2 = !strcmp(cfg->arch, "gpt2"), llama = !strcmp(cfg->arch, "llama"), decoder = gpt2 || llama;
  if (cfg->ln_eps == 0) cfg->ln_eps = gpt2 ? 1e-5 : llama ? 1e-6 : 1e-12;
  if (!strcmp(cfg->activation, "auto")) strcpy(cfg->activation, gpt2 ? "gelu_tanh" : llama ? "silu" : "gelu_erf");
  if (llama != !strcmp(cfg->activation, "silu"))
    PST_ERR(PST_ERR_CONFIG, "model.activation = %s does not fit model.arch = %s (llama: silu; bert, gpt2: gelu_erf or "
            "gelu_tanh)", cfg->activation, cfg->arch);
  if (cfg->hidden % cfg->heads)
    PST_ERR(PST_ERR_CONFIG, "model.hidden = %d is not divisible by model.heads = %d", cfg->hidden, cfg->heads);
  /* kv_heads 0 stays 0 and means "= heads" (the model resolves it), so that a later
   * model.heads from model.hf_dir / model.gguf is not checked against a stale copy */
  if (!llama && cfg->kv_heads && cfg->kv_heads != cfg->heads)
    PST_ERR(PST_ERR_CONFIG, "model.kv_heads = %d: grouped-query attention needs model.arch = llama", cfg->kv_heads);
  if (cfg->kv_heads && cfg->heads % cfg->kv_heads)
    PST_ERR(PST_ERR_CONFIG, "model.heads = %d is not divisible by model.kv_heads = %d", cfg->heads, cfg->kv_heads);
  if (llama && (cfg->hidden / cfg->heads) % 2)
    PST_ERR(PST_ERR_CONFIG, "model.hidden / model.heads = %d must be even for rotary embeddings", cfg->hidden / cfg->heads);
  if (!strcmp(cfg->rope_scaling, "llama3") && !(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
    PST_ERR(PST_ERR_CONFIG, "model.rope_high_freq_factor = %g must exceed model.rope_low_freq_factor = %g",
            cfg->rope_high_freq_factor, cfg->rope_low_freq_factor);
  for (const char *h = cfg->ckpt_mpiio_hints; *h;) { /* key=value items separated by commas */
    const char *end = strchr(h, ','), *eq = strchr(h, '=');
    const int len = end ? (int)(end - h) : (int)strlen(h);
    const long k = eq ? (long)(eq - h) : -1; /* key length: 1..255 (MPI_MAX_INFO_KEY), a value after it */
    if (k < 1 || k >= len - 1 || k > 255 || strcspn(h, " \t") < (size_t)len)
      PST_ERR(PST_ERR_CONFIG, "ckpt.mpiio_hints: '%.*s' is not key=value (items separated by commas, no blanks)", len, h);
    h += len + (end ? 1 : 0);
  }
  if (cfg->seq_len + cfg->position_offset > cfg->max_positions)
    PST_ERR(PST_ERR_CONFIG, "train.seq_len = %d (+ model.position_offset = %d) exceeds model.max_positions = %d",
            cfg->seq_len, cfg->position_offset, cfg->max_positions);
  /* with model.hf_dir or model.gguf the architecture comes from the model: checked once it is read */
  const int arch_known = !cfg->hf_dir[0] && !cfg->gguf[0];
  if (arch_known && decoder && strcmp(cfg->task, "lm"))
    PST_ERR(PST_ERR_CONFIG, "model.arch = %s needs data.task = lm (got '%s')", cfg->arch, cfg->task);
  if (arch_known && !decoder && !strcmp(cfg->task, "lm"))
    PST_ERR(PST_ERR_CONFIG, "data.task = lm needs model.arch = gpt2 or llama");
  if (!strcmp(cfg->task, "regress") && cfg->num_labels != 1)
    PST_ERR(PST_ERR_CONFIG, "data.task = regress needs model.num_labels = 1 (got %d)", cfg->num_labels);
  if (!strcmp(cfg->task, "classify") && cfg->num_labels < 2)
    PST_ERR(PST_ERR_CONFIG, "data.task = classify needs model.num_labels >= 2 (got %d)", cfg->num_labels);
  if (cfg->warmup_frac + cfg->cooldown_frac > 1)
    PST_ERR(PST_ERR_CONFIG, "pst.warmup_frac + pst.cooldown_frac = %g exceeds 1", cfg->warmup_frac + cfg->cooldown_frac);
  if (cfg->r1 > cfg->hidden || cfg->r2 > cfg->hidden)
    PST_ERR(PST_ERR_CONFIG, "pst.r1/r2 (%d/%d) must not exceed model.hidden = %d", cfg->r1, cfg->r2, cfg->hidden);
  return PST_OK;
}

void pst_config_path(const pst_config *cfg, const char *path, char *out, size_t outsz) {
  if (path[0] == '/' || !cfg->base_dir[0] || !strcmp(cfg->base_dir, "."))
    snprintf(out, outsz, "%s", path);
  else
    snprintf(out, outsz, "%s/%s", cfg->base_dir, path);
}

static void print_value(const pst_config *cfg, const key_def *k, FILE *f) {
  const char *field = (const char *)cfg + k->offset;
  switch (k->type) {
    case K_INT: fprintf(f, "%d", *(const int *)field); break;
    case K_LONG: fprintf(f, "%ld", *(const long *)field); break;
    case K_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case K_DOUBLE: fprintf(f, "%.17g", *(const double *)field); break;
    case K_BOOL: fputs(*(const int *)field ? "true" : "false", f); break;
    case K_ENUM:
    case K_STR: fputs(field, f); break;
  }
}

void pst_config_write(const pst_config *cfg, FILE *f) {
  const char *section = "";
  for (int i = 0; i < NKEYS; i++) {
    if (strcmp(section, KEYS[i].section)) {
      section = KEYS[i].section;
      fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
    }
    fprintf(f, "%s = ", KEYS[i].key);
    print_value(cfg, &KEYS[i], f);
    fputc('\n', f);
  }
}

void pst_config_help(FILE *f) {
  for (int i = 0; i < NKEYS; i++) {
    const key_def *k = &KEYS[i];
    char name[64];
    snprintf(name, sizeof name, "%s.%s", k->section, k->key);
    fprintf(f, "  %-22s %-12s %s", name, k->def[0] ? k->def : "\"\"", k->help);
    if (k->allowed) fprintf(f, " [%s]", k->allowed);
    fputc('\n', f);
  }
}
