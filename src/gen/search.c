/* search.c — the decoding loops of generate.h over the model's key/value cache: greedy and
 * sampling (one cache row per prompt) and beam search (num_beams rows per prompt), with the
 * semantics of transformers 4.46: _sample / _beam_search with BeamSearchScorer and
 * BeamHypotheses (scores in float32 as torch computes them, hypothesis scores in double as
 * Python does). Prompts are decoded `batch` at a time; each prompt's rows are independent,
 * so a prompt's output is the one generate() gives for it alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pst/generate.h"
#include "pst/rng.h"

void pst_gen_opts_from_config(pst_gen_opts *o, const pst_config *c) {
  memset(o, 0, sizeof *o);
  o->max_new_tokens = c->gen_max_new_tokens;
  o->min_new_tokens = c->gen_min_new_tokens;
  o->num_beams = c->gen_num_beams;
  o->length_penalty = c->gen_length_penalty;
  o->early_stopping = c->gen_early_stopping;
  o->no_repeat_ngram = c->gen_no_repeat_ngram;
  o->do_sample = c->gen_do_sample;
  o->temperature = c->gen_temperature;
  o->top_k = c->gen_top_k;
  o->top_p = c->gen_top_p;
  o->seed = c->seed;
  o->batch = c->gen_batch;
}

pst_err pst_gen_opts_check(const pst_gen_opts *o, int V) {
  if (o->max_new_tokens <= 0) PST_ERR(PST_ERR_ARG, "max_new_tokens = %d: it must be >= 1", o->max_new_tokens);
  if (o->min_new_tokens < 0) PST_ERR(PST_ERR_ARG, "min_new_tokens = %d: it must be >= 0", o->min_new_tokens);
  if (o->num_beams < 1 || o->num_beams > V)
    PST_ERR(PST_ERR_ARG, "num_beams = %d: it must be in [1, %d] (the vocabulary size)", o->num_beams, V);
  if (o->do_sample && o->num_beams > 1)
    PST_ERR(PST_ERR_ARG, "sampling with num_beams = %d (beam sampling) is not supported: use num_beams = 1", o->num_beams);
  if (o->no_repeat_ngram < 0) PST_ERR(PST_ERR_ARG, "no_repeat_ngram_size = %d: it must be >= 0", o->no_repeat_ngram);
  if (!(o->temperature > 0)) PST_ERR(PST_ERR_ARG, "temperature = %g: it must be > 0", o->temperature);
  if (o->top_k < 0) PST_ERR(PST_ERR_ARG, "top_k = %d: it must be >= 0 (0 = off)", o->top_k);
  if (!(o->top_p > 0 && o->top_p <= 1)) PST_ERR(PST_ERR_ARG, "top_p = %g: it must be in (0, 1]", o->top_p);
  if (o->batch < 1) PST_ERR(PST_ERR_ARG, "batch = %d: it must be >= 1", o->batch);
  for (int i = 0; i < o->n_eos; i++)
    if (o->eos[i] < 0 || o->eos[i] >= V) PST_ERR(PST_ERR_ARG, "eos id %d is outside the vocabulary [0, %d)", o->eos[i], V);
  return PST_OK;
}

void pst_gen_out_free(pst_gen_out *out, int n) {
  for (int i = 0; out && i < n; i++) free(out[i].ids);
}

static int is_eos(const pst_gen_opts *o, int32_t t) {
  for (int i = 0; i < o->n_eos; i++)
    if (o->eos[i] == t) return 1;
  return 0;
}

/* State of one batch of prompts: K rows per prompt, row r = prompt r / K, beam r % K. */
typedef struct {
  pst_model *m;
  const pst_gen_opts *o;
  int V, K, nb, Tmax;
  const int *plen;          /* [nb] prompt lengths */
  int32_t *seq, *seq_tmp;   /* [rows, Tmax] prompt + new tokens */
  int *len;                 /* [rows] */
  float *logits, *work;     /* [rows, V], [V] */
  int32_t *ids, *slot, *pos, *last, *src; /* [rows] pass arguments */
} gen_batch;

/* The processors common to every search on row r's scores: no-repeat n-grams, EOS banned
 * before min_new_tokens. */
static void process_row(gen_batch *g, int r, float *scores) {
  const pst_gen_opts *o = g->o;
  const int32_t *seq = g->seq + (size_t)r * g->Tmax;
  pst_ban_repeat_ngrams(scores, seq, g->len[r], o->no_repeat_ngram);
  if (g->len[r] - g->plen[r / g->K] < o->min_new_tokens)
    for (int i = 0; i < o->n_eos; i++) scores[o->eos[i]] = -INFINITY;
}

/* Prefill: prompt b into row b*K; next-token logits into rows b*K .. b*K+K-1 (all beams start
 * from the prompt), the cache rows copied likewise. */
static pst_err prefill(gen_batch *g, const int32_t *const *prompts) {
  int T = 0;
  for (int b = 0; b < g->nb; b++) T = g->plen[b] > T ? g->plen[b] : T;
  int32_t *ids = calloc((size_t)g->nb * T, sizeof(int32_t));
  if (!ids) PST_ERR(PST_ERR_MEM, "out of memory for the prompts");
  for (int b = 0; b < g->nb; b++) {
    memcpy(ids + (size_t)b * T, prompts[b], (size_t)g->plen[b] * sizeof(int32_t));
    g->slot[b] = b * g->K;
    g->pos[b] = 0;
    g->last[b] = g->plen[b] - 1;
  }
  pst_err rc = pst_model_infer(g->m, g->nb, T, ids, g->slot, g->pos, g->last, g->logits);
  free(ids);
  PST_CHECK(rc);
  const size_t V = (size_t)g->V;
  for (int b = g->nb - 1; b >= 0; b--) /* row b -> rows b*K .. b*K+K-1 (b*K >= b: back to front) */
    for (int k = g->K - 1; k >= 0; k--) memmove(g->logits + ((size_t)b * g->K + k) * V, g->logits + b * V, V * sizeof(float));
  for (int r = 0; r < g->nb * g->K; r++) {
    const int b = r / g->K;
    memcpy(g->seq + (size_t)r * g->Tmax, prompts[b], (size_t)g->plen[b] * sizeof(int32_t));
    g->len[r] = g->plen[b];
    g->src[r] = b * g->K;
  }
  if (g->K > 1) pst_model_cache_reorder(g->m, g->src, g->nb * g->K, T);
  return PST_OK;
}

/* One pass over the rows listed in g->slot[0..B): their last token at position len - 1. */
static pst_err step(gen_batch *g, int B) {
  for (int i = 0; i < B; i++) {
    const int r = g->slot[i];
    g->ids[i] = g->seq[(size_t)r * g->Tmax + g->len[r] - 1];
    g->pos[i] = g->len[r] - 1;
    g->last[i] = 0;
  }
  return pst_model_infer(g->m, B, 1, g->ids, g->slot, g->pos, g->last, g->logits);
}

/* Text of row r's new tokens contains a stop string. */
static pst_err hit_stop(gen_batch *g, const pst_tokenizer *tok, int r, int *hit) {
  *hit = 0;
  if (!g->o->n_stop) return PST_OK;
  const int b = r / g->K;
  char *text;
  PST_CHECK(pst_detokenize(tok, g->seq + (size_t)r * g->Tmax + g->plen[b], g->len[r] - g->plen[b], 0, &text));
  for (int i = 0; i < g->o->n_stop && !*hit; i++) *hit = strstr(text, g->o->stop[i]) != NULL;
  free(text);
  return PST_OK;
}

static pst_err set_output(pst_gen_out *out, const int32_t *ids, int n, double score, pst_gen_end end) {
  out->ids = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
  if (!out->ids) PST_ERR(PST_ERR_MEM, "out of memory for the output");
  memcpy(out->ids, ids, (size_t)n * sizeof(int32_t));
  out->n = n;
  out->score = score;
  out->end = end;
  return PST_OK;
}

/* Greedy or sampling: one row per prompt; rows leave the passes once they end. */
static pst_err search_greedy(gen_batch *g, const pst_tokenizer *tok, long index0, pst_gen_out *out) {
  const pst_gen_opts *o = g->o;
  const int V = g->V;
  double *score = calloc((size_t)g->nb, sizeof(double));
  int *active = malloc((size_t)g->nb * sizeof(int)), na = g->nb;
  pst_err rc = PST_OK;
  if (!score || !active) {
    free(score);
    free(active);
    PST_ERR(PST_ERR_MEM, "out of memory for the search");
  }
  for (int b = 0; b < g->nb; b++) active[b] = b;
  while (na > 0) {
    int keep = 0;
    for (int i = 0; i < na; i++) {
      const int b = active[i];
      const float *lg = g->logits + (size_t)i * V; /* pass order (after the prefill, i = b) */
      float *w = g->work;
      memcpy(w, lg, (size_t)V * sizeof(float));
      process_row(g, b, w);
      int t = 0;
      if (o->do_sample) {
        pst_warp_logits(w, V, o->temperature, o->top_k, o->top_p);
        const uint64_t r = pst_rng_u64(o->seed, (uint64_t)(index0 + b), (uint64_t)(g->len[b] - g->plen[b]));
        t = pst_sample_index(w, V, (double)(r >> 11) * 0x1.0p-53);
      } else {
        for (int j = 1; j < V; j++)
          if (w[j] > w[t]) t = j;
      }
      pst_log_softmax(w, lg, V);
      score[b] += w[t];
      g->seq[(size_t)b * g->Tmax + g->len[b]++] = t;
      const int nnew = g->len[b] - g->plen[b];
      int stop = 0;
      if ((rc = hit_stop(g, tok, b, &stop))) goto done;
      const pst_gen_end end = is_eos(o, t) ? PST_GEN_EOS : stop ? PST_GEN_STOP : PST_GEN_LENGTH;
      if (end != PST_GEN_LENGTH || nnew == o->max_new_tokens) {
        if ((rc = set_output(&out[b], g->seq + (size_t)b * g->Tmax + g->plen[b], nnew, score[b], end))) goto done;
      } else {
        active[keep++] = b;
      }
    }
    na = keep;
    if (!na) break;
    for (int i = 0; i < na; i++) g->slot[i] = active[i];
    if ((rc = step(g, na))) goto done;
  }
done:
  free(score);
  free(active);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- beam search ---- */

/* BeamHypotheses: up to K finished hypotheses in insertion order (HF's list). */
typedef struct {
  int n;
  double worst;
  double *score;            /* [K+1] */
  int32_t *ids;             /* [K+1, Tmax] new tokens */
  int *len;                 /* [K+1] */
  int *eos;                 /* [K+1] ended by EOS */
} beam_hyps;

static void hyps_add(beam_hyps *h, int K, int Tmax, const int32_t *ids, int n, double sum_logprobs, int gen_len,
                     double lp, int eos) {
  const double score = sum_logprobs / pow((double)gen_len, lp);
  if (h->n >= K && !(score > h->worst)) return;
  memcpy(h->ids + (size_t)h->n * Tmax, ids, (size_t)n * sizeof(int32_t));
  h->len[h->n] = n;
  h->score[h->n] = score;
  h->eos[h->n] = eos;
  h->n++;
  if (h->n > K) { /* drop the lowest (first of equal ones), the next lowest becomes worst */
    int lo = 0;
    for (int i = 1; i < h->n; i++)
      if (h->score[i] < h->score[lo]) lo = i;
    double second = INFINITY;
    for (int i = 0; i < h->n; i++)
      if (i != lo && h->score[i] < second) second = h->score[i];
    for (int i = lo; i + 1 < h->n; i++) {
      h->score[i] = h->score[i + 1];
      h->len[i] = h->len[i + 1];
      h->eos[i] = h->eos[i + 1];
      memcpy(h->ids + (size_t)i * Tmax, h->ids + (size_t)(i + 1) * Tmax, (size_t)h->len[i] * sizeof(int32_t));
    }
    h->n--;
    h->worst = second;
  } else {
    h->worst = score < h->worst ? score : h->worst;
  }
}

static int hyps_done(const beam_hyps *h, int K, int early, double best_sum, int new_len, double lp) {
  if (h->n < K) return 0;
  if (early) return 1;
  return h->worst >= best_sum / pow((double)new_len, lp);
}

/* A candidate continuation: score (beam score + processed log prob) and flat index k*V + t. */
typedef struct {
  float s;
  long idx;
} cand;

/* Insert c into the descending list top[0..*n) of capacity cap (equal scores: lower index
 * first, as torch.topk's sorted output on CPU). */
static void top_insert(cand *top, int *n, int cap, cand c) {
  int i = *n;
  if (i == cap) {
    const cand w = top[cap - 1];
    if (c.s < w.s || (c.s == w.s && c.idx > w.idx)) return;
    i = cap - 1;
  } else {
    (*n)++;
  }
  while (i > 0 && (top[i - 1].s < c.s || (top[i - 1].s == c.s && top[i - 1].idx > c.idx))) {
    top[i] = top[i - 1];
    i--;
  }
  top[i] = c;
}

static pst_err search_beam(gen_batch *g, pst_gen_out *out) {
  const pst_gen_opts *o = g->o;
  const int K = g->K, V = g->V, nb = g->nb, rows = nb * K, Tmax = g->Tmax;
  const int ncand = (o->n_eos + 1 > 2 ? o->n_eos + 1 : 2) * K;
  float *bscore = malloc((size_t)rows * sizeof(float)), *nscore = malloc((size_t)rows * sizeof(float));
  int32_t *ntok = malloc((size_t)rows * sizeof(int32_t));
  int *state = calloc((size_t)nb, sizeof(int)); /* 0 running, 1 done this step, 2 finished */
  int *lrow = malloc((size_t)nb * sizeof(int)); /* running prompt b's logits: rows lrow[b]*K.. */
  cand *top = malloc((size_t)ncand * sizeof(cand));
  beam_hyps *hy = calloc((size_t)nb, sizeof(beam_hyps));
  pst_err rc = PST_OK;
  if (!bscore || !nscore || !ntok || !state || !lrow || !top || !hy) {
    rc = PST_ERR_MEM;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for the beam search");
    goto done;
  }
  for (int b = 0; b < nb; b++) {
    beam_hyps *h = &hy[b];
    h->worst = 1e9;
    h->score = malloc((size_t)(K + 1) * sizeof(double));
    h->ids = malloc((size_t)(K + 1) * Tmax * sizeof(int32_t));
    h->len = malloc((size_t)(K + 1) * sizeof(int));
    h->eos = malloc((size_t)(K + 1) * sizeof(int));
    if (!h->score || !h->ids || !h->len || !h->eos) {
      rc = PST_ERR_MEM;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for the beam hypotheses");
      goto done;
    }
  }
  for (int r = 0; r < rows; r++) bscore[r] = r % K ? -1e9f : 0.0f;
  for (int b = 0; b < nb; b++) lrow[b] = b;
  for (;;) {
    int running = 0;
    for (int b = 0; b < nb; b++) {
      for (int k = 0; k < K; k++) g->src[b * K + k] = b * K + k;
      if (state[b]) continue;
      int nt = 0;
      for (int k = 0; k < K; k++) {
        const int r = b * K + k;
        float *w = g->work;
        pst_log_softmax(w, g->logits + ((size_t)lrow[b] * K + k) * V, V);
        process_row(g, r, w);
        for (int t = 0; t < V; t++) {
          const cand c = {w[t] + bscore[r], (long)k * V + t};
          if (nt < ncand || c.s > top[ncand - 1].s) top_insert(top, &nt, ncand, c);
        }
      }
      const int new_len = g->len[b * K] - g->plen[b] + 1; /* cur_len - prompt length */
      int j = 0;
      for (int rank = 0; rank < nt && j < K; rank++) {
        const int k = (int)(top[rank].idx / V);
        const int32_t t = (int32_t)(top[rank].idx % V);
        const int r = b * K + k;
        if (is_eos(o, t)) {
          if (rank >= K) continue;
          hyps_add(&hy[b], K, Tmax, g->seq + (size_t)r * Tmax + g->plen[b], new_len - 1, top[rank].s, new_len,
                   o->length_penalty, 1);
        } else {
          nscore[b * K + j] = top[rank].s;
          ntok[b * K + j] = t;
          g->src[b * K + j] = r;
          j++;
        }
      }
      if (j < K) {
        rc = PST_ERR_INTERNAL;
        pst_err_set(rc, __FILE__, __LINE__, __func__, "beam search: fewer than %d non-EOS candidates", K);
        goto done;
      }
      if (hyps_done(&hy[b], K, o->early_stopping, top[0].s, new_len, o->length_penalty)) state[b] = 1;
    }
    /* reorder the rows (sequences and cache), append the chosen tokens */
    for (int r = 0; r < rows; r++)
      if (g->src[r] != r) memcpy(g->seq_tmp + (size_t)r * Tmax, g->seq + (size_t)g->src[r] * Tmax, (size_t)g->len[r] * sizeof(int32_t));
    for (int r = 0; r < rows; r++)
      if (g->src[r] != r) memcpy(g->seq + (size_t)r * Tmax, g->seq_tmp + (size_t)r * Tmax, (size_t)g->len[r] * sizeof(int32_t));
    int used = 0; /* cached positions: every token so far (the chosen ones are not in yet) */
    for (int r = 0; r < rows; r++) used = g->len[r] > used ? g->len[r] : used;
    pst_model_cache_reorder(g->m, g->src, rows, used);
    int B = 0;
    for (int b = 0; b < nb; b++) {
      if (state[b] == 2) continue; /* finished earlier */
      if (state[b] == 1) { /* done by the hypotheses' test in this step */
        state[b] = 2;
        continue;
      }
      for (int k = 0; k < K; k++) {
        const int r = b * K + k;
        g->seq[(size_t)r * Tmax + g->len[r]++] = ntok[r];
        bscore[r] = nscore[r];
      }
      const int nnew = g->len[b * K] - g->plen[b];
      if (nnew >= o->max_new_tokens) { /* max length: the running beams join the hypotheses */
        for (int k = 0; k < K; k++) {
          const int r = b * K + k;
          hyps_add(&hy[b], K, Tmax, g->seq + (size_t)r * Tmax + g->plen[b], nnew, bscore[r], nnew, o->length_penalty, 0);
        }
        state[b] = 2;
        continue;
      }
      lrow[b] = B / K;
      for (int k = 0; k < K; k++) g->slot[B++] = b * K + k;
      running++;
    }
    if (!running) break;
    if ((rc = step(g, B))) goto done;
  }
  for (int b = 0; b < nb; b++) { /* the best hypothesis: highest score, the last added of equal ones */
    const beam_hyps *h = &hy[b];
    int best = 0;
    for (int i = 1; i < h->n; i++)
      if (h->score[i] >= h->score[best]) best = i;
    int32_t *ids = h->ids + (size_t)best * Tmax;
    int n = h->len[best];
    if (h->eos[best]) ids[n++] = o->eos[0]; /* HF appends the first EOS id */
    if ((rc = set_output(&out[b], ids, n, h->score[best], h->eos[best] ? PST_GEN_EOS : PST_GEN_LENGTH))) goto done;
  }
done:
  free(lrow);
  for (int b = 0; hy && b < nb; b++) {
    free(hy[b].score);
    free(hy[b].ids);
    free(hy[b].len);
    free(hy[b].eos);
  }
  free(hy);
  free(top);
  free(state);
  free(ntok);
  free(nscore);
  free(bscore);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_generate(pst_model *m, const int32_t *const *prompts, const int *lens, int n, const pst_gen_opts *o,
                     const pst_tokenizer *tok, void (*progress)(void *ctx, int done, int total), void *ctx,
                     pst_gen_out *out) {
  const int V = pst_model_vocab(m);
  memset(out, 0, (size_t)n * sizeof *out);
  PST_CHECK(pst_gen_opts_check(o, V));
  if (o->n_stop && !tok) PST_ERR(PST_ERR_ARG, "stop strings need the model's tokenizer");
  if (n <= 0) return PST_OK;
  int maxp = 0, longest = 0;
  for (int i = 0; i < n; i++) {
    if (lens[i] <= 0) PST_ERR(PST_ERR_ARG, "prompt %ld is empty: generation needs at least one token", o->index0 + i + 1);
    if (lens[i] > maxp) maxp = lens[i], longest = i;
  }
  const int K = o->num_beams, nbmax = o->batch < n ? o->batch : n;
  const long Tmax = (long)maxp + o->max_new_tokens;
  if (Tmax > pst_model_max_positions(m))
    PST_ERR(PST_ERR_ARG, "prompt %ld has %d tokens: with max_new_tokens = %d that exceeds the model's %d positions",
            o->index0 + longest + 1, maxp, o->max_new_tokens, pst_model_max_positions(m));
  const int rows = nbmax * K;
  const int max_tokens = nbmax * maxp > rows ? nbmax * maxp : rows;
  PST_CHECK(pst_model_infer_begin(m, rows, (int)Tmax, max_tokens));
  gen_batch g = {.m = m, .o = o, .V = V, .K = K, .Tmax = (int)Tmax};
  pst_err rc = PST_OK;
  g.seq = malloc((size_t)rows * Tmax * sizeof(int32_t));
  g.seq_tmp = malloc((size_t)rows * Tmax * sizeof(int32_t));
  g.len = malloc((size_t)rows * sizeof(int));
  g.logits = malloc((size_t)rows * V * sizeof(float));
  g.work = malloc((size_t)V * sizeof(float));
  g.ids = malloc((size_t)rows * sizeof(int32_t));
  g.slot = malloc((size_t)rows * sizeof(int32_t));
  g.pos = malloc((size_t)rows * sizeof(int32_t));
  g.last = malloc((size_t)rows * sizeof(int32_t));
  g.src = malloc((size_t)rows * sizeof(int32_t));
  if (!g.seq || !g.seq_tmp || !g.len || !g.logits || !g.work || !g.ids || !g.slot || !g.pos || !g.last || !g.src) {
    rc = PST_ERR_MEM;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory for generation buffers (%d rows x %ld positions)",
                rows, Tmax);
  }
  for (int i0 = 0; !rc && i0 < n; i0 += nbmax) {
    g.nb = n - i0 < nbmax ? n - i0 : nbmax;
    g.plen = lens + i0;
    if ((rc = prefill(&g, prompts + i0))) break;
    rc = K > 1 ? search_beam(&g, out + i0) : search_greedy(&g, tok, o->index0 + i0, out + i0);
    if (!rc && progress) progress(ctx, i0 + g.nb, n);
  }
  free(g.seq);
  free(g.seq_tmp);
  free(g.len);
  free(g.logits);
  free(g.work);
  free(g.ids);
  free(g.slot);
  free(g.pos);
  free(g.last);
  free(g.src);
  pst_err rc2 = pst_model_infer_end(m);
  if (rc) {
    pst_gen_out_free(out, n);
    memset(out, 0, (size_t)n * sizeof *out);
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  if (rc2) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc2;
}
