/* score_cmd.c — `pst score HYP REF... | --refs-grouped FILE`: corpus BLEU, NIST, METEOR, ROUGE-L,
 * CIDEr and TER of a file of hypotheses (nlgscore.h) as a table or JSON. Exit status 0 ok,
 * 1 bad input, 2 bad usage. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/cli.h"
#include "pst/nlgscore.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: pst score HYP REF [REF ...] [options]\n"
          "       pst score HYP --refs-grouped FILE [options]\n\n"
          "Scores the hypotheses of HYP (one a line, UTF-8) against references with the metrics of the\n"
          "E2E NLG challenge, each as its reference implementation computes it (see nlgscore.h):\n"
          "  bleu     sacrebleu corpus_bleu, 13a tokens, 0-100 (--lowercase: lowercase=True, the E2E\n"
          "           script's mteval BLEU x 100)\n"
          "  nist     mteval-v13a.pl NIST (lowercased, 5-grams), as the E2E script\n"
          "  meteor   METEOR 1.5 (meteor-1.5.jar through java, as pycocoevalcap), 0-1\n"
          "  rouge_l  pycocoevalcap ROUGE-L, 0-1\n"
          "  cider    pycocoevalcap CIDEr (CIDEr-D), document frequencies from these references\n"
          "  ter      sacrebleu TER (case-insensitive), 0-100, lower is better\n"
          "METEOR, ROUGE-L and CIDEr see the text PTB-tokenized, lowercased, without punctuation, as\n"
          "the COCO caption evaluation gives it to them.\n\n"
          "References:\n"
          "  REF ...              one file per reference index (sacrebleu style), each with as many\n"
          "                       lines as HYP; line i of every REF is a reference of hypothesis i\n"
          "  --refs-grouped FILE  the references of each hypothesis as a group of lines, groups\n"
          "                       separated by one blank line, group i for hypothesis i (e2e-metrics\n"
          "                       multi-reference format; a file without blank lines has one\n"
          "                       reference a line)\n"
          "Options:\n"
          "  --metrics LIST       comma-separated subset of bleu,nist,meteor,rouge_l,cider,ter (default\n"
          "                       all)\n"
          "  --lowercase          BLEU on lowercased text\n"
          "  --json               one JSON object instead of the table (numbers in full precision;\n"
          "                       \"meteor\": null and \"meteor_note\" when METEOR could not run)\n"
          "  --meteor-jar PATH    meteor-1.5.jar (default: $PST_METEOR_JAR, else the jar of the\n"
          "                       reference stack .ref/scores, installed by scripts/ref-scores);\n"
          "                       needs java on PATH. Without them METEOR is reported unavailable.\n");
}

static const struct {
  const char *name, *label;
  unsigned bit;
} METRICS[] = {{"bleu", "BLEU", PST_NLG_BLEU},          {"nist", "NIST", PST_NLG_NIST},
               {"meteor", "METEOR", PST_NLG_METEOR},    {"rouge_l", "ROUGE_L", PST_NLG_ROUGE_L},
               {"cider", "CIDEr", PST_NLG_CIDER},       {"ter", "TER", PST_NLG_TER}};
#define NMETRICS (int)(sizeof METRICS / sizeof METRICS[0])

static int parse_metrics(const char *list, unsigned *out) {
  *out = 0;
  char *copy = strdup(list), *save = NULL;
  if (!copy) return -1;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int found = 0;
    for (int k = 0; k < NMETRICS; k++)
      if (!strcmp(t, METRICS[k].name)) {
        *out |= METRICS[k].bit;
        found = 1;
      }
    if (!found) {
      fprintf(stderr, "pst score: unknown metric '%s' (known: bleu,nist,meteor,rouge_l,cider,ter)\n", t);
      free(copy);
      return -1;
    }
  }
  free(copy);
  return *out ? 0 : -1;
}

static double value_of(const pst_nlg_scores *s, unsigned bit) {
  switch (bit) {
    case PST_NLG_BLEU: return s->bleu;
    case PST_NLG_NIST: return s->nist;
    case PST_NLG_METEOR: return s->meteor;
    case PST_NLG_ROUGE_L: return s->rouge_l;
    case PST_NLG_CIDER: return s->cider;
    default: return s->ter;
  }
}

static int print_json(const pst_nlg_scores *s, unsigned metrics, int n, long nref) {
  json_t *o = json_object();
  if (!o) return 1;
  json_object_set_new(o, "segments", json_integer(n));
  json_object_set_new(o, "references", json_integer(nref));
  for (int k = 0; k < NMETRICS; k++) {
    if (!(metrics & METRICS[k].bit)) continue;
    double v = value_of(s, METRICS[k].bit);
    json_object_set_new(o, METRICS[k].name, isfinite(v) ? json_real(v) : json_null());
  }
  if ((metrics & PST_NLG_METEOR) && !s->has_meteor) json_object_set_new(o, "meteor_note", json_string(s->meteor_note));
  char *txt = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
  json_decref(o);
  if (!txt) return 1;
  printf("%s\n", txt);
  free(txt);
  return 0;
}

static void print_table(const pst_nlg_scores *s, unsigned metrics, int n, long nref, const char *hyp) {
  printf("%s: %d segments, %ld references\n", hyp, n, nref);
  for (int k = 0; k < NMETRICS; k++) {
    if (!(metrics & METRICS[k].bit)) continue;
    if (METRICS[k].bit == PST_NLG_METEOR && !s->has_meteor)
      printf("  %-8s unavailable: %s\n", METRICS[k].label, s->meteor_note);
    else printf("  %-8s %10.4f\n", METRICS[k].label, value_of(s, METRICS[k].bit));
  }
}

typedef struct {
  pst_nlg_lines hyp;
  pst_nlg_lines *reffile; /* [nfiles] */
  int nfiles;
  pst_nlg_groups grouped;
  const char **flat;      /* every reference pointer, segment by segment */
  const char *const **refs;
  int *nrefs;
} inputs;

static void inputs_free(inputs *in) {
  pst_nlg_lines_free(&in->hyp);
  for (int f = 0; f < in->nfiles; f++) pst_nlg_lines_free(&in->reffile[f]);
  free(in->reffile);
  pst_nlg_groups_free(&in->grouped);
  free(in->flat);
  free((void *)in->refs);
  free(in->nrefs);
}

/* Read HYP and the references and lay out refs[i] / nrefs[i]; 0 ok, else 1 (message printed). */
static int load(inputs *in, const char *hyp, char **reff, int nfiles, const char *grouped) {
  pst_err rc = pst_nlg_read_lines(&in->hyp, hyp);
  int n = in->hyp.n;
  long total = 0;
  if (!rc && grouped) {
    rc = pst_nlg_read_groups(&in->grouped, grouped);
    if (!rc && in->grouped.ngroups != n) {
      fprintf(stderr, "pst score: %s has %d reference groups but %s has %d lines\n", grouped,
              in->grouped.ngroups, hyp, n);
      return 1;
    }
    total = in->grouped.lines.n;
  }
  if (!rc && nfiles) {
    in->reffile = calloc((size_t)nfiles, sizeof *in->reffile);
    if (!in->reffile) return 1;
    in->nfiles = nfiles;
    for (int f = 0; f < nfiles && !rc; f++) {
      rc = pst_nlg_read_lines(&in->reffile[f], reff[f]);
      if (!rc && in->reffile[f].n != n) {
        fprintf(stderr, "pst score: %s has %d lines but %s has %d lines\n", reff[f], in->reffile[f].n, hyp, n);
        return 1;
      }
    }
    total = (long)nfiles * n;
  }
  if (rc) {
    pst_err_print(stderr, 0);
    return 1;
  }
  in->flat = malloc((size_t)(total ? total : 1) * sizeof *in->flat);
  in->refs = malloc((size_t)n * sizeof *in->refs);
  in->nrefs = malloc((size_t)n * sizeof *in->nrefs);
  if (!in->flat || !in->refs || !in->nrefs) {
    fprintf(stderr, "pst score: out of memory\n");
    return 1;
  }
  long k = 0;
  for (int i = 0; i < n; i++) {
    in->refs[i] = in->flat + k;
    if (grouped) {
      for (int r = in->grouped.start[i]; r < in->grouped.start[i + 1]; r++) in->flat[k++] = in->grouped.lines.line[r];
      in->nrefs[i] = in->grouped.start[i + 1] - in->grouped.start[i];
    } else {
      for (int f = 0; f < nfiles; f++) in->flat[k++] = in->reffile[f].line[i];
      in->nrefs[i] = nfiles;
    }
  }
  return 0;
}

int pst_cmd_score(int argc, char **argv) {
  const char *hyp = NULL, *grouped = NULL, *jar = NULL;
  char **reff = calloc((size_t)argc + 1, sizeof *reff);
  int nfiles = 0, json = 0, lower = 0;
  unsigned metrics = PST_NLG_ALL;
  if (!reff) return 1;
  for (int a = 1; a < argc; a++) {
    const char *s = argv[a];
    int more = a + 1 < argc;
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      usage(stdout);
      free(reff);
      return 0;
    } else if (!strcmp(s, "--json")) {
      json = 1;
    } else if (!strcmp(s, "--lowercase")) {
      lower = 1;
    } else if (!strcmp(s, "--refs-grouped") && more) {
      grouped = argv[++a];
    } else if (!strcmp(s, "--meteor-jar") && more) {
      jar = argv[++a];
    } else if (!strcmp(s, "--metrics") && more) {
      if (parse_metrics(argv[++a], &metrics)) {
        free(reff);
        return 2;
      }
    } else if (s[0] == '-' && s[1] == '-') {
      fprintf(stderr, "pst score: unknown option or missing value: %s\n\n", s);
      usage(stderr);
      free(reff);
      return 2;
    } else if (!hyp) {
      hyp = s;
    } else {
      reff[nfiles++] = argv[a];
    }
  }
  if (!hyp || (!nfiles && !grouped) || (nfiles && grouped)) {
    fprintf(stderr, "pst score: %s\n\n",
            !hyp ? "no hypothesis file given"
                 : (nfiles ? "give REF files or --refs-grouped, not both" : "no references given"));
    usage(stderr);
    free(reff);
    return 2;
  }
  inputs in;
  memset(&in, 0, sizeof in);
  int status = load(&in, hyp, reff, nfiles, grouped);
  if (!status) {
    pst_nlg_opts opts = {metrics, jar, lower};
    pst_nlg_scores s;
    long total = 0;
    for (int i = 0; i < in.hyp.n; i++) total += in.nrefs[i];
    if (pst_nlg_score((const char *const *)in.hyp.line, in.hyp.n, in.refs, in.nrefs, &opts, &s)) {
      pst_err_print(stderr, 0);
      status = 1;
    } else if (json) {
      status = print_json(&s, metrics, in.hyp.n, total);
    } else {
      print_table(&s, metrics, in.hyp.n, total, hyp);
    }
  }
  inputs_free(&in);
  free(reff);
  return status;
}
