/* ter.c — TER as sacrebleu 2.x computes it with its defaults (metrics/ter.py, lib_ter.py):
 * text lowercased (Python str.lower()) and split on white space; per segment the fewest
 * edits over the references, corpus TER = 100 * sum of edits / sum over segments of the
 * average reference length (100 when that sum is 0 but there are edits, else 0).
 *
 * The edits of a hypothesis h against one reference r (translation_edit_rate), as tercom:
 * repeat the best shift while it lowers the edit distance, then edits = shifts + distance.
 *   distance: Levenshtein (insert, delete, substitute cost 1) computed only in a beam of 25
 *     cells (ceil(ratio / 2 + 25) when that is larger, ratio = |r| / |h|) around the
 *     pseudo-diagonal floor(i * ratio) of row i, the last row in full; ties prefer
 *     match/substitution, then deletion, then insertion of the hypothesis word, and the
 *     operation trace (read back from the corner) aligns each reference position to a
 *     hypothesis position;
 *   shift candidates: word sequences of 1..10 words equal in h (at start_h) and r (at
 *     start_r), |start_r - start_h| <= 50, with at least one misaligned word on both sides,
 *     whose reference start is not aligned inside the sequence itself; each is tried at the
 *     hypothesis positions aligned to r[start_r - 1 .. start_r + len - 1] (position 0 for
 *     start_r - 1 = -1), each distinct position once;
 *   the best candidate has the largest distance gain, then the longest sequence, then the
 *     earliest start_h, then the earliest target; at most 1000 candidates are tried per
 *     (h, r) over all rounds, and the round in which the count reaches 1000 applies no shift.
 * sacrebleu caches the rows of the distance table by hypothesis prefix; keeping the rows of
 * the previous call for the common prefix (below) gives the same values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nlg_internal.h"

#define MAX_SHIFT_SIZE 10
#define MAX_SHIFT_DIST 50
#define BEAM_WIDTH 25
#define MAX_CANDIDATES 1000
#define INF 10000000000000000LL
#define MAX_CELLS (1L << 24) /* the largest distance table this implementation allocates */

enum { OP_NOP = ' ', OP_SUB = 's', OP_INS = 'i', OP_DEL = 'd', OP_UNDEF = 'x' };

/* Beam edit distance of hypotheses of one length against one reference. */
typedef struct {
  const int *ref;
  int nr, nh;
  int64_t *cost; /* [(nh + 1) * (nr + 1)]; row i is valid in columns lo[i] .. hi[i] - 1 only, */
  char *op;      /* the rest is (INF, OP_UNDEF) as in sacrebleu's table */
  int *lo, *hi;
  int *last;     /* the hypothesis of the previous call, for the common-prefix reuse */
  int valid;     /* rows 0 .. valid - 1 hold the previous call's values (0: none) */
  char *trace;   /* [nh + nr] */
  int ntrace;
} beam_ed;

static pst_err ed_init(beam_ed *e, const int *ref, int nr, int nh) {
  memset(e, 0, sizeof *e);
  e->ref = ref;
  e->nr = nr;
  e->nh = nh;
  size_t cells = ((size_t)nh + 1) * ((size_t)nr + 1);
  e->cost = malloc(cells * sizeof *e->cost);
  e->op = malloc(cells);
  e->last = malloc(((size_t)nh + 1) * sizeof *e->last);
  e->lo = malloc(((size_t)nh + 1) * sizeof *e->lo);
  e->hi = malloc(((size_t)nh + 1) * sizeof *e->hi);
  e->trace = malloc((size_t)nh + nr + 1);
  if (!e->cost || !e->op || !e->last || !e->lo || !e->hi || !e->trace) PST_ERR(PST_ERR_MEM, "TER: out of memory for %zu cells", cells);
  return PST_OK;
}

static void ed_free(beam_ed *e) {
  free(e->cost);
  free(e->op);
  free(e->last);
  free(e->lo);
  free(e->hi);
  free(e->trace);
}

/* Cost of cell (i, j): INF outside the computed columns of row i. */
static int64_t cell(const beam_ed *e, int i, long j) {
  return j >= e->lo[i] && j < e->hi[i] ? e->cost[(size_t)i * (e->nr + 1) + j] : INF;
}

/* Distance of h (e->nh words) to the reference; with want_trace also the operation trace
 * (e->trace[0 .. ntrace), from the start). Returns -1 on a broken table (a bug). */
static int64_t ed_run(beam_ed *e, const int *h, int want_trace) {
  int nh = e->nh, nr = e->nr, W = nr + 1;
  int start = 0; /* rows 0 .. start are reused */
  if (e->valid) {
    while (start < nh && start + 1 < e->valid && h[start] == e->last[start]) start++;
  } else {
    for (int j = 0; j <= nr; j++) {
      e->cost[j] = j;
      e->op[j] = OP_INS;
    }
  }
  double ratio = nh ? (double)nr / nh : 1.0;
  int beam = BEAM_WIDTH < ratio / 2 ? (int)ceil(ratio / 2 + BEAM_WIDTH) : BEAM_WIDTH;
  if (!e->valid) {
    e->lo[0] = 0;
    e->hi[0] = W;
  }
  for (int i = start + 1; i <= nh; i++) {
    int64_t *c = e->cost + (size_t)i * W;
    char *o = e->op + (size_t)i * W;
    long pd = (long)floor(i * ratio);
    long lo = pd - beam > 0 ? pd - beam : 0, hi = pd + beam < W ? pd + beam : W;
    if (i == nh) hi = W;
    e->lo[i] = (int)lo;
    e->hi[i] = (int)(hi > lo ? hi : lo);
    for (long j = lo; j < hi; j++) {
      c[j] = INF;
      o[j] = OP_UNDEF;
      if (j == 0) {
        c[0] = cell(e, i - 1, 0) + 1;
        o[0] = OP_DEL;
        continue;
      }
      int same = h[i - 1] == e->ref[j - 1];
      int64_t cand[3] = {cell(e, i - 1, j - 1) + (same ? 0 : 1), cell(e, i - 1, j) + 1, j > lo ? c[j - 1] + 1 : INF + 1};
      const char ops[3] = {same ? OP_NOP : OP_SUB, OP_DEL, OP_INS};
      for (int k = 0; k < 3; k++)
        if (c[j] > cand[k]) {
          c[j] = cand[k];
          o[j] = ops[k];
        }
    }
  }
  memcpy(e->last, h, (size_t)nh * sizeof *h);
  e->valid = nh + 1;
  int64_t d = cell(e, nh, nr);
  if (!want_trace) return d;
  int i = nh, j = nr, k = nh + nr;
  while (i > 0 || j > 0) {
    char op = j >= e->lo[i] && j < e->hi[i] ? e->op[(size_t)i * W + j] : OP_UNDEF;
    if (k == 0) return -1;
    e->trace[--k] = op;
    if (op == OP_SUB || op == OP_NOP) {
      i--;
      j--;
    } else if (op == OP_INS) {
      j--;
    } else if (op == OP_DEL) {
      i--;
    } else {
      return -1;
    }
  }
  e->ntrace = nh + nr - k;
  memmove(e->trace, e->trace + k, (size_t)e->ntrace);
  return d;
}

/* words with [start, start + len) moved to target (lib_ter._perform_shift, slices clamped). */
static void perform_shift(int *out, const int *w, int n, int start, int len, int target) {
  int k = 0;
#define SLICE(a, b)                                                                                        \
  for (int q_ = (a) < 0 ? 0 : ((a) > n ? n : (a)), e_ = (b) > n ? n : (b); q_ < e_; q_++) out[k++] = w[q_];
  if (target < start) {
    SLICE(0, target) SLICE(start, start + len) SLICE(target, start) SLICE(start + len, n)
  } else if (target > start + len) {
    SLICE(0, start) SLICE(start + len, target) SLICE(start, start + len) SLICE(target, n)
  } else {
    SLICE(0, start) SLICE(start + len, len + target) SLICE(start, start + len) SLICE(len + target, n)
  }
#undef SLICE
}

typedef struct {
  int64_t gain;
  int len, start_h, idx;
} shift_key;

/* (gain, len, -start_h, -idx) > best, as the Python tuple comparison */
static int better(const shift_key *a, const shift_key *b) {
  if (a->gain != b->gain) return a->gain > b->gain;
  if (a->len != b->len) return a->len > b->len;
  if (a->start_h != b->start_h) return a->start_h < b->start_h;
  return a->idx < b->idx;
}

/* One round of lib_ter._shift: the best shift of h into best_words, its gain in *gain (0 when
 * there is none). Scratch: align [nr], ref_err [nr], hyp_err [nh], tmp [nh]. */
static pst_err best_shift(beam_ed *e, const int *h, int *best_words, int64_t *gain, int *checked, int *scratch) {
  int nh = e->nh, nr = e->nr;
  int *align = scratch, *ref_err = align + nr, *hyp_err = ref_err + nr, *tmp = hyp_err + nh;
  int64_t pre = ed_run(e, h, 1);
  if (pre < 0) PST_ERR(PST_ERR_INTERNAL, "TER: broken edit distance trace");
  /* the flipped trace (insertions <-> deletions) as an alignment */
  int ph = -1, pr = -1, nhe = 0, nre = 0;
  for (int t = 0; t < e->ntrace; t++) {
    char op = e->trace[t];
    if (op == OP_NOP || op == OP_SUB) {
      align[++pr] = ++ph;
      hyp_err[nhe++] = ref_err[nre++] = op == OP_SUB;
    } else if (op == OP_DEL) { /* flipped: an insertion, a hypothesis word */
      ph++;
      hyp_err[nhe++] = 1;
    } else { /* flipped: a deletion, a reference word */
      align[++pr] = ph;
      ref_err[nre++] = 1;
    }
  }
  if (nhe != nh || nre != nr) PST_ERR(PST_ERR_INTERNAL, "TER: trace of %d/%d words for %d/%d", nhe, nre, nh, nr);
  shift_key best = {0, 0, 0, 0};
  int have = 0, stop = 0;
  for (int sh = 0; sh < nh && !stop; sh++)
    for (int sr = sh > MAX_SHIFT_DIST ? sh - MAX_SHIFT_DIST : 0; sr < nr && sr <= sh + MAX_SHIFT_DIST && !stop; sr++) {
      for (int len = 1; len <= MAX_SHIFT_SIZE && h[sh + len - 1] == e->ref[sr + len - 1]; len++) {
        int herr = 0, rerr = 0;
        for (int q = 0; q < len; q++) {
          herr += hyp_err[sh + q];
          rerr += ref_err[sr + q];
        }
        if (herr && rerr && !(sh <= align[sr] && align[sr] < sh + len)) {
          int prev = -1;
          for (int off = -1; off < len; off++) {
            int idx;
            if (sr + off == -1) idx = 0;
            else if (sr + off < nr) idx = align[sr + off] + 1;
            else break;
            if (idx == prev) continue;
            prev = idx;
            perform_shift(tmp, h, nh, sh, len, idx);
            shift_key k = {pre - ed_run(e, tmp, 0), len, sh, idx};
            (*checked)++;
            if (!have || better(&k, &best)) {
              best = k;
              have = 1;
              memcpy(best_words, tmp, (size_t)nh * sizeof *tmp);
            }
          }
          if (*checked >= MAX_CANDIDATES) stop = 1;
        }
        if (stop || sh + len == nh || sr + len == nr) break;
      }
    }
  *gain = have ? best.gain : 0;
  return PST_OK;
}

/* Edits of hypothesis h against reference r (translation_edit_rate). */
static pst_err edits_of(int64_t *out, const nlg_seq *h, const nlg_seq *r, int seg) {
  if (r->len == 0) {
    *out = h->len;
    return PST_OK;
  }
  if (((double)h->len + 1) * ((double)r->len + 1) > (double)MAX_CELLS)
    PST_ERR(PST_ERR_ARG, "TER: segment %d: %d hypothesis x %d reference words exceed the %ld-cell limit", seg,
            h->len, r->len, MAX_CELLS);
  beam_ed e;
  pst_err rc = ed_init(&e, r->id, r->len, h->len);
  size_t nh = (size_t)h->len;
  int *words = malloc((2 * nh + 1) * sizeof *words);
  int *scratch = malloc((2 * (size_t)r->len + 2 * nh + 1) * sizeof *scratch);
  if (!rc && (!words || !scratch)) rc = PST_ERR_MEM;
  int *cur = words, *next = words ? words + nh : NULL;
  int64_t shifts = 0, gain = 0;
  int checked = 0;
  if (!rc) memcpy(cur, h->id, nh * sizeof *cur);
  while (!rc) {
    rc = best_shift(&e, cur, next, &gain, &checked, scratch);
    if (rc || checked >= MAX_CANDIDATES || gain <= 0) break;
    shifts++;
    int *t = cur;
    cur = next;
    next = t;
  }
  if (!rc) *out = shifts + ed_run(&e, cur, 0);
  ed_free(&e);
  free(words);
  free(scratch);
  if (rc == PST_ERR_MEM) PST_ERR(rc, "TER: out of memory for segment %d", seg);
  PST_CHECK(rc);
  return PST_OK;
}

/* sacrebleu's TER tokenizer with its defaults: lowercase, split on white space. */
static pst_err tok_ter(char **out, const char *s, int flag) {
  (void)flag;
  return nlg_py_lower_split(out, s, 1);
}

pst_err pst_nlg_ter(double *out, const char *const *hyps, int n, const char *const *const *refs,
                    const int *nrefs) {
  nlg_corpus c;
  PST_CHECK(nlg_corpus_build(&c, "TER", hyps, n, refs, nrefs, tok_ter, 0, NLG_SPLIT_WS));
  double edits = 0, ref_len = 0;
  pst_err rc = PST_OK;
  for (int i = 0; i < n && !rc; i++) {
    int64_t best = INF;
    double lens = 0;
    for (int r = c.ref_off[i]; r < c.ref_off[i + 1] && !rc; r++) {
      int64_t e = 0;
      rc = edits_of(&e, &c.hyp[i], &c.ref[r], i + 1);
      if (!rc && e < best) best = e;
      lens += c.ref[r].len;
    }
    edits += (double)best;
    ref_len += lens / nrefs[i];
  }
  nlg_corpus_free(&c);
  PST_CHECK(rc);
  *out = ref_len > 0 ? 100.0 * edits / ref_len : (edits > 0 ? 100.0 : 0.0);
  return PST_OK;
}
