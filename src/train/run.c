/* run.c — the training job behind `pst train`: data, model, loop, progress, metrics,
 * dev evaluation and the final trainable tensors (run_dir/trainables.safetensors).
 * SIGINT/SIGTERM stop the loop after the current step; the tensors are still saved. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/run.h"
#include "pst/safetensors.h"
#include "pst/train.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

/* mkdir -p */
static pst_err make_dirs(const char *path) {
  char buf[PST_PATH_MAX];
  if (strlen(path) >= sizeof buf) PST_ERR(PST_ERR_ARG, "path too long: %s", path);
  strcpy(buf, path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) && errno != EEXIST) PST_ERR(PST_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
  return PST_OK;
}

static void format_eta(char *out, size_t n, double s) {
  if (s < 0 || s > 1e8) snprintf(out, n, "?");
  else if (s >= 3600) snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  else snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* Write every trainable tensor (and the masks as U8) to path, atomically. */
static pst_err save_trainables(pst_model *m, const char *path) {
  pst_params *p = pst_model_trainables(m);
  int nl = pst_model_num_linears(m);
  pst_st_entry *e = calloc((size_t)(p->n + nl), sizeof *e);
  char (*names)[96] = calloc((size_t)nl, sizeof *names);
  if (!e || !names) { free(e); free(names); PST_ERR(PST_ERR_MEM, "out of memory saving %s", path); }
  int n = 0;
  for (int i = 0; i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    e[n] = (pst_st_entry){t->name, PST_DT_F32, t->ndim, {t->shape[0], t->shape[1]}, p->data + t->offset};
    n++;
  }
  for (int i = 0; i < nl; i++) {
    int rows, cols;
    const uint8_t *mask = pst_model_linear_mask(m, i, &rows, &cols);
    if (!mask) continue;
    snprintf(names[i], sizeof names[i], "mask.%s", pst_model_linear_name(m, i));
    e[n++] = (pst_st_entry){names[i], PST_DT_U8, 2, {rows, cols}, mask};
  }
  pst_err rc = pst_st_write(path, e, n, NULL);
  free(e);
  free(names);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

typedef struct {
  pst_dataset train, dev;
  pst_batch *micro;
  long *order;
  pst_model *model;
  pst_trainer tr;
  FILE *metrics;
  int have_trainer;
} run_state;

static void run_state_free(run_state *s, int accum) {
  if (s->have_trainer) pst_trainer_free(&s->tr);
  pst_model_destroy(s->model);
  if (s->micro) for (int i = 0; i < accum; i++) pst_batch_free(&s->micro[i]);
  free(s->micro);
  free(s->order);
  pst_dataset_free(&s->train);
  pst_dataset_free(&s->dev);
  if (s->metrics) fclose(s->metrics);
}

static pst_err run(const pst_config *cfg, run_state *s) {
  pst_task task;
  PST_CHECK(pst_task_parse(&task, cfg->task));
  if (!cfg->train_path[0]) PST_ERR(PST_ERR_CONFIG, "data.train is not set (a token-id file, see `pst train --help`)");
  char path[PST_PATH_MAX];
  pst_config_path(cfg, cfg->train_path, path, sizeof path);
  PST_CHECK(pst_dataset_load(&s->train, path, task, cfg->vocab, cfg->num_labels));
  if (cfg->dev_path[0]) {
    pst_config_path(cfg, cfg->dev_path, path, sizeof path);
    PST_CHECK(pst_dataset_load(&s->dev, path, task, cfg->vocab, cfg->num_labels));
  }
  const int B = cfg->batch_size, T = cfg->seq_len, accum = cfg->grad_accum;
  if (s->train.n < B) PST_ERR(PST_ERR_CONFIG, "data.train has %ld examples, fewer than train.batch_size = %d", s->train.n, B);
  long micro_per_epoch = s->train.n / B;
  long steps_per_epoch = micro_per_epoch / accum > 0 ? micro_per_epoch / accum : 1;
  long total = cfg->steps ? cfg->steps : (long)cfg->epochs * steps_per_epoch;

  PST_CHECK(pst_model_create(&s->model, cfg, B, T));
  if (cfg->weights[0]) {
    pst_config_path(cfg, cfg->weights, path, sizeof path);
    PST_CHECK(pst_model_load(s->model, path));
  } else {
    pst_model_init_random(s->model, cfg->seed);
  }
  s->micro = calloc((size_t)accum, sizeof *s->micro);
  s->order = malloc((size_t)s->train.n * sizeof(long));
  if (!s->micro || !s->order) PST_ERR(PST_ERR_MEM, "out of memory for batches");
  for (int i = 0; i < accum; i++) PST_CHECK(pst_batch_alloc(&s->micro[i], B, T, task));

  PST_CHECK(make_dirs(cfg->run_dir));
  snprintf(path, sizeof path, "%s/config.ini", cfg->run_dir);
  FILE *f = fopen(path, "w");
  if (!f) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  pst_config_write(cfg, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->run_dir);
  s->metrics = fopen(path, "w");
  if (!s->metrics) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));

  PST_CHECK(pst_trainer_init(&s->tr, cfg, s->model, total));
  s->have_trainer = 1;
  pst_params *tp = pst_model_trainables(s->model);
  long kept, all;
  pst_model_nnz(s->model, &kept, &all);
  pst_log(1, "pst: %s/%s, %d layers, hidden %d; %ld examples, %ld steps (%ld per epoch), batch %dx%d x%d; %zu trainable floats (%.2f%% of the %ld sparsified weights)\n",
          cfg->arch, cfg->method, cfg->layers, cfg->hidden, s->train.n, total, steps_per_epoch, B, T, accum,
          tp->total, 100.0 * (double)tp->total / (double)all, all);

  long epoch = 0, cursor = 0;
  pst_shuffle(s->order, s->train.n, cfg->seed, epoch);
  double t0 = pst_now(), last_log = t0, loss_since_log = 0;
  long last_step = 0;
  while (s->tr.step < total && !stop_requested) {
    for (int i = 0; i < accum; i++) {
      if (cursor + B > s->train.n) {
        pst_shuffle(s->order, s->train.n, cfg->seed, ++epoch);
        cursor = 0;
      }
      pst_batch_fill(&s->micro[i], &s->train, s->order, s->train.n, cursor, task);
      cursor += B;
    }
    double loss;
    PST_CHECK(pst_trainer_step(&s->tr, s->micro, accum, &loss));
    loss_since_log += loss;
    double now = pst_now();
    pst_model_nnz(s->model, &kept, &all);
    double achieved = 1.0 - (double)kept / (double)all;
    fprintf(s->metrics,
            "{\"step\":%ld,\"epoch\":%ld,\"loss\":%.6g,\"lr\":%.6g,\"sparsity\":%.6g,\"grad_norm\":%.6g,\"elapsed_s\":%.3f}\n",
            s->tr.step, epoch, loss, s->tr.lr, achieved, s->tr.grad_norm, now - t0);
    if (s->tr.step % cfg->log_every == 0 || s->tr.step == total) {
      double tps = (double)(s->tr.step - last_step) * B * T * accum / (now - last_log);
      char eta[32];
      format_eta(eta, sizeof eta, (now - t0) / (double)s->tr.step * (double)(total - s->tr.step));
      /* loss: mean over the steps since the previous line */
      pst_log(1, "step %ld/%ld | loss %.4f | lr %.2e | sparsity %.3f | %.0f tok/s | ETA %s\n", s->tr.step, total,
              loss_since_log / (double)(s->tr.step - last_step), s->tr.lr, achieved, tps, eta);
      loss_since_log = 0;
      last_log = now;
      last_step = s->tr.step;
    }
  }
  fflush(s->metrics);
  if (stop_requested) pst_log(1, "pst: stopped by signal %d after step %ld\n", (int)stop_requested, s->tr.step);
  snprintf(path, sizeof path, "%s/trainables.safetensors", cfg->run_dir);
  PST_CHECK(save_trainables(s->model, path));
  pst_log(1, "pst: wrote %s\n", path);
  if (s->dev.n > 0) {
    pst_eval_result r;
    PST_CHECK(pst_evaluate(s->model, &s->dev, task, B, T, cfg->num_labels, &r));
    pst_model_nnz(s->model, &kept, &all);
    double achieved = 1.0 - (double)kept / (double)all;
    if (r.accuracy >= 0)
      pst_log(1, "dev: %ld examples | loss %.4f | accuracy %.4f | sparsity %.4f\n", r.examples, r.loss, r.accuracy, achieved);
    else
      pst_log(1, "dev: %ld examples | loss %.4f | sparsity %.4f\n", r.examples, r.loss, achieved);
    fprintf(s->metrics, "{\"step\":%ld,\"dev_loss\":%.6g,\"dev_accuracy\":%.6g,\"sparsity\":%.6g}\n", s->tr.step,
            r.loss, r.accuracy, achieved);
  }
  return stop_requested ? PST_ERR_ARG : PST_OK;
}

pst_err pst_train_run(const pst_config *cfg) {
  run_state s;
  memset(&s, 0, sizeof s);
  stop_requested = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  pst_err rc = run(cfg, &s);
  if (rc == PST_ERR_ARG && stop_requested) {
    pst_err_set(rc, __FILE__, __LINE__, __func__, "interrupted by signal %d (trainable tensors were saved)", (int)stop_requested);
  } else if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
  }
  run_state_free(&s, cfg->grad_accum);
  return rc;
}
