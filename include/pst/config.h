/* config.h — the run configuration: INI file (inih) plus "section.key=value" overrides.
 *
 * One table (src/core/config.c) lists every key with its type, default, range or allowed
 * values and a help line; parsing, validation, --help and the resolved-config dump all read
 * that table, so a key is declared exactly once. Unknown keys and bad values are errors
 * that name the file, line and key and list what is allowed. */
#ifndef PST_CONFIG_H
#define PST_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "pst/core.h"

#define PST_PATH_MAX 1024

typedef struct pst_config {
  /* [model] */
  char arch[16];            /* bert | gpt2 | llama */
  int hidden, layers, heads, ffn, vocab, max_positions, type_vocab;
  int kv_heads;             /* llama: key/value heads (0 = heads until finalize) */
  double rope_theta, rope_factor, rope_low_freq_factor, rope_high_freq_factor;
  char rope_scaling[16];    /* none | linear | llama3 */
  int rope_original_max_positions;
  int qkv_bias, o_bias, mlp_bias, tie_embeddings;
  char gguf[PST_PATH_MAX];  /* GGUF model file */
  int position_offset;      /* first position id (RoBERTa: padding_idx + 1 = 2) */
  double ln_eps;            /* 0 = the architecture's default (bert 1e-12, gpt2 1e-5) */
  char activation[16];      /* auto | gelu_erf | gelu_tanh | silu */
  int num_labels;           /* bert head: 1 = regression (MSE), >= 2 classification */
  char weights[PST_PATH_MAX]; /* safetensors with frozen (and optionally trainable) tensors; empty = random */
  char hf_dir[PST_PATH_MAX];  /* Hugging Face model directory: dimensions, weights, tokenizer */
  int train_head;
  double init_std;          /* std of random frozen weights when weights is empty */
  /* [pst] */
  char method[16];          /* pst | dense | lora | magnitude | movement | soft-movement | magnitude-full | movement-full */
  int r1, r2;
  double alpha1, alpha2, beta;
  double sparsity_init, sparsity_final, warmup_frac, cooldown_frac;
  double threshold;         /* soft-movement: keep where S > threshold */
  int detach_magnitude;
  /* [optim] */
  double lr, weight_decay, beta1, beta2, eps, max_grad_norm, label_smoothing;
  int warmup_steps, grad_accum;
  double warmup_ratio;      /* warm-up as a fraction of the steps when warmup_steps = 0 */
  /* [train] */
  long steps;               /* optimizer steps; 0 = epochs * batches per epoch */
  int epochs, batch_size, seq_len, log_every, threads;
  int eval_every;           /* dev evaluation every N steps; 0 = at the end of each epoch */
  uint64_t seed;
  char device[8];           /* auto | cpu | cuda */
  char run_dir[PST_PATH_MAX];
  /* [dist] */
  int tp;                   /* tensor-parallel size; dp = world / tp */
  int check_replicas;       /* verify replicas every N steps (0 = never) */
  int rank_logs;            /* each rank logs to run_dir/logs/rank-N.log */
  /* [ckpt] */
  int ckpt_every, ckpt_keep;
  int ckpt_sparse;          /* every checkpoint holds /sparse (else only the final one) */
  char ckpt_mpiio_hints[256]; /* MPI-IO hints for writing checkpoints: key=value[,key=value...] */
  double ckpt_every_minutes; /* also checkpoint when this much wall time passed since the last (0 = off) */
  char ckpt_dir[PST_PATH_MAX];
  char ckpt_resume[PST_PATH_MAX];  /* none | auto | path */
  /* [data] */
  char task[16];            /* classify | regress | lm */
  char train_path[PST_PATH_MAX];
  char dev_path[PST_PATH_MAX];
  long dev_max;             /* first N dev examples only (0 = all) */
  char format[16];          /* ids | glue | tsv | csv | jsonl | e2e | e2e_lora | dart | webnlg | prep */
  char glue_task[16];       /* format = glue: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI */
  char text_a[64], text_b[64], label[64]; /* tsv/csv/jsonl column names (text_b may be empty) */
  char bad_rows[8];         /* fail | skip */
  char padding[8];          /* longest | seq_len: a batch's tokens per sequence */
  int group_by_length;      /* sort runs of 50 steps' examples by length (training only) */
  char tokenizer[PST_PATH_MAX]; /* tokenizer directory; empty = model.hf_dir */
  /* [generate] decoding (generate.h), for `pst generate`, `pst eval` and eval.generate */
  int gen_max_new_tokens, gen_min_new_tokens, gen_num_beams, gen_no_repeat_ngram, gen_early_stopping;
  int gen_do_sample, gen_top_k, gen_batch;
  double gen_length_penalty, gen_temperature, gen_top_p;
  /* [eval] */
  int eval_generate;        /* data-to-text: decode and score the dev set at each evaluation */
  long eval_generate_max;   /* decode only the first N dev inputs (0 = all) */
  char meteor_jar[PST_PATH_MAX]; /* METEOR 1.5 jar (empty: look for it; unavailable otherwise) */
  char eval_sparse[8];      /* auto | on | off: sparse kernels for masked linears in inference */
  /* not a key: directory of the config file; relative paths resolve against it */
  char base_dir[PST_PATH_MAX];
} pst_config;

/* Fill every field with its default. */
void pst_config_defaults(pst_config *cfg);
/* Read an INI file over the current values (errors name path:line and the key). */
pst_err pst_config_load(pst_config *cfg, const char *path);
/* Apply one "section.key=value" override (errors name the argument). */
pst_err pst_config_set(pst_config *cfg, const char *assignment);
/* Cross-field checks (e.g. hidden divisible by heads) and arch-dependent defaults. */
pst_err pst_config_finalize(pst_config *cfg);
/* Write the resolved configuration as INI text (every key, current values). */
void pst_config_write(const pst_config *cfg, FILE *f);
/* Print the key table (section, key, default, allowed values, help) for --help. */
void pst_config_help(FILE *f);
/* Resolve a path from the config against base_dir into out (absolute paths unchanged). */
void pst_config_path(const pst_config *cfg, const char *path, char *out, size_t outsz);

#endif
