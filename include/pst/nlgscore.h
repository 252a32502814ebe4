/* nlgscore.h — corpus-level scores of generated text (the E2E NLG challenge metrics), each
 * computed as its reference implementation does, on the reference's own tokenization:
 *
 *   bleu     sacrebleu 2.x corpus_bleu with its defaults: 13a tokenization (mteval-v13a's),
 *            4-grams, counts clipped by the maximum over the references, brevity penalty
 *            from the closest reference length (ties: the shorter), "exp" smoothing; 0-100.
 *            With lowercase set: corpus_bleu(lowercase=True), which is also what the E2E
 *            script's mteval-v13a.pl run reports (mteval lowercases by default) as 0-1.
 *   nist     mteval-v13a.pl (as the E2E script e2e-metrics runs it): its tokenization with
 *            ASCII lowercasing, 5-grams, information weights from the n-gram counts of all
 *            references of the corpus, its brevity penalty (beta from ratio 1.5 -> score
 *            0.5) on the hypothesis length over the total reference length divided by the
 *            largest number of references of a segment (mteval needs every reference set to
 *            cover every segment; the E2E script pads the missing ones with empty segments).
 *   meteor   METEOR 1.5 (meteor-1.5.jar, -l en -norm) fed as pycocoevalcap feeds it; needs
 *            java and the jar (see pst_nlg_meteor); 0-1.
 *   rouge_l  pycocoevalcap Rouge: LCS, F-measure with beta 1.2 from the best precision and
 *            the best recall over the references, mean over segments; 0-1.
 *   cider    pycocoevalcap Cider (CIDEr-D: tf-idf n-grams 1-4 with document frequencies
 *            from the references of this corpus, clipping, Gaussian length penalty sigma 6,
 *            x10), mean over segments.
 *   ter      sacrebleu 2.x TER with its defaults (case-insensitive, no normalization):
 *            shift-based edit distance as tercom (beam 25, shifts of at most 10 words
 *            within 50 positions), best reference, over the average reference length; 0-100.
 *
 * METEOR, ROUGE-L and CIDEr see the text as the COCO caption evaluation (and so the E2E
 * script) gives it to them: Stanford PTBTokenizer 3.4.1 (-lowerCase) output with its
 * punctuation tokens removed. pst_nlg_coco_tokenize reproduces that pipeline for the
 * constructions of English restaurant descriptions (after the punctuation removal it gives
 * the Java tokenizer's output on all E2E test and dev references and on all but 4 of the
 * 42,061 training references); it is not a full PTB lexer.
 *
 * Inputs are UTF-8 strings (invalid UTF-8 is PST_ERR_ARG naming the segment); refs[i]
 * points to nrefs[i] >= 1 references of segment i. See each metric's file in src/eval/ for
 * the details and the known deviations. */
#ifndef PST_NLGSCORE_H
#define PST_NLGSCORE_H

#include <stddef.h>

#include "pst/core.h"

enum {
  PST_NLG_BLEU = 1,
  PST_NLG_NIST = 2,
  PST_NLG_METEOR = 4,
  PST_NLG_ROUGE_L = 8,
  PST_NLG_CIDER = 16,
  PST_NLG_TER = 32,
  PST_NLG_ALL = 63
};

typedef struct {
  double bleu, nist, meteor, rouge_l, cider, ter; /* NAN when not computed */
  int has_meteor;                                 /* 1 when meteor holds METEOR's score */
  char meteor_note[256];                          /* why METEOR is missing ("" when it is not) */
} pst_nlg_scores;

typedef struct {
  unsigned metrics;       /* PST_NLG_* bits; 0 means PST_NLG_ALL */
  const char *meteor_jar; /* meteor-1.5.jar; NULL: $PST_METEOR_JAR, then the reference stack
                             (.ref/scores/pycocoevalcap/meteor/ under the current directory or
                             the directory of the running program) */
  int bleu_lowercase;     /* BLEU on lowercased text (sacrebleu lowercase=True) */
} pst_nlg_opts;

/* Every metric the options ask for (opts NULL: all, defaults). METEOR that cannot run (no
 * java, no jar, the jar failing) is not an error: has_meteor = 0 and meteor_note says why. */
pst_err pst_nlg_score(const char *const *hyps, int n, const char *const *const *refs, const int *nrefs,
                      const pst_nlg_opts *opts, pst_nlg_scores *out);

/* ---- single metrics (same arguments) ---------------------------------------------------- */
pst_err pst_nlg_bleu(double *out, const char *const *hyps, int n, const char *const *const *refs,
                     const int *nrefs, int lowercase);
pst_err pst_nlg_nist(double *out, const char *const *hyps, int n, const char *const *const *refs,
                     const int *nrefs);
pst_err pst_nlg_rouge_l(double *out, const char *const *hyps, int n, const char *const *const *refs,
                        const int *nrefs);
pst_err pst_nlg_cider(double *out, const char *const *hyps, int n, const char *const *const *refs,
                      const int *nrefs);
pst_err pst_nlg_ter(double *out, const char *const *hyps, int n, const char *const *const *refs,
                    const int *nrefs);
/* METEOR 1.5 through `java -jar -Xmx2G JAR - - -stdio -l en -norm`, run in the jar's folder.
 * Returns PST_OK with *ok = 0 and the reason in note when java or the jar is missing or the
 * jar does not answer; errors only for bad arguments. */
pst_err pst_nlg_meteor(double *out, int *ok, char *note, size_t note_cap, const char *const *hyps, int n,
                       const char *const *const *refs, const int *nrefs, const char *jar);

/* ---- tokenizers (malloc'd result, tokens joined by single spaces; free()) ----------------- */
/* mteval-v13a / sacrebleu "13a". sacrebleu: lowercase 0/1 = Python str.lower() first; mteval
 * mode (mteval != 0): whitespace collapsed first, ASCII lowercasing as mteval's tr/A-Z/a-z/. */
pst_err pst_nlg_tokenize_13a(char **out, const char *s, int lowercase, int mteval);
/* The COCO caption pipeline: PTBTokenizer -lowerCase, then its punctuation tokens removed. */
pst_err pst_nlg_coco_tokenize(char **out, const char *s);

/* ---- reading hypotheses and references ---------------------------------------------------- */
typedef struct {
  char **line; /* [n] NUL-terminated UTF-8, without the line end */
  int n;
} pst_nlg_lines;

/* One segment a line ("\n" or "\r\n" ends a line; a last line without one counts). An empty
 * file, a NUL byte or invalid UTF-8 is PST_ERR_FORMAT naming name:line. */
pst_err pst_nlg_read_lines(pst_nlg_lines *out, const char *path);
pst_err pst_nlg_parse_lines(pst_nlg_lines *out, const char *buf, size_t len, const char *name);
void pst_nlg_lines_free(pst_nlg_lines *l);

/* References in groups separated by blank lines (the e2e-metrics multi-reference format): group
 * i holds the references of segment i. As e2e-metrics reads it, a file without any blank
 * line holds one reference per line (one group each), and a blank last line ends the last
 * group; a group left empty (two blank lines in a row) is PST_ERR_FORMAT naming the line. */
typedef struct {
  pst_nlg_lines lines; /* every reference, in order */
  int *start;          /* [ngroups + 1]: group g = lines.line[start[g] .. start[g+1]) */
  int ngroups;
} pst_nlg_groups;
pst_err pst_nlg_read_groups(pst_nlg_groups *out, const char *path);
pst_err pst_nlg_parse_groups(pst_nlg_groups *out, const char *buf, size_t len, const char *name);
void pst_nlg_groups_free(pst_nlg_groups *g);

#endif
