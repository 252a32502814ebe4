/* nlgeval.c — generate, gather, score (nlgeval.h). */
#include "pst/nlgeval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pst_err pst_gen_text(const pst_tokenizer *tok, const pst_gen_out *o, int trim, char **text) {
  char *t;
  PST_CHECK(pst_detokenize(tok, o->ids, o->n, PST_DETOK_SKIP_SPECIAL, &t));
  if (trim) {
    size_t a = strspn(t, " \n"), n = strlen(t);
    while (n > a && (t[n - 1] == ' ' || t[n - 1] == '\n')) n--;
    memmove(t, t + a, n - a);
    t[n - a] = 0;
  }
  *text = t;
  return PST_OK;
}

/* Rank 0: split the gathered lines and score them against p's references. */
static pst_err score(char *all, const pst_prompts *p, int n, const char *jar, pst_nlg_scores *s) {
  const char **hyps = malloc((size_t)(n > 0 ? n : 1) * sizeof(char *));
  if (!hyps) PST_ERR(PST_ERR_MEM, "out of memory scoring %d outputs", n);
  int k = 0;
  for (char *line = all; k < n && line && *line; k++) {
    char *e = strchr(line, '\n');
    if (e) *e = 0;
    hyps[k] = line;
    line = e ? e + 1 : NULL;
  }
  pst_err rc = PST_OK;
  if (k != n) {
    rc = PST_ERR_INTERNAL;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "gathered %d outputs for %d inputs", k, n);
  }
  const pst_nlg_opts so = {PST_NLG_ALL, jar && jar[0] ? jar : NULL, 1};
  if (!rc) rc = pst_nlg_score(hyps, n, (const char *const *const *)p->refs, p->nrefs, &so, s);
  free(hyps);
  return rc;
}

pst_err pst_nlg_eval(pst_model *m, const pst_tokenizer *tok, const pst_prompts *p, int n, const pst_gen_opts *o,
                     pst_dist *d, const char *meteor_jar, const char *hyp_path, pst_nlg_eval_result *r) {
  memset(r, 0, sizeof *r);
  if (!p->refs) PST_ERR(PST_ERR_ARG, "%s: scoring needs data-to-text inputs with references", p->origin);
  for (int i = 0; i < n; i++)
    if (p->nrefs[i] < 1)
      PST_ERR(PST_ERR_FORMAT, "%s: input %d (line %ld) has no reference to score against", p->origin, i + 1, p->line[i]);
  const int dp = d ? d->dp : 1, dpr = d ? d->dp_rank : 0, writer = !d || d->tp_rank == 0;
  const int lo = (int)((long)n * dpr / dp), hi = (int)((long)n * (dpr + 1) / dp);
  pst_gen_opts oo = *o;
  oo.index0 = lo;
  pst_gen_out *out = calloc((size_t)(hi - lo > 0 ? hi - lo : 1), sizeof *out);
  if (!out) PST_ERR(PST_ERR_MEM, "out of memory");
  const double t0 = pst_now();
  pst_err rc = pst_generate(m, (const int32_t *const *)p->ids + lo, p->len + lo, hi - lo, &oo, tok, NULL, NULL, out);
  r->seconds = pst_now() - t0;
  char *buf = NULL, *all = NULL;
  size_t blen = 0;
  FILE *f = rc ? NULL : open_memstream(&buf, &blen);
  if (!rc && !f) {
    rc = PST_ERR_MEM;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory");
  }
  double ntok = 0;
  for (int i = 0; !rc && i < hi - lo; i++) {
    char *t;
    if ((rc = pst_gen_text(tok, &out[i], 1, &t))) break;
    for (char *c = t; *c; c++)
      if (*c == '\n' || *c == '\r') *c = ' ';
    if (writer) fprintf(f, "%s\n", t);
    free(t);
    ntok += out[i].n;
  }
  if (f) fclose(f);
  pst_gen_out_free(out, hi - lo);
  free(out);
  /* every rank joins the collectives, failed or not, so that none waits forever */
  int failed = rc != PST_OK;
  if (d && pst_dist_world_max_int(d, &failed) && !rc) rc = PST_ERR_IO;
  if (!rc && failed) {
    rc = PST_ERR_ARG;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "generation failed on another rank");
  }
  long total = 0;
  if (!rc && d) rc = pst_dist_gather_text(d, buf ? buf : "", writer && buf ? (long)blen : 0, &all, &total);
  if (!rc && !d) {
    all = buf;
    buf = NULL;
    total = (long)blen;
  }
  double v[8] = {0};
  const int root = !d || d->world_rank == 0;
  if (!rc && root) {
    if (hyp_path) rc = pst_write_file(hyp_path, all ? all : "", (size_t)total);
    if (!rc) rc = score(all ? all : (char *)"", p, n, meteor_jar, &r->s);
    const pst_nlg_scores *s = &r->s;
    v[0] = s->bleu, v[1] = s->nist, v[2] = s->meteor, v[3] = s->rouge_l, v[4] = s->cider, v[5] = s->ter;
    v[6] = s->has_meteor;
  }
  if (d) { /* the scores and the token count to every rank */
    int bad = rc != PST_OK;
    if (pst_dist_world_max_int(d, &bad) && !rc) rc = PST_ERR_IO;
    if (!rc && bad) {
      rc = PST_ERR_IO;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "scoring failed on rank 0");
    }
    double nt = writer ? ntok : 0;
    if (!rc) rc = pst_dist_bcast(d, v, sizeof v);
    if (!rc && d->world_size > 1) rc = pst_dist_dp_sum_f64(d, &nt, 1, PST_PHASE_OTHER);
    ntok = nt;
    if (!rc && !root) {
      r->s.bleu = v[0], r->s.nist = v[1], r->s.meteor = v[2], r->s.rouge_l = v[3], r->s.cider = v[4], r->s.ter = v[5];
      r->s.has_meteor = (int)v[6];
    }
  }
  r->inputs = n;
  r->tokens = (long)ntok;
  free(buf);
  free(all);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}
