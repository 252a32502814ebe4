/* textdata.h — text data sets: GLUE (glue_data layout), generic tsv / csv / jsonl tables and
 * data-to-text sets (E2E, DART, WebNLG). Readers keep the text as it is in the file (no
 * stripping, no normalisation); tokenization is the caller's business.
 *
 * Every example has text a, optional text b (NULL when absent), and a label:
 *   classification  label_id in [0, num_labels), label = (float)label_id;
 *   regression      label_id = -1, label = the target (parsed as double, then rounded to
 *                   float, as HF's np.float32), num_labels = 1 (HF's convention);
 *   unlabeled       (a test file, a missing label column, a data-to-text set)
 *                   label_id = -1, label = NaN.
 * `line` is the 1-based line of the file where the example's row starts (header = line 1),
 * or for the json data-to-text formats the 1-based entry number.
 *
 * Malformed rows (wrong column count, bad label, invalid UTF-8 or a NUL byte, unterminated
 * or broken quoting, invalid JSON on a jsonl line, a malformed json entry) are reported as
 * "<file>:<line>: <problem>" (json entries: "<file>: entry <n>: <problem>"). With
 * PST_BAD_FAIL the first one fails the load with PST_ERR_FORMAT; with PST_BAD_SKIP they are
 * skipped, counted (*skipped, if not NULL) and reported in one pst_log line (level 1) with the
 * first five line numbers and the first problem. File-level problems fail in both modes:
 * unreadable file (PST_ERR_IO), a malformed header (or, without a header, first) row, a
 * header without a needed column, an invalid json document, no examples at all
 * (PST_ERR_FORMAT). A leading UTF-8 BOM is ignored; LF and CRLF line
 * ends are accepted, a missing final newline too; empty lines are skipped. A failed load
 * leaves the data set zeroed (nothing to free). */
#ifndef PST_TEXTDATA_H
#define PST_TEXTDATA_H

#include <stddef.h>

#include "pst/core.h"
#include "pst/metrics.h" /* pst_glue_task */

typedef struct {
  char *a, *b;  /* UTF-8, NUL-terminated; b NULL when the set has no second text */
  float label;  /* see above */
  int label_id; /* class id, or -1 (regression / unlabeled) */
  long line;    /* file line where the row starts, or json entry number (1-based) */
} pst_text_example;

typedef struct {
  pst_text_example *ex;
  long n;
  int num_labels;     /* classes; 1 for regression; 0 for an unlabeled set without a label set */
  int regression;
  char **label_names; /* [num_labels] class names (NULL for regression) */
} pst_text_dataset;

void pst_text_dataset_free(pst_text_dataset *d);

typedef enum { PST_BAD_FAIL = 0, PST_BAD_SKIP = 1 } pst_bad_rows;

/* ---- GLUE -------------------------------------------------------------------------------
 * Files of the standard glue_data layout (<dir>/<Task>/{train,dev,test}.tsv; MNLI
 * dev_matched, dev_mismatched, test_matched, test_mismatched), read like HF datasets' glue
 * script: tab-separated, no quoting (quotes are text), columns found by their header names:
 *   CoLA   sentence (train/dev have no header: 4 columns, sentence col 3, label col 1)
 *   SST-2  sentence, label              MRPC   #1 String, #2 String, Quality
 *   STS-B  sentence1, sentence2, score  QQP    question1, question2, is_duplicate
 *   MNLI   sentence1, sentence2, gold_label
 *   QNLI   question, sentence, label    RTE / WNLI  sentence1, sentence2, label
 * A file whose header lacks the label column (test.tsv) loads unlabeled. Every row must have
 * as many fields as the header. Label order (ids), that of HF datasets' glue configs:
 *   CoLA  0 unacceptable, 1 acceptable      SST-2 0 negative, 1 positive
 *   MRPC  0 not_equivalent, 1 equivalent    QQP   0 not_duplicate, 1 duplicate
 *   MNLI  0 entailment, 1 neutral, 2 contradiction
 *   QNLI, RTE  0 entailment, 1 not_entailment
 *   WNLI  0 not_entailment, 1 entailment    STS-B regression (score 0..5)
 * A label field may be the class name or its id ("0", "1", ...), as HF accepts both; an empty
 * label is a malformed row (HF drops such rows silently). */

/* The task's class names (static) and their number; NULL and 0 for STS-B. */
const char *const *pst_glue_labels(pst_glue_task task, int *num_labels);
pst_err pst_glue_load(pst_text_dataset *d, pst_glue_task task, const char *path, pst_bad_rows bad,
                      long *skipped);
/* The same from memory; name is used in messages. */
pst_err pst_glue_load_mem(pst_text_dataset *d, pst_glue_task task, const char *name, const char *data,
                          size_t size, pst_bad_rows bad, long *skipped);
/* "<glue_dir>/<Task>/<split>.tsv" into buf. split: train, dev, test, or for MNLI dev_matched,
 * dev_mismatched, test_matched, test_mismatched (plain dev/test are refused for MNLI). */
pst_err pst_glue_path(char *buf, size_t size, const char *glue_dir, pst_glue_task task, const char *split);
pst_err pst_glue_load_split(pst_text_dataset *d, const char *glue_dir, pst_glue_task task, const char *split,
                            pst_bad_rows bad, long *skipped);

/* ---- generic tables ----------------------------------------------------------------------
 * tsv: tab-separated, no quoting by default (GLUE's QUOTE_NONE; `quoted` turns on csv quoting);
 * csv: comma-separated, RFC 4180 quoting ("" inside quotes is a quote; quoted fields may hold
 *      delimiters and newlines; after a closing quote only a delimiter or line end may
 *      follow); a quote inside an unquoted field is text (as Python's csv);
 * jsonl: one JSON object per line; text values must be strings; a label may be a string or an
 *      integer (taken as its decimal text), for regression also a number; a null label makes
 *      the example unlabeled.
 * tsv/csv have a header row naming the columns unless no_header, in which case columns are
 * named by their 0-based index ("0", "1", ...) and every row must have as many fields as the
 * first. Labels: label_names (NULL-terminated) fixes the classes and their order; otherwise
 * classes are numbered in first-seen order, or, with sort_labels, sorted afterwards
 * (numerically if all names are integers, else by UTF-8 byte order: HF run_glue's
 * label_list.sort()). */
typedef enum { PST_TABLE_TSV, PST_TABLE_CSV, PST_TABLE_JSONL } pst_table_format;

typedef struct {
  pst_table_format format;
  const char *text_a;              /* column / key of text a (required) */
  const char *text_b;              /* column / key of text b, or NULL */
  const char *label;               /* column / key of the label, or NULL: unlabeled */
  int regression;                  /* label is a real target */
  const char *const *label_names;  /* fixed classes (NULL-terminated), or NULL */
  int sort_labels;                 /* sort first-seen classes (ignored with label_names) */
  int no_header;                   /* tsv/csv: no header row */
  int quoted;                      /* tsv: honour csv quoting */
  pst_bad_rows bad;
} pst_table_opts;

/* "tsv", "csv" or "jsonl" (PST_ERR_CONFIG otherwise). */
pst_err pst_table_format_parse(pst_table_format *f, const char *name);
pst_err pst_table_load(pst_text_dataset *d, const char *path, const pst_table_opts *o, long *skipped);
pst_err pst_table_load_mem(pst_text_dataset *d, const char *name, const char *data, size_t size,
                           const pst_table_opts *o, long *skipped);

/* ---- data-to-text -------------------------------------------------------------------------
 * One example per reference: a = linearised input, b = reference text, unlabeled.
 *   PST_D2T_E2E       official E2E csv (header mr,ref; testset.csv has only MR): a = the MR
 *                     string as is ("name[The Vaults], eatType[pub], ..."); b = ref, or NULL
 *                     in an MR-only file. Header names are matched case-insensitively.
 *   PST_D2T_E2E_LORA  LoRA's text format, "<context>||<completion>" per line: as LoRA's
 *                     format_converting_e2e.py, the line is stripped of surrounding ASCII
 *                     whitespace, a = the text before the first "||", b = the text up to the
 *                     next "||" (the trailing space of the files is thus dropped).
 *   PST_D2T_DART      DART json (a list of {"tripleset": [[s, p, o], ...], "annotations":
 *                     [{"text": ...}, ...]}): as LoRA's format_converting_dart.py,
 *                     a = "s1 : p1 : o1 | s2 : p2 : o2 | ..." with each predicate lower-cased
 *                     (Unicode simple lower case, U+0130 as Python; Python's final-sigma rule
 *                     is not applied); b = each annotation's text.
 *   PST_D2T_WEBNLG    WebNLG json in the LoRA / prefix-tuning format ({"entries": [{"<n>":
 *                     {"modifiedtripleset": [{"subject","property","object"}], "lexicalisations":
 *                     [{"comment","lex"}]}}]}): as LoRA's format_converting_webnlg.py,
 *                     a = "subject : property : object | ..." (case kept), b = each lex whose
 *                     comment is "good" (all lexes with PST_D2T_ALL_LEX).
 * Flags: PST_D2T_ALL_LEX (WebNLG: keep every lex); PST_D2T_KEEP_UNREFERENCED (json formats: an
 * entry with no kept reference yields one example with b = NULL instead of none, for
 * generating from every input); PST_D2T_LEADING_SEP (json formats: prefix-tuning's
 * convention, " | " before every triple including the first). `line` of a json example is its
 * entry number, so references of one entry share it (see pst_text_group). */
typedef enum { PST_D2T_E2E, PST_D2T_E2E_LORA, PST_D2T_DART, PST_D2T_WEBNLG } pst_d2t_format;
enum { PST_D2T_ALL_LEX = 1, PST_D2T_KEEP_UNREFERENCED = 2, PST_D2T_LEADING_SEP = 4 };

/* "e2e", "e2e_lora", "dart" or "webnlg" (PST_ERR_CONFIG otherwise). */
pst_err pst_d2t_format_parse(pst_d2t_format *f, const char *name);
pst_err pst_d2t_load(pst_text_dataset *d, pst_d2t_format f, const char *path, int flags, pst_bad_rows bad,
                     long *skipped);
pst_err pst_d2t_load_mem(pst_text_dataset *d, pst_d2t_format f, const char *name, const char *data, size_t size,
                         int flags, pst_bad_rows bad, long *skipped);

/* ---- references per input -----------------------------------------------------------------
 * Groups of examples for multi-reference evaluation, in order of first appearance; within a
 * group, examples keep their order. PST_GROUP_BY_INPUT: examples with the same text a (LoRA's
 * and the E2E scripts' convention: identical inputs pool their references; E2E test: 630
 * groups). PST_GROUP_BY_LINE: examples with the same `line`, i.e. per json entry. The
 * references of group i are d->ex[g->member[k]].b for k in [g->start[i], g->start[i+1]). */
typedef enum { PST_GROUP_BY_INPUT, PST_GROUP_BY_LINE } pst_group_by;
typedef struct {
  long n;       /* groups */
  long *start;  /* [n + 1] */
  long *member; /* [d->n] example indices */
} pst_text_groups;

pst_err pst_text_group(pst_text_groups *g, const pst_text_dataset *d, pst_group_by by);
void pst_text_groups_free(pst_text_groups *g);

/* ---- building blocks shared by the readers (table.c); not needed by callers ------------- */

/* Read a whole file into a NUL-terminated malloc'd buffer (*len excludes the NUL). */
pst_err pst_text_read_file(char **buf, size_t *len, const char *path);
/* Offset of the first invalid UTF-8 byte of s[0..n) (overlongs, surrogates, > U+10FFFF and
 * NUL bytes are invalid), or -1 when it is valid. */
long pst_utf8_check(const char *s, size_t n);

/* Row reader for delimited text over a caller-owned buffer of len bytes plus one spare byte,
 * split in place (fields are NUL-terminated pointers into it). delim 0: no splitting (one
 * field per line). quoted: csv quoting. */
typedef struct {
  const char *name;  /* for messages */
  char *p, *end;     /* cursor, end of data */
  char delim;
  int quoted;
  long line;         /* line of the cursor (1-based) */
  long row_line;     /* line where the current row starts */
  char **f;          /* fields of the current row */
  int nf, fcap;
  char bad[160];     /* non-empty: the current row is malformed (problem, without file:line) */
} pst_dsv;

void pst_dsv_init(pst_dsv *r, const char *name, char *buf, size_t len, char delim, int quoted);
/* Next non-empty row into r->f / r->nf (r->bad says whether it is malformed); *got = 0 at
 * the end of the data. Fails only for lack of memory. */
pst_err pst_dsv_next(pst_dsv *r, int *got);
void pst_dsv_free(pst_dsv *r);

/* Builder of a data set with the label rules above and the bad-row policy. */
struct pst_strmap;
typedef struct {
  pst_text_dataset *d;
  const char *name;           /* file name for messages */
  const char *unit;           /* NULL: "<name>:<line>: ..."; else "<name>: <unit> <line>: ..." */
  const char *col_a, *col_b, *col_label; /* column names for messages */
  pst_bad_rows bad;
  int open_labels;            /* unknown class names are added in first-seen order */
  int accept_index;           /* a decimal label in [0, num_labels) is taken as the id */
  long cap, skipped;
  long bad_lines[5];
  char first_bad[256];
  struct pst_strmap *labels;
} pst_text_builder;

/* Start an empty data set: regression, or classes label_names (NULL-terminated; NULL: open
 * set in first-seen order). */
pst_err pst_tb_begin(pst_text_builder *b, pst_text_dataset *d, const char *name, pst_bad_rows bad, int regression,
                     const char *const *label_names);
/* Report a malformed row: PST_ERR_FORMAT "<name>:<line>: <problem>" with PST_BAD_FAIL, else
 * counted and PST_OK. */
pst_err pst_tb_bad(pst_text_builder *b, long line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Add an example (texts copied; label NULL: unlabeled). Invalid UTF-8 or a bad label goes
 * through pst_tb_bad. */
pst_err pst_tb_add(pst_text_builder *b, long line, const char *a, const char *bt, const char *label);
/* Finish: fails if no example was added; logs the skipped rows; *skipped if not NULL. */
pst_err pst_tb_end(pst_text_builder *b, long *skipped);
/* Free everything after a failure (the data set is zeroed). */
void pst_tb_abort(pst_text_builder *b);

#endif
