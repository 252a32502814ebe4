/* generate_cmd.c — `pst generate`: decode prompts with a base model, a checkpoint or a run
 * (decoder.c) and write one output per prompt in input order. Under MPI every rank decodes a
 * contiguous share of the prompts and rank 0 writes them all (dist.tp must be 1). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pst/blas.h"
#include "pst/cli.h"
#include "pst/dist.h"
#include "pst/generate.h"
#include "pst/nlgeval.h"
#include "pst/prompts.h"

static void generate_usage(FILE *f) {
  fprintf(f,
          "usage: pst generate (-c CONFIG.ini | --ckpt CKPT.h5 | --run RUN_DIR | --sparse FILE) [key=value ...]\n"
          "                    (--prompt TEXT ... | --prompts FILE [--format F]) [options] [-o OUT]\n\n"
          "Decodes with a GPT-2 or LLaMA-family model: the config's base model (zero-shot), a training\n"
          "checkpoint, or a run's best (else newest) checkpoint: the sparse model PST produced, masks\n"
          "applied; or a sparse inference file (pst export --format sparse), whose masked weights stay\n"
          "compressed (no dense copy in memory). Masked layers run on sparse kernels where that is\n"
          "faster (eval.sparse = auto | on | off). Semantics of transformers' generate(): greedy, beam\n"
          "search, sampling.\n\n"
          "Prompts:\n"
          "  --prompt TEXT          a prompt (repeatable)\n"
          "  --prompts FILE         prompts from a file; --format lines (default) | ids (token ids per line)\n"
          "                         | e2e | e2e_lora | dart | webnlg (the distinct inputs of a data-to-text\n"
          "                         file, encoded as in training: the output is the reference side)\n"
          "  --chat [--system TEXT] wrap each prompt in the model's chat template (ChatML or Llama 3)\n"
          "  --bos                  put the tokenizer's beginning-of-sequence token first\n"
          "  --template STR         each prompt becomes STR with {} replaced by it\n"
          "  --tokenizer DIR        the tokenizer (overrides data.tokenizer)\n"
          "Decoding (the [generate] keys; the same as generate.KEY=VALUE):\n"
          "  --max-new-tokens N  --min-new-tokens N  --beams K  --length-penalty X  --early-stopping\n"
          "  --no-repeat-ngram N  --sample  --temperature T  --top-k K  --top-p P  --batch N\n"
          "  --seed S             sampling seed (train.seed)\n"
          "  --eos ID             end-of-sequence id (repeatable; default: the tokenizer's, and the\n"
          "                       chat template's end of turn)   --no-eos  none\n"
          "  --stop STR           stop a sequence once its text contains STR (repeatable; greedy, sampling)\n"
          "Output (default: one text per line, newlines as spaces):\n"
          "  -o OUT               write OUT (atomically) instead of stdout\n"
          "  --ids                the new token ids, space-separated, instead of text\n"
          "  --json               one JSON object per prompt: prompt, text, ids, score, end\n"
          "Base model of a checkpoint: --hf-dir DIR, --gguf FILE, --weights FILE (default: where the run\n"
          "found it).  -v debug output, -q errors only.\n");
}

static void eval_usage(FILE *f) {
  fprintf(f,
          "usage: pst eval (-c CONFIG.ini | --ckpt CKPT.h5 | --run RUN_DIR | --sparse FILE) [key=value ...]\n"
          "                [--data FILE] [--format e2e|e2e_lora|dart|webnlg] [--max N] [decoding options]\n"
          "                [-o HYPOTHESES] [--scores SCORES.json]\n\n"
          "Decodes the distinct inputs of a data-to-text split (default: the config's data.dev and\n"
          "data.format; identical E2E inputs pool their references, as the official scripts do) with\n"
          "the [generate] decoding, and scores the outputs: BLEU (lowercased, as the E2E script's\n"
          "mteval run), NIST, METEOR (with java and meteor-1.5.jar, eval.meteor_jar; else reported\n"
          "unavailable), ROUGE-L, CIDEr-D, TER. The paper's decoding: --beams 10 --length-penalty 0.8\n"
          "--no-repeat-ngram 4. Options as pst generate's (see pst generate --help), and:\n"
          "  --max N              the first N inputs only\n"
          "  --template STR       zero-shot prompting: STR with {} replaced by the input (with --chat)\n"
          "  --tokenizer DIR      the tokenizer, when the checkpoint's relative data.tokenizer does not resolve\n"
          "  -o FILE              the hypotheses, one per line;  --scores FILE  the scores as JSON\n"
          "Under MPI the ranks split the inputs; rank 0 scores and writes.\n");
}

/* CLI flags that are [generate] keys: flag, key, 1 if the flag takes a value. */
static const struct {
  const char *flag, *key;
  int value;
} FLAG_KEYS[] = {
    {"--max-new-tokens", "generate.max_new_tokens", 1}, {"--min-new-tokens", "generate.min_new_tokens", 1},
    {"--beams", "generate.num_beams", 1},                {"--length-penalty", "generate.length_penalty", 1},
    {"--no-repeat-ngram", "generate.no_repeat_ngram_size", 1}, {"--early-stopping", "generate.early_stopping", 0},
    {"--sample", "generate.do_sample", 0},               {"--temperature", "generate.temperature", 1},
    {"--top-k", "generate.top_k", 1},                    {"--top-p", "generate.top_p", 1},
    {"--batch", "generate.batch", 1},                    {"--seed", "train.seed", 1},
};
#define NFLAGS ((int)(sizeof FLAG_KEYS / sizeof FLAG_KEYS[0]))

typedef struct {
  pst_decoder_src src;
  const char **prompt;
  int nprompt;
  const char *prompts_file, *format, *system, *out, *tmpl, *json_out;
  int chat, bos, ids, json, no_eos;
  long max;          /* eval: the first N inputs only (0 = all) */
  int eval;          /* pst eval */
  int32_t eos[16];
  int neos;
  const char *stop[16];
  int nstop;
} gen_args;

/* Parse argv; returns -1 to go on, else the exit status. a->src.overrides and a->prompt are
 * malloc'd (argc entries). */
static int parse(int argc, char **argv, gen_args *a, char ***keep, int eval) {
  memset(a, 0, sizeof *a);
  a->eval = eval;
  a->format = eval ? NULL : "lines";
  a->src.overrides = malloc((size_t)argc * sizeof(char *));
  a->prompt = malloc((size_t)argc * sizeof(char *));
  *keep = calloc((size_t)argc, sizeof(char *)); /* override strings built from flags */
  if (!a->src.overrides || !a->prompt || !*keep) {
    fprintf(stderr, "pst generate: out of memory\n");
    return 1;
  }
  int nkeep = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                         \
  do {                                                                 \
    if (!v) {                                                          \
      fprintf(stderr, "pst generate: %s needs a value\n", o);          \
      return 2;                                                        \
    }                                                                  \
    i++;                                                               \
  } while (0)
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      (eval ? eval_usage : generate_usage)(stdout);
      return 0;
    } else if (!strcmp(o, "-v")) {
      pst_log_level = 2;
    } else if (!strcmp(o, "-q")) {
      pst_log_level = 0;
    } else if (!strcmp(o, "-c") || !strcmp(o, "--config")) {
      NEED();
      a->src.config = v;
    } else if (!strcmp(o, "--ckpt")) {
      NEED();
      a->src.ckpt = v;
    } else if (!strcmp(o, "--run")) {
      NEED();
      a->src.run = v;
    } else if (!strcmp(o, "--sparse")) {
      NEED();
      a->src.sparse = v;
    } else if (!strcmp(o, "--hf-dir")) {
      NEED();
      a->src.base.hf_dir = v;
    } else if (!strcmp(o, "--gguf")) {
      NEED();
      a->src.base.gguf = v;
    } else if (!strcmp(o, "--weights")) {
      NEED();
      a->src.base.weights = v;
    } else if (!strcmp(o, "--prompt")) {
      NEED();
      a->prompt[a->nprompt++] = v;
    } else if (!strcmp(o, "--prompts")) {
      NEED();
      a->prompts_file = v;
    } else if (!strcmp(o, "--format")) {
      NEED();
      a->format = v;
    } else if (!strcmp(o, "--system")) {
      NEED();
      a->system = v;
    } else if (!strcmp(o, "--template")) {
      NEED();
      a->tmpl = v;
    } else if (!strcmp(o, "--tokenizer")) {
      NEED();
      a->src.tokenizer = v;
    } else if (a->eval && !strcmp(o, "--data")) {
      NEED();
      a->prompts_file = v;
    } else if (a->eval && !strcmp(o, "--scores")) {
      NEED();
      a->json_out = v;
    } else if (a->eval && !strcmp(o, "--max")) {
      NEED();
      char *end;
      a->max = strtol(v, &end, 10);
      if (end == v || *end || a->max <= 0) {
        fprintf(stderr, "pst eval: --max %s: a positive count is needed\n", v);
        return 2;
      }
    } else if (!strcmp(o, "-o")) {
      NEED();
      a->out = v;
    } else if (!strcmp(o, "--chat")) {
      a->chat = 1;
    } else if (!strcmp(o, "--bos")) {
      a->bos = 1;
    } else if (!strcmp(o, "--ids")) {
      a->ids = 1;
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "--no-eos")) {
      a->no_eos = 1;
    } else if (!strcmp(o, "--eos")) {
      NEED();
      char *end;
      long id = strtol(v, &end, 10);
      if (end == v || *end || id < 0 || id > INT32_MAX || a->neos == 16) {
        fprintf(stderr, "pst generate: --eos %s: a token id (at most 16 of them) is needed\n", v);
        return 2;
      }
      a->eos[a->neos++] = (int32_t)id;
    } else if (!strcmp(o, "--stop")) {
      NEED();
      if (!v[0] || a->nstop == 16) {
        fprintf(stderr, "pst generate: --stop needs a non-empty string (at most 16 of them)\n");
        return 2;
      }
      a->stop[a->nstop++] = v;
    } else if (o[0] == '-') {
      int k = 0;
      while (k < NFLAGS && strcmp(o, FLAG_KEYS[k].flag)) k++;
      if (k == NFLAGS) {
        fprintf(stderr, "pst generate: unknown option '%s' (see --help)\n", o);
        return 2;
      }
      if (FLAG_KEYS[k].value) NEED();
      size_t n = strlen(FLAG_KEYS[k].key) + (v ? strlen(v) : 0) + 8;
      char *kv = malloc(n);
      if (!kv) return 1;
      snprintf(kv, n, "%s=%s", FLAG_KEYS[k].key, FLAG_KEYS[k].value ? v : "true");
      (*keep)[nkeep++] = kv;
      a->src.overrides[a->src.noverrides++] = kv;
    } else if (strchr(o, '=')) {
      a->src.overrides[a->src.noverrides++] = o;
    } else {
      fprintf(stderr, "pst generate: unexpected argument '%s' (prompts go after --prompt)\n", o);
      return 2;
    }
#undef NEED
  }
  if (!eval && !a->nprompt == !a->prompts_file) {
    fprintf(stderr, "pst generate: give prompts with --prompt TEXT or --prompts FILE (one of them)\n");
    return 2;
  }
  if (eval && (a->nprompt || a->ids || a->json)) {
    fprintf(stderr, "pst eval: inputs come from --data (or the config's data.dev); --prompt, --ids, --json are "
            "pst generate's\n");
    return 2;
  }
  if (a->ids && a->json) {
    fprintf(stderr, "pst generate: --ids and --json exclude each other (--json has the ids)\n");
    return 2;
  }
  return -1;
}

typedef struct {
  const pst_dist *d;
  time_t t0;
} progress_ctx;

static void progress(void *ctx, int done, int total) {
  progress_ctx *p = ctx;
  if (p->d->world_rank != 0) return;
  const double s = difftime(time(NULL), p->t0);
  pst_log(1, "generate: %d/%d prompts on rank 0 (%.0f s)\n", done, total, s);
}

/* One output record into the memory stream f. */
static pst_err write_one(FILE *f, const gen_args *a, const pst_prompts *p, int i, const pst_gen_out *o,
                         const pst_tokenizer *tok) {
  if (a->ids) {
    for (int k = 0; k < o->n; k++) fprintf(f, k ? " %d" : "%d", o->ids[k]);
    fputc('\n', f);
    return PST_OK;
  }
  char *text;
  PST_CHECK(pst_detokenize(tok, o->ids, o->n, PST_DETOK_SKIP_SPECIAL, &text));
  char *t = text;
  if (p->d2t) { /* the reference side was trained as " " + reference: trim the spaces */
    while (*t == ' ') t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\n')) t[--n] = 0;
  }
  if (a->json) {
    static const char *END[] = {"eos", "length", "stop"};
    json_t *ids = json_array();
    for (int k = 0; ids && k < o->n; k++) json_array_append_new(ids, json_integer(o->ids[k]));
    json_t *j = json_pack("{s:I, s:s, s:o, s:f, s:s}", "prompt", (json_int_t)p->line[i], "text", t, "ids", ids,
                          "score", o->score, "end", END[o->end]);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    if (!s) {
      free(text);
      PST_ERR(PST_ERR_MEM, "out of memory writing the output");
    }
    fprintf(f, "%s\n", s);
    free(s);
  } else {
    for (char *c = t; *c; c++)
      if (*c == '\n' || *c == '\r') *c = ' ';
    fprintf(f, "%s\n", t);
  }
  free(text);
  return PST_OK;
}

/* Write text to path atomically, or to stdout. */
static pst_err publish(const char *path, const char *text, long n) {
  if (path) return pst_write_file(path, text, (size_t)n);
  fwrite(text, 1, (size_t)n, stdout);
  fflush(stdout);
  return PST_OK;
}

/* What generate and eval share: the model, its tokenizer, the encoded prompts and the
 * decoding options (EOS ids: --eos, else the tokenizer's and the chat template's end of turn). */
typedef struct {
  pst_config cfg;
  pst_model *m;
  pst_tokenizer *tok;
  pst_prompts p;
  pst_gen_opts o;
  int32_t eos[18];
} gen_job;

static void job_free(gen_job *j) {
  pst_prompts_free(&j->p);
  pst_tokenizer_free(j->tok);
  pst_model_destroy(j->m);
}

static pst_err job_open(gen_job *j, gen_args *a) {
  memset(j, 0, sizeof *j);
  PST_CHECK(pst_decoder_open(&a->src, &j->cfg, &j->m, &j->tok));
  char data[PST_PATH_MAX + 64];
  if (a->eval) { /* default: the config's dev split and format */
    if (!a->format) a->format = j->cfg.format;
    if (!a->prompts_file) {
      if (!j->cfg.dev_path[0]) PST_ERR(PST_ERR_ARG, "no data to evaluate: give --data FILE (the config has no data.dev)");
      pst_config_path(&j->cfg, j->cfg.dev_path, data, sizeof data);
      FILE *f = fopen(data, "rb");
      if (!f)
        PST_ERR(PST_ERR_IO, "data.dev = %s does not resolve here (%s): give --data FILE", j->cfg.dev_path, data);
      fclose(f);
      a->prompts_file = data;
    }
    if (!strcmp(a->format, "lines") || !strcmp(a->format, "ids"))
      PST_ERR(PST_ERR_ARG, "pst eval scores data-to-text inputs against references: --format e2e, e2e_lora, dart or "
              "webnlg (got %s)", a->format);
  }
  PST_CHECK(a->prompts_file ? pst_prompts_from_file(&j->p, a->prompts_file, a->format)
                            : pst_prompts_from_strings(&j->p, a->prompt, a->nprompt));
  if (a->max > 0 && a->max < j->p.n) pst_prompts_truncate(&j->p, (int)a->max);
  a->prompts_file = NULL; /* may point at `data`, which ends here */
  if (a->tmpl) PST_CHECK(pst_prompts_template(&j->p, a->tmpl));
  int32_t chat_end = -1;
  if (!j->tok && (!a->ids || strcmp(a->format, "ids") || a->nstop || a->chat || a->bos))
    PST_ERR(PST_ERR_CONFIG, "the model has no tokenizer (data.tokenizer, model.hf_dir or model.gguf): only --prompts "
            "FILE --format ids with --ids works without one");
  if (j->tok) PST_CHECK(pst_prompts_encode(&j->p, j->tok, a->bos, a->chat, a->system, &chat_end));
  pst_gen_opts_from_config(&j->o, &j->cfg);
  int neos = 0;
  if (!a->no_eos) {
    for (int i = 0; i < a->neos; i++) j->eos[neos++] = a->eos[i];
    if (!a->neos && j->tok && pst_tokenizer_eos_id(j->tok) >= 0) j->eos[neos++] = pst_tokenizer_eos_id(j->tok);
    if (!a->neos && chat_end >= 0 && (!neos || j->eos[0] != chat_end)) j->eos[neos++] = chat_end;
  }
  j->o.eos = j->eos;
  j->o.n_eos = neos;
  j->o.stop = a->stop;
  j->o.n_stop = a->nstop;
  return PST_OK;
}

static const char *decoding_name(const pst_gen_opts *o) {
  return o->num_beams > 1 ? "beam search" : o->do_sample ? "sampling" : "greedy";
}

static pst_err run_generate(gen_args *a, pst_dist *d, gen_job *j) {
  const pst_prompts *p = &j->p;
  pst_gen_opts o = j->o;
  pst_gen_out *out = NULL;
  char *buf = NULL, *all = NULL;
  size_t blen = 0;
  long total = 0;
  FILE *f = NULL;
  /* this rank's share of the prompts */
  const int lo = (int)((long)p->n * d->world_rank / d->world_size);
  const int hi = (int)((long)p->n * (d->world_rank + 1) / d->world_size);
  o.index0 = lo;
  pst_err rc = PST_OK;
  if (!(out = calloc((size_t)(hi - lo > 0 ? hi - lo : 1), sizeof *out))) {
    rc = PST_ERR_MEM;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory");
  }
  progress_ctx pc = {d, time(NULL)};
  if (!rc) {
    pst_log(1, "pst generate: %d prompts from %s, %s, max %d new tokens, batch %d%s\n", p->n, p->origin,
            decoding_name(&o), o.max_new_tokens, o.batch, d->world_size > 1 ? " (split over the ranks)" : "");
    const double t0 = pst_now();
    rc = pst_generate(j->m, (const int32_t *const *)p->ids + lo, p->len + lo, hi - lo, &o, j->tok, progress, &pc, out);
    const double s = pst_now() - t0;
    long ntok = 0;
    for (int i = 0; !rc && i < hi - lo; i++) ntok += out[i].n;
    if (!rc && d->world_rank == 0)
      pst_log(1, "pst generate: rank 0 generated %ld tokens for %d prompts in %.3f s (%.1f tokens/s)\n", ntok, hi - lo,
              s, (double)ntok / s);
  }
  if (!rc && !(f = open_memstream(&buf, &blen))) {
    rc = PST_ERR_MEM;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory");
  }
  for (int i = lo; !rc && i < hi; i++) rc = write_one(f, a, p, i, &out[i - lo], j->tok);
  if (f) fclose(f);
  /* every rank takes part in the gather, failed or not, so that nobody waits forever */
  int failed = rc != PST_OK;
  if (pst_dist_world_max_int(d, &failed) && !rc) rc = PST_ERR_IO;
  if (!rc && failed) {
    rc = PST_ERR_ARG;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "another rank failed");
  }
  if (!rc) rc = pst_dist_gather_text(d, buf ? buf : "", buf ? (long)blen : 0, &all, &total);
  if (!rc && d->world_rank == 0) rc = publish(a->out, all, total);
  if (!rc && a->out) pst_log(1, "pst generate: wrote %d outputs to %s\n", p->n, a->out);
  free(all);
  free(buf);
  pst_gen_out_free(out, hi - lo);
  free(out);
  return rc;
}

static pst_err run_eval(gen_args *a, pst_dist *d, gen_job *j) {
  pst_nlg_eval_result r;
  pst_log(1, "pst eval: %d inputs from %s, %s, max %d new tokens, batch %d\n", j->p.n, j->p.origin,
          decoding_name(&j->o), j->o.max_new_tokens, j->o.batch);
  PST_CHECK(pst_nlg_eval(j->m, j->tok, &j->p, j->p.n, &j->o, d, j->cfg.meteor_jar, a->out, &r));
  if (d->world_rank != 0) return PST_OK;
  const pst_nlg_scores *s = &r.s;
  printf("inputs   %ld (%ld new tokens, %.1f s of decoding on rank 0)\n", r.inputs, r.tokens, r.seconds);
  printf("BLEU     %.4f\nNIST     %.4f\n", s->bleu, s->nist);
  if (s->has_meteor) printf("METEOR   %.4f\n", s->meteor);
  else printf("METEOR   unavailable: %s\n", s->meteor_note);
  printf("ROUGE-L  %.4f\nCIDEr    %.4f\nTER      %.4f\n", s->rouge_l, s->cider, s->ter);
  if (!a->json_out) return PST_OK;
  json_t *js = json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:s, s:i, s:f, s:i}", "data", j->p.origin, "inputs",
                         (json_int_t)r.inputs, "tokens", (json_int_t)r.tokens, "bleu", s->bleu, "nist", s->nist,
                         "rouge_l", s->rouge_l, "cider", s->cider, "ter", s->ter, "decoding", decoding_name(&j->o),
                         "num_beams", j->o.num_beams, "length_penalty", j->o.length_penalty, "no_repeat_ngram_size",
                         j->o.no_repeat_ngram);
  if (!js) PST_ERR(PST_ERR_MEM, "out of memory writing the scores");
  json_object_set_new(js, "meteor", s->has_meteor ? json_real(s->meteor) : json_null());
  if (!s->has_meteor) json_object_set_new(js, "meteor_unavailable", json_string(s->meteor_note));
  char *txt = json_dumps(js, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
  json_decref(js);
  if (!txt) PST_ERR(PST_ERR_MEM, "out of memory writing the scores");
  pst_err rc = publish(a->json_out, txt, (long)strlen(txt));
  free(txt);
  return rc;
}

static int command(int argc, char **argv, int eval) {
  gen_args a;
  char **keep;
  int status = parse(argc, argv, &a, &keep, eval);
  if (status < 0) {
    pst_dist d;
    if (pst_dist_init(&d, &argc, &argv, 1)) {
      pst_err_print(stderr, pst_log_level > 1);
      status = 1;
    } else {
      gen_job j;
      pst_err rc = job_open(&j, &a);
      if (!rc) rc = eval ? run_eval(&a, &d, &j) : run_generate(&a, &d, &j);
      job_free(&j);
      if (rc) {
        if (d.world_size > 1) fprintf(stderr, "pst %s: rank %d: ", eval ? "eval" : "generate", d.world_rank);
        pst_err_print(stderr, pst_log_level > 1);
      }
      status = rc ? 1 : 0;
    }
    pst_dist_finalize(&d);
  }
  for (int i = 0; keep && keep[i]; i++) free(keep[i]);
  free(keep);
  free(a.src.overrides);
  free(a.prompt);
  return status;
}

int pst_cmd_generate(int argc, char **argv) { return command(argc, argv, 0); }

int pst_cmd_eval(int argc, char **argv) { return command(argc, argv, 1); }
