/* run.c — the training job behind `pst train`: data (token ids, GLUE or tables, tokenized),
 * model (random, pst safetensors, or a Hugging Face directory), loop, progress line,
 * metrics.jsonl, dev evaluation every train.eval_every steps or epoch with the paper's model
 * selection (results.json), and the final trainable tensors (trainables.safetensors).
 * SIGINT/SIGTERM stop the loop after the current step; the tensors are still saved.
 * Under MPI (dist.h) every rank runs this: dp rank r trains on rows [r B/dp, (r+1) B/dp) of
 * each global batch, the tp group shares one replica; rank 0 alone writes the run dir
 * (tensors gathered from the tp shards), and all ranks agree on stopping. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <math.h>

#include "pst/checkpoint.h"
#include "pst/dataload.h"
#ifdef PST_HAVE_CUDA
#include "pst/cuda.h"
#endif
#include "pst/dist.h"
#include "pst/metrics.h"
#include "pst/modelsrc.h"
#include "pst/nlgeval.h"
#include "pst/run.h"
#include "pst/rundir.h"
#include "pst/safetensors.h"
#include "pst/train.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

static void format_eta(char *out, size_t n, double s) {
  if (s < 0 || s > 1e8) snprintf(out, n, "?");
  else if (s >= 3600) snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  else snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* Write every trainable tensor (and the masks as U8) to path, atomically, in global shapes:
 * the tp shards are gathered on tp rank 0; world rank 0 writes. Collective. */
static pst_err save_trainables(pst_model *m, pst_dist *d, const char *path) {
  pst_params *p = pst_model_trainables(m);
  int nl = pst_model_num_linears(m);
  const int writer = d->world_rank == 0;
  pst_st_entry *e = calloc((size_t)(p->n + nl), sizeof *e);
  char (*names)[96] = calloc((size_t)nl, sizeof *names);
  void **bufs = calloc((size_t)(p->n + nl), sizeof *bufs);
  pst_err rc = PST_OK;
  if (!e || !names || !bufs) {
    pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory saving %s", path);
    rc = PST_ERR_MEM;
  }
  int n = 0;
  for (int i = 0; !rc && i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    const size_t gnumel = (size_t)t->gshape[0] * (size_t)t->gshape[1];
    if (!(bufs[n] = malloc(gnumel * sizeof(float)))) {
      pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory saving %s", path);
      rc = PST_ERR_MEM;
      break;
    }
    if ((rc = pst_dist_gather_tensor(d, t, p->data + t->offset, bufs[n]))) break;
    e[n] = (pst_st_entry){t->name, PST_DT_F32, t->ndim, {t->gshape[0], t->ndim == 2 ? t->gshape[1] : 0}, bufs[n]};
    n++;
  }
  for (int i = 0; !rc && i < nl; i++) {
    int rows, cols, gm, gn, sd;
    const uint8_t *mask = pst_model_linear_mask(m, i, &rows, &cols);
    if (!mask) continue;
    pst_model_linear_global(m, i, &gm, &gn, &sd);
    if (!(bufs[n] = malloc((size_t)gm * gn))) {
      pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory saving %s", path);
      rc = PST_ERR_MEM;
      break;
    }
    if ((rc = pst_dist_gather_bytes(d, mask, rows, cols, sd, gn, bufs[n]))) break;
    snprintf(names[i], sizeof names[i], "mask.%s", pst_model_linear_name(m, i));
    e[n] = (pst_st_entry){names[i], PST_DT_U8, 2, {gm, gn}, bufs[n]};
    n++;
  }
  if (!rc && writer) rc = pst_st_write(path, e, n, NULL);
  for (int i = 0; bufs && i < p->n + nl; i++) free(bufs[i]);
  free(bufs);
  free(e);
  free(names);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

typedef struct {
  pst_config cfg;          /* resolved: model dims from model.hf_dir, num_labels from the data */
  pst_dist *dist;
  FILE *rank_log;          /* dist.rank_logs: this rank's log file (ranks > 0) */
  pst_rundir rundir;       /* rank 0: lock, status.json, train.log */
  char ckpt_dir[PST_PATH_MAX + 16];
  char base_model[PST_PATH_MAX + 64], base_sha256[65];
  pst_tokenizer *tok;
  pst_split train, dev;
  int glue_task;           /* -1 unless data.format = glue */
  pst_batch *micro;
  long *order;
  pst_model *model;
  pst_trainer tr;
  FILE *metrics;
  int have_trainer;
  json_t *evals;           /* every dev evaluation, for results.json */
  json_t *best;            /* best one once the target sparsity is reached (paper's protocol) */
  pst_prompts gen_dev;     /* eval.generate: the distinct dev inputs and their references */
} run_state;

static void run_state_free(run_state *s) {
  if (s->have_trainer) pst_trainer_free(&s->tr);
  pst_model_destroy(s->model);
  if (s->micro) for (int i = 0; i < s->cfg.grad_accum; i++) pst_batch_free(&s->micro[i]);
  free(s->micro);
  free(s->order);
  pst_split_free(&s->train);
  pst_split_free(&s->dev);
  pst_prompts_free(&s->gen_dev);
  pst_tokenizer_free(s->tok);
  if (s->metrics) fclose(s->metrics);
  pst_log_setup(s->dist->world_rank == 0, NULL);
  if (s->rank_log) fclose(s->rank_log);
  pst_rundir_close(&s->rundir);
  json_decref(s->evals);
  json_decref(s->best);
}

/* eval.generate: the distinct inputs of data.dev (a data-to-text format) with their references,
 * encoded as in training (eval.generate_max: the first N). */
static pst_err load_gen_dev(run_state *s) {
  const pst_config *cfg = &s->cfg;
  if (strcmp(cfg->format, "e2e") && strcmp(cfg->format, "e2e_lora") && strcmp(cfg->format, "dart") &&
      strcmp(cfg->format, "webnlg"))
    PST_ERR(PST_ERR_CONFIG, "eval.generate needs a data-to-text data.format (e2e, e2e_lora, dart, webnlg), not %s",
            cfg->format);
  if (!cfg->dev_path[0]) PST_ERR(PST_ERR_CONFIG, "eval.generate needs data.dev");
  char path[PST_PATH_MAX + 64];
  pst_config_path(cfg, cfg->dev_path, path, sizeof path);
  PST_CHECK(pst_prompts_from_file(&s->gen_dev, path, cfg->format));
  if (cfg->eval_generate_max > 0 && cfg->eval_generate_max < s->gen_dev.n)
    pst_prompts_truncate(&s->gen_dev, (int)cfg->eval_generate_max);
  int32_t none;
  PST_CHECK(pst_prompts_encode(&s->gen_dev, s->tok, 0, 0, NULL, &none));
  pst_log(1, "pst: eval.generate: %d dev inputs decoded and scored at each evaluation\n", s->gen_dev.n);
  return PST_OK;
}

/* Resolve what the config leaves to the data and the model directory: model dimensions from
 * model.hf_dir, task and classes from data.format = glue, classes from the training data. */
static pst_err load_data(run_state *s) {
  pst_config *cfg = &s->cfg;
  char path[PST_PATH_MAX + 64];
  s->glue_task = -1;
  PST_CHECK(pst_source_config(cfg));
  if (strcmp(cfg->format, "ids") && strcmp(cfg->format, "prep")) {
    PST_CHECK(pst_source_tokenizer(cfg, 0, &s->tok));
    if (!s->tok) PST_ERR(PST_ERR_CONFIG, "data.format = %s needs data.tokenizer, model.hf_dir or model.gguf", cfg->format);
  } else if (!strcmp(cfg->format, "prep") && (cfg->tokenizer[0] || cfg->hf_dir[0])) {
    PST_CHECK(pst_source_tokenizer(cfg, 1, &s->tok));
  }
  if (!strcmp(cfg->format, "glue") && !cfg->glue_task[0])
    PST_ERR(PST_ERR_CONFIG, "data.format = glue needs data.glue_task (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI)");
  if (cfg->glue_task[0]) { /* GLUE data (also prepared or as a table): the task's metrics */
    pst_glue_task gt;
    PST_CHECK(pst_glue_task_parse(&gt, cfg->glue_task));
    s->glue_task = (int)gt;
    strcpy(cfg->task, pst_glue_is_regression(gt) ? "regress" : "classify");
  }
  if (!cfg->train_path[0]) PST_ERR(PST_ERR_CONFIG, "data.train is not set (see `pst train --help`)");
  pst_config_path(cfg, cfg->train_path, path, sizeof path);
  PST_CHECK(pst_split_load(&s->train, cfg, path, s->tok, "train"));
  if (strcmp(cfg->format, "ids") && strcmp(cfg->task, "lm")) {
    if (s->train.num_labels < 1 || (!strcmp(cfg->task, "classify") && s->train.num_labels < 2))
      PST_ERR(PST_ERR_FORMAT, "%s: found %d classes; classification needs at least 2", path, s->train.num_labels);
    cfg->num_labels = s->train.num_labels;
  }
  if (cfg->dev_path[0]) {
    pst_config_path(cfg, cfg->dev_path, path, sizeof path);
    PST_CHECK(pst_split_load(&s->dev, cfg, path, s->tok, "dev"));
    PST_CHECK(pst_split_check_labels(&s->train, &s->dev, path));
    if (cfg->dev_max > 0 && s->dev.ids.n > cfg->dev_max) {
      pst_log(1, "pst: data.dev_max = %ld: evaluating the first %ld of %ld dev examples\n", cfg->dev_max,
              cfg->dev_max, s->dev.ids.n);
      s->dev.ids.n = cfg->dev_max;
    }
  }
  if (cfg->eval_generate) PST_CHECK(load_gen_dev(s));
  PST_CHECK(pst_config_finalize(cfg));
  const int decoder = !strcmp(cfg->arch, "gpt2") || !strcmp(cfg->arch, "llama");
  if (decoder != !strcmp(cfg->task, "lm"))
    PST_ERR(PST_ERR_CONFIG, "the model is a %s (model.arch = %s) but data.task = %s", decoder ? "decoder" : "encoder",
            cfg->arch, cfg->task);
  return PST_OK;
}

/* Kept and total weights of the whole model (summed over the tp shards). Collective over tp. */
static pst_err global_nnz(run_state *s, long *kept, long *all) {
  pst_model_nnz(s->model, kept, all);
  double v[2] = {(double)*kept, (double)*all};
  PST_CHECK(pst_dist_tp_sum_f64(s->dist, v, 2));
  *kept = (long)v[0];
  *all = (long)v[1];
  return PST_OK;
}

/* A JSON number, or null where JSON has none (NaN, infinities). */
static json_t *json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* results.json's content: every evaluation and the selected one (NULL: out of memory). */
static json_t *results_json(const run_state *s) {
  return json_pack("{s:s, s:s, s:f, s:O, s:O}", "task",
                   s->glue_task >= 0 ? pst_glue_task_name((pst_glue_task)s->glue_task) : s->cfg.task, "method",
                   s->cfg.method, "target_sparsity", s->cfg.sparsity_final, "best", s->best ? s->best : json_null(),
                   "evals", s->evals);
}

/* Write results.json atomically. */
static pst_err write_results(const run_state *s) {
  char path[PST_PATH_MAX + 32], tmp[PST_PATH_MAX + 48];
  snprintf(path, sizeof path, "%s/results.json", s->cfg.run_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  json_t *root = results_json(s);
  if (!root) PST_ERR(PST_ERR_MEM, "cannot build results.json");
  int bad = json_dump_file(root, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(8));
  json_decref(root);
  if (bad || rename(tmp, path)) {
    remove(tmp);
    PST_ERR(PST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return PST_OK;
}

/* eval.generate: decode the dev inputs with [generate], score them, keep the hypotheses in
 * run_dir/hyps/dev-step-N.txt; the scores join the evaluation record e and BLEU becomes the
 * model-selection score. */
static pst_err generate_dev(run_state *s, json_t *e, pst_eval_result *r, char *line, int *off, size_t cap) {
  pst_gen_opts o;
  pst_gen_opts_from_config(&o, &s->cfg);
  int32_t eos = pst_tokenizer_eos_id(s->tok);
  o.eos = &eos;
  o.n_eos = eos >= 0;
  char dir[PST_PATH_MAX + 16], hyp[PST_PATH_MAX + 64];
  snprintf(dir, sizeof dir, "%s/hyps", s->cfg.run_dir);
  snprintf(hyp, sizeof hyp, "%s/dev-step-%ld.txt", dir, s->tr.step);
  if (s->dist->world_rank == 0) PST_CHECK(pst_make_dirs(dir));
  pst_nlg_eval_result g;
  PST_CHECK(pst_nlg_eval(s->model, s->tok, &s->gen_dev, s->gen_dev.n, &o, s->dist, s->cfg.meteor_jar, hyp, &g));
  const pst_nlg_scores *sc = &g.s;
  json_object_set_new(e, "bleu", json_number(sc->bleu));
  json_object_set_new(e, "nist", json_number(sc->nist));
  json_object_set_new(e, "meteor", sc->has_meteor ? json_number(sc->meteor) : json_null());
  json_object_set_new(e, "rouge_l", json_number(sc->rouge_l));
  json_object_set_new(e, "cider", json_number(sc->cider));
  json_object_set_new(e, "ter", json_number(sc->ter));
  json_object_set_new(e, "generated_inputs", json_integer(g.inputs));
  if ((size_t)*off < cap)
    *off += snprintf(line + *off, cap - (size_t)*off, " | BLEU %.2f NIST %.3f ROUGE-L %.4f CIDEr %.3f (%ld inputs, %.0f s)",
                   sc->bleu, sc->nist, sc->rouge_l, sc->cider, g.inputs, g.seconds);
  r->main_name = "bleu";
  r->main = sc->bleu;
  return PST_OK;
}

/* Evaluate on dev, log, record; keep the best main score among evaluations at the target
 * sparsity (the paper's model selection). */
static pst_err evaluate_dev(run_state *s, pst_task task, long epoch) {
  if (s->dev.ids.n == 0) return PST_OK;
  pst_eval_result r;
  /* the dev set is split over the dp replicas (each tp group evaluates its part together) */
  PST_CHECK(pst_evaluate(s->model, &s->dev.ids, task, s->cfg.batch_size / s->dist->dp, s->cfg.seq_len,
                         !strcmp(s->cfg.padding, "longest"), s->cfg.num_labels, s->glue_task, s->dist, &r));
  long kept, all;
  PST_CHECK(global_nnz(s, &kept, &all));
  double achieved = 1.0 - (double)kept / (double)all;
  char line[512];
  int off = snprintf(line, sizeof line, "dev @ step %ld: %ld examples | loss %.4f", s->tr.step, r.examples, r.loss);
  json_t *e = json_pack("{s:I, s:I, s:f}", "step", (json_int_t)s->tr.step, "epoch", (json_int_t)epoch,
                        "sparsity", achieved);
  if (!e) PST_ERR(PST_ERR_MEM, "out of memory recording an evaluation");
  json_object_set_new(e, "loss", json_number(r.loss));
  json_object_set_new(e, r.main_name, json_number(r.main));
  for (int i = 0; i < r.nmetrics; i++) {
    off += snprintf(line + off, sizeof line - (size_t)off, " | %s %.4f", r.metric_name[i], r.metric[i]);
    json_object_set_new(e, r.metric_name[i], json_number(r.metric[i]));
  }
  if (s->cfg.eval_generate) {
    pst_err grc = generate_dev(s, e, &r, line, &off, sizeof line);
    if (grc) {
      json_decref(e);
      PST_CHECK(grc);
    }
  }
  pst_log(1, "%s | sparsity %.4f\n", line, achieved);
  char *txt = json_dumps(e, JSON_COMPACT); /* the metrics.jsonl line of this evaluation */
  if (txt && s->metrics) fprintf(s->metrics, "{\"dev\":%s}\n", txt);
  free(txt);
  if (s->metrics) fflush(s->metrics);
  json_array_append(s->evals, e);
  int at_target = s->tr.sparsity >= s->cfg.sparsity_final - 1e-12;
  double best = s->best ? json_real_value(json_object_get(s->best, r.main_name)) : -INFINITY;
  if (at_target && isfinite(r.main) && r.main > best) { /* NaN (e.g. constant STS-B predictions) never wins */
    json_decref(s->best);
    s->best = json_incref(e);
  }
  json_decref(e);
  return s->dist->world_rank == 0 ? write_results(s) : PST_OK;
}

/* The frozen weights' identity for the checkpoint: the weights file (or the HF directory's
 * model file) and its SHA-256, computed by rank 0 and sent to all. */
static pst_err base_identity(run_state *s) {
  const pst_config *cfg = &s->cfg;
  char file[PST_PATH_MAX + 64] = "";
  if (cfg->weights[0]) {
    pst_config_path(cfg, cfg->weights, file, sizeof file);
  } else if (cfg->gguf[0]) {
    pst_config_path(cfg, cfg->gguf, file, sizeof file);
  } else if (cfg->hf_dir[0]) {
    char dir[PST_PATH_MAX];
    pst_config_path(cfg, cfg->hf_dir, dir, sizeof dir);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    FILE *f = fopen(file, "rb");
    if (f) fclose(f);
    else snprintf(file, sizeof file, "%s/model.safetensors.index.json", dir);
  }
  if (!file[0]) {
    snprintf(s->base_model, sizeof s->base_model, "random (seed %llu, init_std %g)", (unsigned long long)cfg->seed,
             cfg->init_std);
    return PST_OK;
  }
  snprintf(s->base_model, sizeof s->base_model, "%s", file);
  pst_err rc = s->dist->world_rank == 0 ? pst_file_sha256(file, s->base_sha256) : PST_OK;
  PST_CHECK(pst_dist_world_max_int(s->dist, &rc));
  if (rc) PST_ERR(rc, "cannot hash the base model %s", file);
  PST_CHECK(pst_dist_bcast(s->dist, s->base_sha256, sizeof s->base_sha256));
  return PST_OK;
}

/* results.json's content with every digit (a resumed run continues from exact values). */
static char *results_text(const run_state *s) {
  json_t *root = results_json(s);
  char *txt = root ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(root);
  return txt;
}

/* Write the checkpoint of the current step (collective), then prune old ones (rank 0). */
static pst_err save_checkpoint(run_state *s, long epoch, long cursor) {
  pst_ckpt_meta meta;
  memset(&meta, 0, sizeof meta);
  meta.step = s->tr.step;
  meta.epoch = epoch;
  meta.cursor = cursor;
  meta.total_steps = s->tr.total_steps;
  meta.sparsity = s->tr.sparsity;
  meta.seed = s->cfg.seed;
  meta.sparse = s->cfg.ckpt_sparse || s->tr.step == s->tr.total_steps; /* the final one holds the sparse model */
  meta.mpiio_hints = s->cfg.ckpt_mpiio_hints;
  snprintf(meta.base_model, sizeof meta.base_model, "%s", s->base_model);
  memcpy(meta.base_sha256, s->base_sha256, sizeof meta.base_sha256);
  size_t len = 0;
  FILE *mf = open_memstream(&meta.config_text, &len);
  if (mf) {
    pst_config_write(&s->cfg, mf);
    fclose(mf);
  }
  meta.results_json = results_text(s);
  pst_err rc = meta.config_text && meta.results_json ? PST_OK : PST_ERR_MEM;
  char path[PST_PATH_MAX + 32];
  pst_ckpt_path(path, sizeof path, s->ckpt_dir, s->tr.step);
  double t0 = pst_now();
  if (!rc) rc = pst_ckpt_write(path, s->dist, s->model, &s->tr.opt, &meta);
  pst_ckpt_meta_free(&meta);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  if (s->dist->world_rank == 0) /* the best evaluation's checkpoint stays (pst generate/eval --run) */
    pst_ckpt_prune(s->ckpt_dir, s->cfg.ckpt_keep,
                   s->best ? (long)json_integer_value(json_object_get(s->best, "step")) : -1);
  pst_log(1, "pst: checkpoint %s (%.2f s)\n", path, pst_now() - t0);
  if (s->dist->world_rank == 0) pst_rundir_status(&s->rundir, "running", s->tr.step, s->tr.total_steps, NULL);
  return PST_OK;
}

/* metrics.jsonl of a resumed run: the records up to `step` (a killed run may have logged
 * later ones), rewritten atomically, then opened for appending. */
static pst_err reopen_metrics(run_state *s, const char *path, long step) {
  char tmp[PST_PATH_MAX + 128], line[8192];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
  if (!out) {
    if (in) fclose(in);
    PST_ERR(PST_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
  }
  while (in && fgets(line, sizeof line, in)) {
    const char *p = strstr(line, "\"step\":");
    if (p && strtol(p + 7, NULL, 10) <= step && line[strlen(line) - 1] == '\n') fputs(line, out);
  }
  if (in) fclose(in);
  if (fclose(out) || rename(tmp, path)) PST_ERR(PST_ERR_IO, "cannot rewrite '%s': %s", path, strerror(errno));
  if (!(s->metrics = fopen(path, "a"))) PST_ERR(PST_ERR_IO, "cannot append to '%s': %s", path, strerror(errno));
  return PST_OK;
}

/* --resume: load the newest checkpoint that reads back completely (auto), or the given one.
 * Returns with *resumed = 0 when auto finds none. Collective. */
static pst_err resume(run_state *s, long *epoch, long *cursor, int *resumed) {
  const pst_config *cfg = &s->cfg;
  *resumed = 0;
  if (!strcmp(cfg->ckpt_resume, "none")) return PST_OK;
  long steps[256];
  char paths[256][PST_PATH_MAX + 32];
  int n = 0;
  if (!strcmp(cfg->ckpt_resume, "auto")) { /* rank 0 lists the directory, every rank tries the same files */
    if (s->dist->world_rank == 0) n = pst_ckpt_list(s->ckpt_dir, steps, 256);
    PST_CHECK(pst_dist_bcast(s->dist, &n, sizeof n));
    PST_CHECK(pst_dist_bcast(s->dist, steps, (long)(n * sizeof *steps)));
    for (int i = 0; i < n; i++) pst_ckpt_path(paths[i], sizeof paths[i], s->ckpt_dir, steps[i]);
    if (!n) pst_log(1, "pst: --resume auto: no checkpoint in %s, starting from step 0\n", s->ckpt_dir);
  } else {
    pst_config_path(cfg, cfg->ckpt_resume, paths[0], sizeof paths[0]);
    n = 1;
  }
  for (int i = 0; i < n; i++) {
    pst_ckpt_meta meta;
    double t0 = pst_now();
    pst_err rc = pst_ckpt_read(paths[i], s->dist, s->model, &s->tr.opt, &meta);
    if (rc) {
      if (n == 1 && strcmp(cfg->ckpt_resume, "auto")) return rc;
      pst_log(1, "pst: warning: skipping checkpoint %s: %s\n", paths[i], pst_err_message());
      pst_err_clear();
      continue;
    }
    json_error_t jerr;
    json_t *res = json_loads(meta.results_json, 0, &jerr);
    if (meta.total_steps != s->tr.total_steps)
      pst_log(1, "pst: warning: %s was written for %ld steps, this run has %ld (the schedules follow this run)\n",
              paths[i], meta.total_steps, s->tr.total_steps);
    if (res && json_is_array(json_object_get(res, "evals"))) {
      json_decref(s->evals);
      s->evals = json_incref(json_object_get(res, "evals"));
      json_t *b = json_object_get(res, "best");
      s->best = json_is_object(b) ? json_incref(b) : NULL;
    }
    json_decref(res);
    s->tr.step = meta.step;
    s->tr.sparsity = pst_schedule_at(&s->tr.sched, meta.step, s->tr.total_steps);
    *epoch = meta.epoch;
    *cursor = meta.cursor;
    pst_log(1, "pst: resumed from %s (step %ld, written on dp %d x tp %d; read and verified in %.2f s)\n", paths[i],
            meta.step, meta.dp, meta.tp, pst_now() - t0);
    pst_ckpt_meta_free(&meta);
    pst_dist_phase(s->dist, PST_PHASE_TOPK);
    PST_CHECK(pst_model_update_masks(s->model, s->tr.sparsity));
    *resumed = 1;
    return PST_OK;
  }
  if (n && !strcmp(cfg->ckpt_resume, "auto")) pst_log(1, "pst: --resume auto: no readable checkpoint, starting from step 0\n");
  return PST_OK;
}

/* The order of the training examples in `epoch`: shuffled by (seed, epoch), then with
 * data.group_by_length sorted by length within runs of 50 steps (step = `per_step` examples). */
static pst_err epoch_order(run_state *s, long epoch, long per_step) {
  const pst_dataset *train = &s->train.ids;
  pst_shuffle(s->order, train->n, s->cfg.seed, epoch);
  if (s->cfg.group_by_length) PST_CHECK(pst_group_by_length(s->order, train->n, train, 50 * per_step));
  return PST_OK;
}

/* train.device: say where the step runs. The device step (src/model/device.c) is built with
 * --with-cuda and exercised by tests/gpu and bench/bench_step_cuda; `pst train` itself runs
 * on the CPU in this version, and says so. */
static void report_device(const pst_config *cfg) {
  if (!strcmp(cfg->device, "cpu")) return;
#ifdef PST_HAVE_CUDA
  char why[256] = "";
  if (!pst_cuda_available(why, sizeof why))
    pst_log(1, "pst: %s: training on the CPU\n", why);
  else
    pst_log(1, "pst: a CUDA device is present, but pst train runs its step on the CPU in this version "
               "(the device step is in bench/bench_step_cuda and tests/gpu)\n");
#else
  if (!strcmp(cfg->device, "cuda"))
    pst_log(1, "pst: warning: train.device = cuda, but this pst was built without CUDA (./configure --with-cuda): "
               "training on the CPU\n");
#endif
}

static pst_err run(run_state *s) {
  report_device(&s->cfg);
  PST_CHECK(load_data(s));
  const pst_config *cfg = &s->cfg;
  pst_task task;
  PST_CHECK(pst_task_parse(&task, cfg->task));
  char path[PST_PATH_MAX + 64];
  const int B = cfg->batch_size, T = cfg->seq_len, accum = cfg->grad_accum;
  const pst_dataset *train = &s->train.ids;
  if (train->n < B) PST_ERR(PST_ERR_CONFIG, "data.train has %ld examples, fewer than train.batch_size = %d", train->n, B);
  pst_dist *d = s->dist;
  if (B % d->dp)
    PST_ERR(PST_ERR_CONFIG, "train.batch_size = %d does not split over the %d data-parallel ranks (%d ranks / dist.tp = %d)",
            B, d->dp, d->world_size, d->tp);
  const int Bl = B / d->dp; /* this rank's rows of every global batch */
  const int writer = d->world_rank == 0;
  long micro_per_epoch = train->n / B;
  long steps_per_epoch = micro_per_epoch / accum > 0 ? micro_per_epoch / accum : 1;
  long total = cfg->steps ? cfg->steps : (long)cfg->epochs * steps_per_epoch;

  if (cfg->ckpt_dir[0]) pst_config_path(cfg, cfg->ckpt_dir, s->ckpt_dir, sizeof s->ckpt_dir);
  else snprintf(s->ckpt_dir, sizeof s->ckpt_dir, "%s/checkpoints", cfg->run_dir);
  PST_CHECK(base_identity(s));
  PST_CHECK(pst_model_create(&s->model, cfg, Bl, T, &d->tp_group));
  PST_CHECK(pst_source_weights(cfg, s->model));
  s->micro = calloc((size_t)accum, sizeof *s->micro);
  s->order = malloc((size_t)train->n * sizeof(long));
  s->evals = json_array();
  if (!s->micro || !s->order || !s->evals) PST_ERR(PST_ERR_MEM, "out of memory for batches");
  for (int i = 0; i < accum; i++) PST_CHECK(pst_batch_alloc(&s->micro[i], Bl, T, task));

  PST_CHECK(pst_trainer_init(&s->tr, cfg, s->model, total, d));
  s->have_trainer = 1;
  long epoch = 0, cursor = 0;
  int resumed;
  PST_CHECK(resume(s, &epoch, &cursor, &resumed));

  if (writer) {
    PST_CHECK(pst_make_dirs(cfg->run_dir));
    PST_CHECK(pst_make_dirs(s->ckpt_dir));
    snprintf(path, sizeof path, "%s/config.ini", cfg->run_dir);
    FILE *f = fopen(path, "w");
    if (!f) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    pst_config_write(cfg, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->run_dir);
    if (resumed) PST_CHECK(reopen_metrics(s, path, s->tr.step));
    else if (!(s->metrics = fopen(path, "w"))) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  }
  const pst_params *tp = pst_model_trainables(s->model);
  size_t ntrain = 0; /* global count: the tp shards' tensors have their global shapes */
  for (int i = 0; i < tp->n; i++) ntrain += (size_t)tp->t[i].gshape[0] * (size_t)tp->t[i].gshape[1];
  long kept, all;
  PST_CHECK(global_nnz(s, &kept, &all));
  pst_log(1, "pst: %s/%s, %d layers, hidden %d; %ld examples, %ld steps (%ld per epoch), batch %dx%d x%d; %zu trainable floats (%.2f%% of the %ld sparsified weights)\n",
          cfg->arch, cfg->method, cfg->layers, cfg->hidden, train->n, total, steps_per_epoch, B, T, accum,
          ntrain, 100.0 * (double)ntrain / (double)all, all);
  if (d->world_size > 1)
    pst_log(1, "pst: %d ranks = dp %d x tp %d; %d sequences per rank and micro-batch\n", d->world_size, d->dp, d->tp, Bl);
  if (cfg->rank_logs) { /* what this rank holds: its slices of the frozen matrices, never the whole */
    const pst_params *fz = pst_model_frozen(s->model);
    const pst_tensor_info *big = NULL;
    for (int i = 0; i < fz->n; i++)
      if (!strncmp(fz->t[i].name, "blk.", 4) && fz->t[i].ndim == 2 && (!big || fz->t[i].numel > big->numel)) big = &fz->t[i];
    if (big)
      pst_log(1, "rank %d (dp %d, tp %d): frozen %zu floats; largest sparsified weight held: %s [%lld, %lld] of [%lld, %lld]\n",
              d->world_rank, d->dp_rank, d->tp_rank, fz->total, big->name, (long long)big->shape[0],
              (long long)big->shape[1], (long long)big->gshape[0], (long long)big->gshape[1]);
  }

  PST_CHECK(epoch_order(s, epoch, B * accum));
  const int pad_longest = !strcmp(cfg->padding, "longest");
  double t0 = pst_now(), last_log = t0, loss_since_log = 0, tokens_since_log = 0, last_ckpt = t0;
  const long first_step = s->tr.step;
  long last_step = first_step;
  pst_dist_stats_reset(d);
  double comm_t0 = pst_now();
  int stop = 0;
  while (s->tr.step < total && !stop) {
    int epoch_ended = 0;
    long step_tokens = 0; /* positions computed this step, padding included (global batch) */
    for (int i = 0; i < accum; i++) {
      if (cursor + B > train->n) {
        PST_CHECK(epoch_order(s, ++epoch, B * accum));
        cursor = 0;
      }
      /* the longest of the global micro-batch's B rows: the same length on every rank and layout */
      const int Ti = pad_longest ? pst_batch_longest(train, s->order, train->n, cursor, B, T) : T;
      pst_batch_fill(&s->micro[i], train, s->order, train->n, cursor + (long)d->dp_rank * Bl, Ti, task);
      step_tokens += (long)B * Ti;
      cursor += B;
    }
    double loss;
    PST_CHECK(pst_trainer_step(&s->tr, s->micro, accum, &loss));
    loss_since_log += loss;
    tokens_since_log += (double)step_tokens;
    double now = pst_now();
    PST_CHECK(global_nnz(s, &kept, &all));
    double achieved = 1.0 - (double)kept / (double)all;
    char digest[48] = "";
    if (cfg->check_replicas > 0 && s->tr.step % cfg->check_replicas == 0) {
      int same;
      const char *bad;
      PST_CHECK(pst_dist_check_replicas(d, tp, &same, &bad));
      if (!same) PST_ERR(PST_ERR_INTERNAL, "step %ld: the replicas differ in tensor %s (dist.check_replicas)", s->tr.step, bad);
      uint64_t md = pst_model_mask_digest(s->model); /* layout-independent: tests compare it */
      PST_CHECK(pst_dist_tp_sum_u64(d, &md));
      snprintf(digest, sizeof digest, ",\"mask_digest\":\"%016llx\"", (unsigned long long)md);
      pst_log(2, "step %ld: replicas identical\n", s->tr.step);
    }
    if (s->metrics) fprintf(s->metrics,
            "{\"step\":%ld,\"epoch\":%ld,\"loss\":%.9g,\"lr\":%.6g,\"sparsity\":%.6g,\"grad_norm\":%.9g,\"tokens\":%ld,\"elapsed_s\":%.3f%s}\n",
            s->tr.step, epoch, loss, s->tr.lr, achieved, s->tr.grad_norm, step_tokens, now - t0, digest);
    if (s->tr.step % cfg->log_every == 0 || s->tr.step == total) {
      double tps = tokens_since_log / (now - last_log); /* padded tokens of the global batches */
      char eta[32];
      format_eta(eta, sizeof eta, (now - t0) / (double)(s->tr.step - first_step) * (double)(total - s->tr.step));
      /* loss: mean over the steps since the previous line */
      pst_log(1, "step %ld/%ld | loss %.4f | lr %.2e | sparsity %.3f | %.0f tok/s | ETA %s\n", s->tr.step, total,
              loss_since_log / (double)(s->tr.step - last_step), s->tr.lr, achieved, tps, eta);
      loss_since_log = 0;
      tokens_since_log = 0;
      last_log = now;
      last_step = s->tr.step;
      if (writer) pst_rundir_status(&s->rundir, "running", s->tr.step, total, NULL);
    }
    epoch_ended = cfg->eval_every == 0 && s->tr.step % steps_per_epoch == 0;
    if (s->tr.step < total && (epoch_ended || (cfg->eval_every > 0 && s->tr.step % cfg->eval_every == 0)))
      PST_CHECK(evaluate_dev(s, task, epoch));
    stop = stop_requested;  /* every rank stops after the same step */
    PST_CHECK(pst_dist_world_max_int(d, &stop));
    int due = cfg->ckpt_every_minutes > 0 && writer && pst_now() - last_ckpt >= 60.0 * cfg->ckpt_every_minutes;
    if (cfg->ckpt_every_minutes > 0) PST_CHECK(pst_dist_world_max_int(d, &due)); /* rank 0's clock decides */
    if (s->metrics) fflush(s->metrics);
    if (stop || due || s->tr.step == total || (cfg->ckpt_every > 0 && s->tr.step % cfg->ckpt_every == 0)) {
      PST_CHECK(save_checkpoint(s, epoch, cursor));
      last_ckpt = pst_now();
    }
  }
  const long done = s->tr.step - first_step;
  if (d->world_size > 1 && done > 0) {
    pst_log(1, "pst: %.3f s per step over %ld steps\n", (pst_now() - comm_t0) / (double)done, done);
    PST_CHECK(pst_dist_stats_report(d, done, stderr));
  }
  if (stop) { /* preempted: the checkpoint is written; leave quickly, the rerun continues */
    pst_log(1, "pst: stopped by signal %d after step %ld; resume with --resume auto\n", stop, s->tr.step);
    stop_requested = stop;
    return PST_ERR_ARG;
  }
  snprintf(path, sizeof path, "%s/trainables.safetensors", cfg->run_dir);
  PST_CHECK(save_trainables(s->model, d, path));
  pst_log(1, "pst: wrote %s\n", path);
  PST_CHECK(evaluate_dev(s, task, epoch));
  if (s->dev.ids.n > 0) {
    if (s->best) {
      const char *key;
      json_t *v;
      char line[512];
      int off = snprintf(line, sizeof line, "best dev (at target sparsity): step %lld",
                         (long long)json_integer_value(json_object_get(s->best, "step")));
      json_object_foreach(s->best, key, v) {
        if (json_is_real(v) && strcmp(key, "loss"))
          off += snprintf(line + off, sizeof line - (size_t)off, " | %s %.4f", key, json_real_value(v));
      }
      pst_log(1, "%s\n", line);
    } else {
      pst_log(1, "pst: the target sparsity was not reached: results.json has no best score\n");
    }
    snprintf(path, sizeof path, "%s/results.json", cfg->run_dir);
    pst_log(1, "pst: wrote %s\n", path);
  }
  return PST_OK;
}

pst_err pst_train_run(const pst_config *cfg, pst_dist *dist, int *preempted) {
  run_state s;
  memset(&s, 0, sizeof s);
  s.cfg = *cfg;
  s.dist = dist;
  s.rundir.lock_fd = -1;
  pst_log_setup(dist->world_rank == 0, NULL);
  if (dist->world_rank == 0) { /* lock the run dir first: nothing else may write into it */
    pst_err rc = pst_rundir_open(&s.rundir, cfg->run_dir);
    if (rc) {
      pst_rundir_close(&s.rundir);
      return rc;
    }
    pst_log_setup(1, s.rundir.log);
    pst_rundir_status(&s.rundir, "running", 0, 0, NULL);
  } else if (cfg->rank_logs) { /* rank 0's log is train.log */
    char path[PST_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/logs", cfg->run_dir);
    pst_err rc = pst_make_dirs(path);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/logs/rank-%d.log", cfg->run_dir, dist->world_rank);
    if (!(s.rank_log = fopen(path, "w"))) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    pst_log_setup(0, s.rank_log);
  }
  stop_requested = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL); /* Slurm's --signal warning before the time limit */
  pst_err rc = run(&s);
  *preempted = rc == PST_ERR_ARG && stop_requested;
  if (*preempted) {
    pst_err_set(rc, __FILE__, __LINE__, __func__, "stopped by signal %d; the checkpoint of the last step is written",
                (int)stop_requested);
  } else if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
  }
  if (dist->world_rank == 0) {
    const long step = s.have_trainer ? s.tr.step : 0, total = s.have_trainer ? s.tr.total_steps : 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rc ? pst_err_message() : "");
    pst_rundir_status(&s.rundir, *preempted ? "preempted" : rc ? "failed" : "done", step, total, rc ? msg : NULL);
    if (rc && !*preempted && s.rundir.log) fprintf(s.rundir.log, "pst: error: %s\n", msg); /* for `pst grid status` */
  }
  run_state_free(&s);
  return rc;
}
