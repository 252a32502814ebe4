/* test_textdata.c — unit tests of the text data readers (include/pst/textdata.h:
 * src/data/glue.c, src/data/table.c, src/data/d2t.c).
 *
 * Real data (the shared/data folder beside the repository: $PST_SHARED_DATA, default
 * $top_srcdir/../shared/data; the test FAILS if it is missing, since CI has it):
 *   every GLUE file there (CoLA, SST-2, MRPC, STS-B, RTE, WNLI train/dev/test, QNLI dev/test):
 *   row counts of shared/data/README.md, label counts where the README gives them (SST-2,
 *   CoLA, MRPC, RTE train, QNLI dev, WNLI train), the text of the first and last example
 *   (CoLA dev has no final newline, MRPC has a BOM), class names in HF's order, STS-B scores
 *   in [0, 5] with num_labels 1, test files unlabeled (label_id -1, label NaN);
 *   E2E csv (42,061 / 4,672 / 4,693 / 630 rows; 4,862 / 547 / 630 / 630 MRs by
 *   PST_GROUP_BY_INPUT; the two train refs with an embedded CRLF, their line numbers),
 *   E2E LoRA text (same counts; a/b of the first line), DART dev/test (6,980 / 12,552 texts,
 *   2,768 / 5,097 entries by PST_GROUP_BY_LINE, 2,721 / 4,159 distinct inputs; first
 *   linearisation), WebNLG train/dev/test (all lexes 18,102 / 2,268 / 4,928 and 6,940 / 872 /
 *   1,862 entries; "good" lexes 18,025 / 2,258 / 4,928), the three UCI sentiment tsv files
 *   through the generic reader (1,000 rows, 500/500).
 * Committed samples (tests/fixtures/textdata/): MNLI and QQP in the glue_data layout
 *   (train, dev_matched/mismatched, test: label order, unlabeled test, pst_glue_path and its
 *   split names); generic csv (quoted delimiters, "" escapes, embedded CRLF, CRLF row ends, no
 *   final newline, an empty quoted field), tsv (quotes as text, blank line, sorted numeric
 *   labels), jsonl (blank and whitespace lines, CRLF, \u escapes, integer / string / null
 *   labels, regression targets); E2E csv with an embedded CRLF and an MR-only file, E2E LoRA
 *   text, DART (predicate lower-casing incl. non-ASCII, an entry without annotations, with and
 *   without PST_D2T_KEEP_UNREFERENCED and PST_D2T_LEADING_SEP), WebNLG ("good" filter,
 *   PST_D2T_ALL_LEX), grouping by input and by line.
 * Malformed samples: every one fails with PST_BAD_FAIL with the exact "<file>:<line>: <problem>"
 *   message (wrong column count, bad / empty label, bad target, invalid UTF-8, NUL byte,
 *   unterminated quote, junk after a closing quote, invalid JSON line, non-object, missing key,
 *   wrong value type, bad json entries "<file>: entry <n>: ...", missing header column, no
 *   examples, all rows bad), and with PST_BAD_SKIP loads the good rows, counts the skipped ones
 *   and logs one line naming the first line numbers and the first problem (stderr captured).
 * In memory: the delimited-row reader (line numbers, blank lines, lone CR, quotes),
 *   pst_utf8_check (overlong, surrogate, > U+10FFFF, truncated, NUL), label rules (class name
 *   or id, first-seen, fixed, sorted), argument errors, format names, unreadable files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/textdata.h"

/* ---- paths and helpers --------------------------------------------------------------------- */
static char shared_dir[1024];

static const char *top(void) {
  const char *t = getenv("top_srcdir");
  return t && *t ? t : ".";
}

static const char *shared(const char *rel) {
  static char path[4][1400];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", shared_dir, rel);
  return path[k];
}

static const char *fx(const char *rel) {
  static char path[4][1400];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/tests/fixtures/textdata/%s", top(), rel);
  return path[k];
}

static int setup_shared(void **state) {
  (void)state;
  const char *env = getenv("PST_SHARED_DATA");
  if (env && *env) snprintf(shared_dir, sizeof shared_dir, "%s", env);
  else snprintf(shared_dir, sizeof shared_dir, "%s/../shared/data", top());
  return 0;
}

static void require_shared(void) {
  struct stat sb;
  char p[1200];
  snprintf(p, sizeof p, "%s/glue/CoLA/train.tsv", shared_dir);
  if (stat(p, &sb) != 0)
    fail_msg("shared data not found: %s is missing. The real-data tests need the shared/data folder beside the "
             "repository (or PST_SHARED_DATA=/path/to/shared/data)",
             p);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!hay || !strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

/* The message must be "<path><rest>" exactly, or start with it if rest ends in '*' (for
 * texts from jansson, whose wording varies across versions). */
static void assert_msg(const char *path, const char *rest) {
  char want[2048];
  snprintf(want, sizeof want, "%s%s", path, rest);
  size_t n = strlen(want);
  int prefix = n && want[n - 1] == '*';
  if (prefix ? strncmp(pst_err_message(), want, n - 1) : strcmp(pst_err_message(), want))
    fail_msg("message\n  '%s'\nwant\n  '%s'", pst_err_message(), want);
}

static void assert_zeroed(const pst_text_dataset *d) {
  assert_null(d->ex);
  assert_int_equal(d->n, 0);
  assert_null(d->label_names);
}

/* stderr capture, to check the skip report of pst_log */
static int saved_fd = -1;
static FILE *cap_file;
static void capture_begin(void) {
  fflush(stderr);
  cap_file = tmpfile();
  assert_non_null(cap_file);
  saved_fd = dup(2);
  dup2(fileno(cap_file), 2);
}
static char *capture_end(void) {
  fflush(stderr);
  dup2(saved_fd, 2);
  close(saved_fd);
  long n = ftell(cap_file);
  char *s = calloc((size_t)n + 1, 1);
  assert_non_null(s);
  rewind(cap_file);
  if (n > 0 && fread(s, 1, (size_t)n, cap_file) != (size_t)n) fail_msg("cannot read captured stderr");
  fclose(cap_file);
  return s;
}

static void check_label_names(const pst_text_dataset *d, const char *const *want) {
  int k = 0;
  while (want[k]) k++;
  assert_int_equal(d->num_labels, k);
  for (int i = 0; i < k; i++) assert_string_equal(d->label_names[i], want[i]);
}

/* ---- GLUE, real files ------------------------------------------------------------------------- */
typedef struct {
  const char *task, *split;
  long n;
  long c0, c1; /* class counts (-1: not checked) */
  const char *first_a, *first_b, *last_a;
} glue_case;

static const glue_case glue_cases[] = {
    {"cola", "train", 8551, 2528, 6023, "Our friends won't buy this analysis, let alone the next one we propose.", NULL,
     "What all did you get for Christmas?"},
    {"cola", "dev", 1043, 322, 721, "The sailors rode the breeze clear of the rocks.", NULL,
     "John talked to Bill about himself."},
    {"cola", "test", 1063, 0, 0, "Bill whistled past the house.", NULL, "A picture of himself frightened John."},
    {"sst2", "train", 67349, 29780, 37569, "hide new secretions from the parental units ", NULL,
     "this new jangle of noise , mayhem and stupidity must be a serious contender for the title . "},
    {"sst2", "dev", 872, 428, 444, "it 's a charming and often affecting journey . ", NULL,
     "looking aristocratic , luminous yet careworn in jane hamilton 's exemplary costumes , rampling gives a "
     "performance that could not be improved upon . ' "},
    {"sst2", "test", 1821, 0, 0, "uneasy mishmash of styles and genres .", NULL,
     "dazzling and sugar-sweet , a blast of shallow magnificence that only sex , scandal , and a chorus line of "
     "dangerous damsels can deliver ."},
    {"mrpc", "train", 3668, 1194, 2474,
     "Amrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .",
     "Referring to him as only \" the witness \" , Amrozi accused his brother of deliberately distorting his "
     "evidence .",
     "The 30-year bond US30YT = RR rose 22 / 32 for a yield of 4.31 percent , versus 4.35 percent at Wednesday 's "
     "close ."},
    {"mrpc", "dev", 408, 129, 279,
     "He said the foodservice pie business doesn 't fit the company 's long-term growth strategy .",
     "\" The foodservice pie business does not fit our long-term growth strategy .",
     "Ex-KGB agent Putin added that the Beatles were considered ' propaganda of an alien ideology ' ."},
    {"mrpc", "test", 1725, 0, 0, NULL, NULL, NULL},
    {"stsb", "train", 5749, -1, -1, "A plane is taking off.", "An air plane is taking off.",
     "Putin spokesman: Doping charges appear unfounded"},
    {"stsb", "dev", 1500, -1, -1, "A man with a hard hat is dancing.", "A man wearing a hard hat is dancing.",
     "New video shows US police officers beating mentally-ill man"},
    {"stsb", "test", 1379, -1, -1, "A girl is styling her hair.", "A girl is brushing her hair.",
     "South Korea declares end to MERS outbreak"},
    {"qnli", "dev", 5463, 2702, 2761, "What came into force after the new constitution was herald?",
     "As of that day, the new constitution heralding the Second Republic came into force.",
     "Who discovered this and where did they come from?"},
    {"qnli", "test", 5463, 0, 0, "What organization is devoted to Jihad against Israel?", NULL,
     "Who fought in the great Northern war?"},
    {"rte", "train", 2490, 1249, 1241, "No Weapons of Mass Destruction Found in Iraq Yet.",
     "Weapons of Mass Destruction Found in Iraq.", NULL},
    {"rte", "dev", 277, 146, 131, NULL, "Christopher Reeve had an accident.", NULL},
    {"rte", "test", 3000, 0, 0, NULL, "Shukla is related to Mangla.", NULL},
    {"wnli", "train", 635, 323, 312, "I stuck a pin through a carrot. When I pulled the pin out, it had a hole.",
     "The carrot had a hole.",
     "Although they ran at about the same speed, Sue beat Sally because she had such a bad start."},
    {"wnli", "dev", 71, 40, 31, "The drain is clogged with hair. It has to be cleaned.", "The hair has to be cleaned.",
     "George got free tickets to the play, but he gave them to Eric, because he was not particularly eager to see "
     "it."},
    {"wnli", "test", 146, 0, 0, NULL, "Horses ran away when Maude and Dora came in sight.",
     "Edward dropped adhesive tape onto his window sill, and when he pulled the tape off, some of the glue was "
     "stuck on it."},
};

static void test_glue_real(void **state) {
  (void)state;
  require_shared();
  char glue_dir[1200];
  snprintf(glue_dir, sizeof glue_dir, "%s/glue", shared_dir);
  for (size_t c = 0; c < sizeof glue_cases / sizeof glue_cases[0]; c++) {
    const glue_case *g = &glue_cases[c];
    pst_glue_task task;
    assert_int_equal(pst_glue_task_parse(&task, g->task), PST_OK);
    pst_text_dataset d;
    long skipped = -1;
    if (pst_glue_load_split(&d, glue_dir, task, g->split, PST_BAD_FAIL, &skipped))
      fail_msg("%s %s: %s", g->task, g->split, pst_err_message());
    assert_int_equal(skipped, 0);
    if (d.n != g->n) fail_msg("%s %s: %ld examples, README says %ld", g->task, g->split, d.n, g->n);
    int test_split = !strcmp(g->split, "test");
    int num;
    const char *const *names = pst_glue_labels(task, &num);
    assert_int_equal(d.regression, task == PST_GLUE_STSB);
    if (task == PST_GLUE_STSB) {
      assert_int_equal(d.num_labels, 1);
      assert_null(d.label_names);
    } else {
      check_label_names(&d, names);
    }
    long cnt[3] = {0, 0, 0};
    float lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < d.n; i++) {
      const pst_text_example *e = &d.ex[i];
      assert_non_null(e->a);
      if (task == PST_GLUE_COLA || task == PST_GLUE_SST2) assert_null(e->b);
      else assert_non_null(e->b);
      if (test_split) {
        assert_int_equal(e->label_id, -1);
        assert_true(isnan(e->label));
      } else if (task == PST_GLUE_STSB) {
        assert_int_equal(e->label_id, -1);
        lo = fminf(lo, e->label);
        hi = fmaxf(hi, e->label);
      } else {
        assert_true(e->label_id >= 0 && e->label_id < d.num_labels);
        assert_true(e->label == (float)e->label_id);
        cnt[e->label_id]++;
      }
      if (i) assert_true(e->line > d.ex[i - 1].line);
    }
    if (g->c0 >= 0 && (cnt[0] != g->c0 || cnt[1] != g->c1))
      fail_msg("%s %s: class counts %ld/%ld, want %ld/%ld", g->task, g->split, cnt[0], cnt[1], g->c0, g->c1);
    if (task == PST_GLUE_STSB && !test_split) {
      assert_true(lo == 0.0f);
      assert_true(hi == 5.0f);
    }
    if (g->first_a) assert_string_equal(d.ex[0].a, g->first_a);
    if (g->first_b) assert_string_equal(d.ex[0].b, g->first_b);
    if (g->last_a) assert_string_equal(d.ex[d.n - 1].a, g->last_a);
    /* header files start at line 2; headerless CoLA train/dev at line 1 */
    assert_int_equal(d.ex[0].line, task == PST_GLUE_COLA && !test_split ? 1 : 2);
    if (task == PST_GLUE_STSB && !strcmp(g->split, "train")) {
      assert_true(d.ex[0].label == 5.0f);
      assert_true(d.ex[1].label == 3.8f); /* "3.800" as np.float32 */
    }
    pst_text_dataset_free(&d);
    assert_zeroed(&d);
  }
}

/* ---- data-to-text, real files ---------------------------------------------------------------- */
static void d2t_counts(pst_d2t_format f, const char *rel, int flags, long n, long by_input, long by_line) {
  pst_text_dataset d;
  long skipped = -1;
  if (pst_d2t_load(&d, f, shared(rel), flags, PST_BAD_FAIL, &skipped)) fail_msg("%s: %s", rel, pst_err_message());
  assert_int_equal(skipped, 0);
  if (d.n != n) fail_msg("%s: %ld examples, want %ld", rel, d.n, n);
  assert_int_equal(d.num_labels, 0);
  pst_text_groups g;
  assert_int_equal(pst_text_group(&g, &d, PST_GROUP_BY_INPUT), PST_OK);
  if (by_input >= 0 && g.n != by_input) fail_msg("%s: %ld distinct inputs, want %ld", rel, g.n, by_input);
  assert_int_equal(g.start[0], 0);
  assert_int_equal(g.start[g.n], d.n);
  for (long k = 0; k < g.n; k++) {
    assert_true(g.start[k + 1] > g.start[k]);
    for (long m = g.start[k]; m < g.start[k + 1]; m++) {
      assert_string_equal(d.ex[g.member[m]].a, d.ex[g.member[g.start[k]]].a);
      if (m > g.start[k]) assert_true(g.member[m] > g.member[m - 1]);
    }
  }
  pst_text_groups_free(&g);
  assert_int_equal(pst_text_group(&g, &d, PST_GROUP_BY_LINE), PST_OK);
  if (by_line >= 0 && g.n != by_line) fail_msg("%s: %ld groups by line, want %ld", rel, g.n, by_line);
  pst_text_groups_free(&g);
  for (long i = 0; i < d.n; i++) {
    assert_int_equal(d.ex[i].label_id, -1);
    assert_true(isnan(d.ex[i].label));
  }
  pst_text_dataset_free(&d);
}

static void test_d2t_real(void **state) {
  (void)state;
  require_shared();
  d2t_counts(PST_D2T_E2E, "e2e/trainset.csv", 0, 42061, 4862, 42061);
  d2t_counts(PST_D2T_E2E, "e2e/devset.csv", 0, 4672, 547, 4672);
  d2t_counts(PST_D2T_E2E, "e2e/testset_w_refs.csv", 0, 4693, 630, 4693);
  d2t_counts(PST_D2T_E2E, "e2e/testset.csv", 0, 630, 630, 630);
  d2t_counts(PST_D2T_E2E_LORA, "e2e/lora/train.txt", 0, 42061, 4862, 42061);
  d2t_counts(PST_D2T_E2E_LORA, "e2e/lora/valid.txt", 0, 4672, 547, 4672);
  d2t_counts(PST_D2T_E2E_LORA, "e2e/lora/test.txt", 0, 4693, 630, 4693);
  d2t_counts(PST_D2T_DART, "dart/dart-v1.1.1-full-dev.json", 0, 6980, 2721, 2768);
  d2t_counts(PST_D2T_DART, "dart/dart-v1.1.1-full-test.json", 0, 12552, 4159, 5097);
  d2t_counts(PST_D2T_WEBNLG, "webnlg/train.json", PST_D2T_ALL_LEX, 18102, -1, 6940);
  d2t_counts(PST_D2T_WEBNLG, "webnlg/dev.json", PST_D2T_ALL_LEX, 2268, -1, 872);
  d2t_counts(PST_D2T_WEBNLG, "webnlg/test.json", PST_D2T_ALL_LEX, 4928, 1862, 1862);
  d2t_counts(PST_D2T_WEBNLG, "webnlg/train.json", 0, 18025, 6888, 6935); /* 5 entries have no "good" lex */
  d2t_counts(PST_D2T_WEBNLG, "webnlg/dev.json", 0, 2258, 870, 871);
  d2t_counts(PST_D2T_WEBNLG, "webnlg/dev.json", PST_D2T_KEEP_UNREFERENCED, 2259, 871, 872);

  pst_text_dataset d;
  long sk;
  /* E2E train: two refs with an embedded CRLF (data rows 15,765 and 32,410) */
  assert_int_equal(pst_d2t_load(&d, PST_D2T_E2E, shared("e2e/trainset.csv"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_string_equal(d.ex[0].a, "name[The Vaults], eatType[pub], priceRange[more than \xC2\xA3"
                                 "30], customer rating[5 out of 5], near[Caf\xC3\xA9 Adriatic]");
  assert_string_equal(d.ex[0].b, "The Vaults pub near Caf\xC3\xA9 Adriatic has a 5 star rating.  Prices start at "
                                 "\xC2\xA3"
                                 "30.");
  long with_nl[2], k = 0;
  for (long i = 0; i < d.n; i++)
    if (strchr(d.ex[i].b, '\n') && k < 2) with_nl[k++] = i;
  assert_int_equal(k, 2);
  assert_int_equal(with_nl[0], 15764);
  assert_int_equal(with_nl[1], 32409);
  assert_non_null(strstr(d.ex[15764].b, "\r\n"));
  assert_int_equal(d.ex[15764].line, 15766);
  assert_int_equal(d.ex[15765].line, 15768);
  assert_int_equal(d.ex[d.n - 1].line, 42064);
  pst_text_dataset_free(&d);
  /* MR-only test file: b = NULL */
  assert_int_equal(pst_d2t_load(&d, PST_D2T_E2E, shared("e2e/testset.csv"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_null(d.ex[0].b);
  assert_string_equal(d.ex[0].a, "name[Blue Spice], eatType[coffee shop], area[city centre]");
  pst_text_dataset_free(&d);
  /* LoRA text */
  assert_int_equal(pst_d2t_load(&d, PST_D2T_E2E_LORA, shared("e2e/lora/valid.txt"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_string_equal(d.ex[0].a, "name : Alimentum | area : city centre | family friendly : no");
  assert_string_equal(d.ex[0].b, "There is a place in the city centre , Alimentum , that is not family - friendly .");
  pst_text_dataset_free(&d);
  /* DART: predicates lower-cased, " | " between triples */
  assert_int_equal(pst_d2t_load(&d, PST_D2T_DART, shared("dart/dart-v1.1.1-full-dev.json"), 0, PST_BAD_FAIL, &sk),
                   PST_OK);
  assert_string_equal(d.ex[0].a, "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, North "
                                 "Carolina");
  assert_string_equal(d.ex[0].b, "A school from Mars Hill, North Carolina, joined in 1973.");
  assert_int_equal(d.ex[0].line, 1);
  pst_text_dataset_free(&d);
  /* WebNLG: case kept */
  assert_int_equal(pst_d2t_load(&d, PST_D2T_WEBNLG, shared("webnlg/dev.json"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_string_equal(d.ex[0].a, "Aarhus : leaderName : Jacob_Bundsgaard");
  assert_string_equal(d.ex[0].b, "The leader of Aarhus is Jacob Bundsgaard.");
  pst_text_dataset_free(&d);
}

static void test_uci_generic(void **state) {
  (void)state;
  require_shared();
  static const char *const files[] = {"uci-sentiment/imdb.tsv", "uci-sentiment/yelp.tsv", "uci-sentiment/amazon.tsv"};
  static const char *const names[] = {"0", "1", NULL};
  for (int f = 0; f < 3; f++) {
    pst_table_opts o = {.format = PST_TABLE_TSV, .text_a = "sentence", .label = "label", .label_names = names};
    pst_text_dataset d;
    long sk;
    if (pst_table_load(&d, shared(files[f]), &o, &sk)) fail_msg("%s: %s", files[f], pst_err_message());
    assert_int_equal(d.n, 1000);
    long pos = 0;
    for (long i = 0; i < d.n; i++) pos += d.ex[i].label_id;
    assert_int_equal(pos, 500);
    pst_text_dataset_free(&d);
  }
}

/* ---- GLUE, committed samples -------------------------------------------------------------------- */
static void test_glue_samples(void **state) {
  (void)state;
  char dir[1200];
  snprintf(dir, sizeof dir, "%s/tests/fixtures/textdata/glue", top());
  pst_text_dataset d;
  long sk;
  static const char *const mnli[] = {"entailment", "neutral", "contradiction", NULL};
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_MNLI, "train", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 3);
  check_label_names(&d, mnli);
  assert_int_equal(d.ex[0].label_id, 1);
  assert_int_equal(d.ex[1].label_id, 0);
  assert_int_equal(d.ex[2].label_id, 2);
  assert_string_equal(d.ex[0].a, "Conceptually cream skimming has two basic dimensions - product and geography.");
  assert_string_equal(d.ex[0].b, "Product and geography are what make cream skimming work. ");
  assert_string_equal(d.ex[2].b, "A member of my team will execute your orders with \"immense\" precision.");
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_MNLI, "dev_matched", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 2);
  assert_int_equal(d.ex[0].label_id, 1);
  assert_int_equal(d.ex[1].label_id, 2);
  assert_string_equal(d.ex[0].a, "The new rights are nice enough");
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_MNLI, "dev_mismatched", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 1);
  assert_string_equal(d.ex[0].b, "Your contributions were of no help with our students' education.");
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_MNLI, "test_matched", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 1);
  assert_int_equal(d.ex[0].label_id, -1);
  assert_int_equal(d.num_labels, 3);
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_MNLI, "dev", PST_BAD_FAIL, &sk), PST_ERR_CONFIG);
  assert_contains(pst_err_message(), "dev_matched|dev_mismatched");
  assert_zeroed(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_MNLI, "test_mismatched", PST_BAD_FAIL, &sk), PST_ERR_IO);
  assert_contains(pst_err_message(), "MNLI/test_mismatched.tsv");

  static const char *const qqp[] = {"not_duplicate", "duplicate", NULL};
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_QQP, "train", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 3);
  check_label_names(&d, qqp);
  assert_int_equal(d.ex[1].label_id, 1);
  assert_string_equal(d.ex[1].a, "How do I control my horny emotions?");
  assert_string_equal(d.ex[1].b, "How do you control your horniness?");
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_QQP, "dev", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 2);
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_QQP, "test", PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 1);
  assert_int_equal(d.ex[0].label_id, -1);
  assert_string_equal(d.ex[0].b, "Why are rockets and boosters painted white?");
  pst_text_dataset_free(&d);
  assert_int_equal(pst_glue_load_split(&d, dir, PST_GLUE_QQP, "dev_matched", PST_BAD_FAIL, &sk), PST_ERR_CONFIG);
  assert_contains(pst_err_message(), "train|dev|test");

  char p[64];
  assert_int_equal(pst_glue_path(p, sizeof p, "g", PST_GLUE_STSB, "dev"), PST_OK);
  assert_string_equal(p, "g/STS-B/dev.tsv");
  assert_int_equal(pst_glue_path(p, 8, "glue_data", PST_GLUE_STSB, "dev"), PST_ERR_ARG);
  assert_int_equal(pst_glue_path(p, sizeof p, "g", PST_GLUE_NTASKS, "dev"), PST_ERR_ARG);
  assert_int_equal(pst_glue_path(p, sizeof p, "g", PST_GLUE_RTE, NULL), PST_ERR_CONFIG);

  /* label orders of every task (HF datasets' glue configs) */
  static const char *const cola[] = {"unacceptable", "acceptable", NULL};
  static const char *const sst2[] = {"negative", "positive", NULL};
  static const char *const mrpc[] = {"not_equivalent", "equivalent", NULL};
  static const char *const ent[] = {"entailment", "not_entailment", NULL};
  static const char *const wnli[] = {"not_entailment", "entailment", NULL};
  static const char *const *const want[PST_GLUE_NTASKS] = {cola, sst2, mrpc, NULL, qqp, mnli, ent, ent, wnli};
  for (int t = 0; t < PST_GLUE_NTASKS; t++) {
    int num = -1;
    const char *const *names = pst_glue_labels((pst_glue_task)t, &num);
    if (!want[t]) {
      assert_null(names);
      assert_int_equal(num, 0);
      continue;
    }
    for (int i = 0; i < num; i++) assert_string_equal(names[i], want[t][i]);
    assert_null(want[t][num]);
  }
  int num = 5;
  assert_null(pst_glue_labels(PST_GLUE_NTASKS, &num));
  assert_int_equal(num, 0);
}

/* ---- malformed files ---------------------------------------------------------------------------- */
typedef struct {
  int kind; /* 0 glue, 1 table, 2 d2t */
  int sub;  /* glue task / table format / d2t format */
  const char *file;
  pst_err fail_rc;
  const char *fail_msg; /* after the path */
  long skip_n;          /* examples loaded with PST_BAD_SKIP (-1: fails in skip mode too) */
  long skip_count;
  const char *skip_log; /* after "pst: <path>: " */
} bad_case;

static const bad_case bad_cases[] = {
    {0, PST_GLUE_COLA, "bad/cola_columns.tsv", PST_ERR_FORMAT,
     ":3: expected 4 columns (CoLA train/dev layout: source, label, original label, sentence), found 3", 3, 1,
     "skipped 1 malformed rows (lines 3); first: expected 4 columns (CoLA train/dev layout: source, label, original "
     "label, sentence), found 3\n"},
    {0, PST_GLUE_COLA, "bad/cola_label.tsv", PST_ERR_FORMAT,
     ":1: label '2' is not one of: unacceptable, acceptable (or a class id)", 1, 1, NULL},
    {0, PST_GLUE_SST2, "bad/sst2_utf8.tsv", PST_ERR_FORMAT, ":3: invalid UTF-8 in column 'sentence' (byte 5)", 2, 1,
     NULL},
    {0, PST_GLUE_SST2, "bad/sst2_nul.tsv", PST_ERR_FORMAT, ":2: NUL byte in column 1", 1, 1, NULL},
    {0, PST_GLUE_RTE, "bad/rte_header.tsv", PST_ERR_FORMAT,
     ":1: no column 'sentence2' in the header: not a GLUE RTE file", -1, 0, NULL},
    {0, PST_GLUE_MNLI, "bad/mnli_label.tsv", PST_ERR_FORMAT,
     ":3: label '-' is not one of: entailment, neutral, contradiction (or a class id)", 1, 1, NULL},
    {0, PST_GLUE_STSB, "bad/stsb_score.tsv", PST_ERR_FORMAT, ":3: target 'high' is not a finite number", 2, 2,
     "skipped 2 malformed rows (lines 3, 4); first: target 'high' is not a finite number\n"},
    {0, PST_GLUE_WNLI, "bad/wnli_empty_label.tsv", PST_ERR_FORMAT, ":2: empty label", -1, 1, NULL},
    {0, PST_GLUE_SST2, "bad/header_only.tsv", PST_ERR_FORMAT, ": no examples", -1, 0, NULL},
    {0, PST_GLUE_SST2, "bad/all_bad.tsv", PST_ERR_FORMAT,
     ":2: label '7' is not one of: negative, positive (or a class id)", -1, 2, NULL},
    {1, PST_TABLE_CSV, "bad/csv_unterminated.csv", PST_ERR_FORMAT,
     ":3: unterminated quoted field in column 1 (opened on line 3)", 1, 1, NULL},
    {1, PST_TABLE_CSV, "bad/csv_after_quote.csv", PST_ERR_FORMAT,
     ":2: unexpected character after the closing quote of column 1", 1, 1, NULL},
    {1, PST_TABLE_CSV, "bad/csv_columns.csv", PST_ERR_FORMAT, ":3: expected 2 columns (as the header), found 3", 2, 1,
     NULL},
    {1, PST_TABLE_JSONL, "bad/bad.jsonl", PST_ERR_FORMAT,
     ":2: invalid JSON at column *", 2, 5, "skipped 5 malformed rows (lines 2, 3, 4, 5, 6); first: invalid JSON*"},
    {1, PST_TABLE_CSV, "bad/table_header.csv", PST_ERR_FORMAT,
     ":1: no column 'label' in the header (columns: 'text', 'y')", -1, 0, NULL},
    {2, PST_D2T_E2E, "bad/e2e_columns.csv", PST_ERR_FORMAT, ":3: expected 2 columns (as the header), found 3", 1, 1,
     NULL},
    {2, PST_D2T_E2E, "bad/e2e_no_mr.csv", PST_ERR_FORMAT, ":1: no column 'mr' in the header: not an E2E csv", -1, 0,
     NULL},
    {2, PST_D2T_E2E_LORA, "bad/e2e_lora_bad.txt", PST_ERR_FORMAT, ":2: no '||' between context and completion", 1, 1,
     NULL},
    {2, PST_D2T_DART, "bad/dart_bad.json", PST_ERR_FORMAT,
     ": entry 2: tripleset[0] is not a [subject, predicate, object] array of strings", 3, 1,
     "skipped 1 malformed entries (entries 2); first: tripleset[0] is not a [subject, predicate, object] array of "
     "strings\n"},
    {2, PST_D2T_DART, "bad/dart_invalid.json", PST_ERR_FORMAT, ":4:0: invalid JSON: *", -1,
     0, NULL},
    {2, PST_D2T_WEBNLG, "bad/webnlg_bad.json", PST_ERR_FORMAT, ": entry 2: 'modifiedtripleset' is not a non-empty array",
     3, 1, NULL},
    {2, PST_D2T_WEBNLG, "bad/webnlg_not_entries.json", PST_ERR_FORMAT,
     ": not a WebNLG json file (an object with an \"entries\" array)", -1, 0, NULL},
};

static pst_err load_bad(const bad_case *c, pst_text_dataset *d, pst_bad_rows mode, long *sk) {
  const char *path = fx(c->file);
  switch (c->kind) {
  case 0: return pst_glue_load(d, (pst_glue_task)c->sub, path, mode, sk);
  case 1: {
    pst_table_opts o = {.format = (pst_table_format)c->sub, .text_a = "text", .label = "label", .bad = mode};
    return pst_table_load(d, path, &o, sk);
  }
  default: return pst_d2t_load(d, (pst_d2t_format)c->sub, path, 0, mode, sk);
  }
}

static void test_malformed(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    pst_text_dataset d;
    long sk = -1;
    pst_err_clear();
    pst_err rc = load_bad(c, &d, PST_BAD_FAIL, &sk);
    if (rc != c->fail_rc) fail_msg("%s: rc %d, want %d (%s)", c->file, rc, c->fail_rc, pst_err_message());
    assert_msg(fx(c->file), c->fail_msg);
    assert_zeroed(&d);
    pst_err_clear();
    capture_begin();
    rc = load_bad(c, &d, PST_BAD_SKIP, &sk);
    char *log = capture_end();
    if (c->skip_n < 0) {
      if (rc != PST_ERR_FORMAT) fail_msg("%s: skip mode rc %d, want a failure", c->file, rc);
      assert_zeroed(&d);
      if (c->skip_count) {
        char want[512];
        snprintf(want, sizeof want, ": no examples (all %ld rows malformed; first: ", c->skip_count);
        assert_contains(pst_err_message(), want);
      }
    } else {
      if (rc) fail_msg("%s: skip mode: %s", c->file, pst_err_message());
      assert_int_equal(d.n, c->skip_n);
      assert_int_equal(sk, c->skip_count);
      char want[1600];
      snprintf(want, sizeof want, "pst: %s: ", fx(c->file));
      if (strncmp(log, want, strlen(want))) fail_msg("%s: log '%s' does not start with '%s'", c->file, log, want);
      size_t sl = c->skip_log ? strlen(c->skip_log) : 0;
      int prefix = sl && c->skip_log[sl - 1] == '*';
      if (c->skip_log && (prefix ? strncmp(log + strlen(want), c->skip_log, sl - 1) : strcmp(log + strlen(want), c->skip_log)))
        fail_msg("%s: log\n  '%s'\nwant\n  '%s'", c->file, log + strlen(want), c->skip_log);
      pst_text_dataset_free(&d);
    }
    free(log);
  }
  pst_err_clear();
}

static void test_skip_details(void **state) {
  (void)state;
  pst_text_dataset d;
  long sk;
  /* STS-B: a target with surrounding spaces is accepted; "high" and "nan" are skipped */
  capture_begin();
  assert_int_equal(pst_glue_load(&d, PST_GLUE_STSB, fx("bad/stsb_score.tsv"), PST_BAD_SKIP, &sk), PST_OK);
  free(capture_end());
  assert_int_equal(d.n, 2);
  assert_true(d.ex[1].label == 4.25f);
  assert_int_equal(d.ex[1].line, 5);
  pst_text_dataset_free(&d);
  /* jsonl: the two good rows, lines 1 and 7 */
  pst_table_opts o = {.format = PST_TABLE_JSONL, .text_a = "text", .label = "label", .bad = PST_BAD_SKIP};
  capture_begin();
  assert_int_equal(pst_table_load(&d, fx("bad/bad.jsonl"), &o, &sk), PST_OK);
  free(capture_end());
  assert_int_equal(d.ex[0].line, 1);
  assert_int_equal(d.ex[1].line, 7);
  static const char *const ab[] = {"a", "b", NULL};
  check_label_names(&d, ab);
  pst_text_dataset_free(&d);
  /* each jsonl problem on its own */
  static const char *const lines[][2] = {
      {"[1, 2]", ":1: not a JSON object"},
      {"{\"label\": \"a\"}", ":1: no key 'text'"},
      {"{\"text\": 5, \"label\": \"a\"}", ":1: 'text' is not a string"},
      {"{\"text\": \"y\", \"label\": 1.5}", ":1: label 'label' is not a string, an integer or null"},
      {"{\"text\": \"y\", \"label\": true}", ":1: label 'label' is not a string, an integer or null"},
      {"{\"text\": \"y\", \"text\": \"z\", \"label\": \"a\"}", ":1: invalid JSON at column *"}, /* duplicate key */
      {"{\"text\": \"\\u0000\", \"label\": \"a\"}", ":1: invalid JSON at column *"},         /* NUL */
      {"{\"text\": \"\xC3\x28\", \"label\": \"a\"}", ":1: invalid JSON at column *"},       /* bad UTF-8 */
  };
  o.bad = PST_BAD_FAIL;
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    assert_int_equal(pst_table_load_mem(&d, "mem.jsonl", lines[i][0], strlen(lines[i][0]), &o, &sk), PST_ERR_FORMAT);
    assert_msg("mem.jsonl", lines[i][1]);
  }
  pst_err_clear();
}

/* ---- generic tables, committed samples ------------------------------------------------------------ */
static void test_table_samples(void **state) {
  (void)state;
  pst_text_dataset d;
  long sk = -1;
  pst_table_opts o = {.format = PST_TABLE_CSV, .text_a = "text", .text_b = "id", .label = "label"};
  assert_int_equal(pst_table_load(&d, fx("table/good.csv"), &o, &sk), PST_OK);
  assert_int_equal(sk, 0);
  assert_int_equal(d.n, 5);
  static const char *const first_seen[] = {"pos", "neg", "neutral", NULL};
  check_label_names(&d, first_seen);
  assert_string_equal(d.ex[0].a, "Hello, world");
  assert_string_equal(d.ex[0].b, "1");
  assert_string_equal(d.ex[1].a, "She said \"hi\"");
  assert_string_equal(d.ex[2].a, "two\r\nlines");
  assert_string_equal(d.ex[3].a, "plain \xE2\x80\x9Cquoted\xE2\x80\x9D text");
  assert_string_equal(d.ex[4].a, "");
  static const long lines[] = {2, 3, 4, 6, 7};
  static const int ids[] = {0, 1, 0, 2, 1};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(d.ex[i].line, lines[i]);
    assert_int_equal(d.ex[i].label_id, ids[i]);
  }
  pst_text_dataset_free(&d);
  /* fixed classes: neutral is unknown */
  static const char *const fixed[] = {"neg", "pos", NULL};
  o.label_names = fixed;
  assert_int_equal(pst_table_load(&d, fx("table/good.csv"), &o, &sk), PST_ERR_FORMAT);
  assert_msg(fx("table/good.csv"), ":6: label 'neutral' is not one of: neg, pos");
  o.bad = PST_BAD_SKIP;
  capture_begin();
  assert_int_equal(pst_table_load(&d, fx("table/good.csv"), &o, &sk), PST_OK);
  free(capture_end());
  assert_int_equal(d.n, 4);
  assert_int_equal(d.ex[0].label_id, 1);
  check_label_names(&d, fixed);
  pst_text_dataset_free(&d);
  /* sorted classes (numeric), tsv with quotes as text and a blank line */
  pst_table_opts t = {.format = PST_TABLE_TSV, .text_a = "text", .label = "label", .sort_labels = 1};
  assert_int_equal(pst_table_load(&d, fx("table/good.tsv"), &t, &sk), PST_OK);
  static const char *const sorted[] = {"1", "3", "10", NULL};
  check_label_names(&d, sorted);
  assert_int_equal(d.n, 4);
  assert_string_equal(d.ex[0].a, "\"quotes\" stay");
  assert_null(d.ex[0].b);
  assert_int_equal(d.ex[0].label_id, 1);
  assert_int_equal(d.ex[1].label_id, 0);
  assert_int_equal(d.ex[2].label_id, 2);
  assert_true(d.ex[2].label == 2.0f);
  assert_int_equal(d.ex[2].line, 5);
  pst_text_dataset_free(&d);
  /* quoted tsv: the quotes are removed */
  t.quoted = 1;
  t.sort_labels = 0;
  assert_int_equal(pst_table_load(&d, fx("table/good.tsv"), &t, &sk), PST_ERR_FORMAT);
  assert_msg(fx("table/good.tsv"), ":2: unexpected character after the closing quote of column 1");
  /* no header: columns by index; the header row is then data */
  pst_table_opts nh = {.format = PST_TABLE_TSV, .text_a = "0", .text_b = "1", .no_header = 1};
  assert_int_equal(pst_table_load(&d, fx("table/good.tsv"), &nh, &sk), PST_OK);
  assert_int_equal(d.n, 5);
  assert_string_equal(d.ex[0].a, "text");
  assert_int_equal(d.num_labels, 0);
  assert_int_equal(d.ex[0].label_id, -1);
  pst_text_dataset_free(&d);
  nh.text_a = "text";
  assert_int_equal(pst_table_load(&d, fx("table/good.tsv"), &nh, &sk), PST_ERR_ARG);
  assert_contains(pst_err_message(), "0-based index, not 'text'");
  nh.text_a = "3";
  assert_int_equal(pst_table_load(&d, fx("table/good.tsv"), &nh, &sk), PST_ERR_FORMAT);
  assert_msg(fx("table/good.tsv"), ":1: column 3 does not exist: the first row has 3 columns");
  /* jsonl: integer and string labels share names; null is unlabeled */
  pst_table_opts j = {.format = PST_TABLE_JSONL, .text_a = "text", .text_b = "pair", .label = "label"};
  assert_int_equal(pst_table_load(&d, fx("table/good.jsonl"), &j, &sk), PST_OK);
  assert_int_equal(d.n, 4);
  static const char *const jn[] = {"1", "0", NULL};
  check_label_names(&d, jn);
  assert_string_equal(d.ex[1].a, "caf\xC3\xA9 \"quoted\"");
  assert_string_equal(d.ex[1].b, "two");
  assert_int_equal(d.ex[1].line, 3);
  assert_int_equal(d.ex[2].label_id, -1);
  assert_true(isnan(d.ex[2].label));
  assert_int_equal(d.ex[2].line, 5);
  assert_int_equal(d.ex[3].label_id, 0);
  assert_int_equal(d.ex[3].line, 6);
  pst_text_dataset_free(&d);
  /* jsonl regression: numbers and numeric strings */
  pst_table_opts r = {.format = PST_TABLE_JSONL, .text_a = "s", .label = "y", .regression = 1};
  assert_int_equal(pst_table_load(&d, fx("table/regress.jsonl"), &r, &sk), PST_OK);
  assert_int_equal(d.n, 3);
  assert_int_equal(d.num_labels, 1);
  assert_true(d.regression);
  assert_true(d.ex[0].label == 0.5f && d.ex[1].label == 2.0f && d.ex[2].label == -1.25f);
  assert_int_equal(d.ex[0].label_id, -1);
  pst_text_dataset_free(&d);
}

/* ---- data-to-text, committed samples ---------------------------------------------------------------- */
static void test_d2t_samples(void **state) {
  (void)state;
  pst_text_dataset d;
  long sk;
  pst_text_groups g;
  assert_int_equal(pst_d2t_load(&d, PST_D2T_E2E, fx("d2t/e2e_small.csv"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 3);
  assert_string_equal(d.ex[0].a, "name[The Vaults], eatType[pub], near[Caf\xC3\xA9 Adriatic]");
  assert_string_equal(d.ex[1].b, "A pub, The Vaults.\r\nIt is near Caf\xC3\xA9 Adriatic.");
  assert_string_equal(d.ex[2].b, "Alimentum is in the \"city centre\".");
  assert_int_equal(d.ex[2].line, 5);
  assert_int_equal(pst_text_group(&g, &d, PST_GROUP_BY_INPUT), PST_OK);
  assert_int_equal(g.n, 2);
  assert_int_equal(g.start[1], 2);
  assert_int_equal(g.member[0], 0);
  assert_int_equal(g.member[1], 1);
  assert_int_equal(g.member[2], 2);
  pst_text_groups_free(&g);
  pst_text_dataset_free(&d);

  assert_int_equal(pst_d2t_load(&d, PST_D2T_E2E, fx("d2t/e2e_mr_only.csv"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 2);
  assert_null(d.ex[1].b);
  assert_string_equal(d.ex[1].a, "name[Blue Spice], eatType[coffee shop], area[riverside]");
  pst_text_dataset_free(&d);

  assert_int_equal(pst_d2t_load(&d, PST_D2T_E2E_LORA, fx("d2t/e2e_lora_small.txt"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 3);
  assert_string_equal(d.ex[0].a, "name : Alimentum | area : city centre");
  assert_string_equal(d.ex[0].b, "There is a place in the city centre , Alimentum .");
  assert_string_equal(d.ex[2].a, "name : Blue Spice");
  assert_string_equal(d.ex[2].b, "Blue Spice ."); /* text after a second "||" is dropped */
  assert_int_equal(d.ex[2].line, 4);
  pst_text_dataset_free(&d);

  assert_int_equal(pst_d2t_load(&d, PST_D2T_DART, fx("d2t/dart_small.json"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 3); /* the entry without annotations gives nothing */
  assert_string_equal(d.ex[0].a, "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, North "
                                 "Carolina");
  assert_string_equal(d.ex[1].b, "Mars Hill College joined in 1973.");
  /* lower(): U+2019 kept, objects and subjects untouched, [TITLE] -> [title] */
  assert_string_equal(d.ex[2].a, "Ann : women\xE2\x80\x99s_nickname : \xC4\xB0stanbul | [TABLECONTEXT] : [title] : "
                                 "Stra\xC3\x9F"
                                 "e \xC3\x89T\xC3\x89 | Ann : i\xCC\x87"
                                 "d : x"); /* U+0130 -> "i" U+0307 as Python */
  assert_int_equal(d.ex[2].line, 2);
  pst_text_dataset_free(&d);
  assert_int_equal(pst_d2t_load(&d, PST_D2T_DART, fx("d2t/dart_small.json"),
                                PST_D2T_KEEP_UNREFERENCED | PST_D2T_LEADING_SEP, PST_BAD_FAIL, &sk),
                   PST_OK);
  assert_int_equal(d.n, 4);
  assert_string_equal(d.ex[3].a, " | A : b : C");
  assert_null(d.ex[3].b);
  assert_int_equal(d.ex[3].line, 3);
  assert_int_equal(pst_text_group(&g, &d, PST_GROUP_BY_LINE), PST_OK);
  assert_int_equal(g.n, 3);
  assert_int_equal(g.start[1], 2);
  assert_int_equal(g.start[2], 3);
  assert_int_equal(g.start[3], 4);
  pst_text_groups_free(&g);
  pst_text_dataset_free(&d);

  assert_int_equal(pst_d2t_load(&d, PST_D2T_WEBNLG, fx("d2t/webnlg_small.json"), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.n, 3);
  assert_string_equal(d.ex[0].a, "Aarhus : leaderName : Jacob_Bundsgaard");
  assert_string_equal(d.ex[1].a,
                      "Aarhus_Airport : cityServed : \"Aarhus, Denmark\" | Aarhus_Airport : location : Aarhus");
  assert_string_equal(d.ex[2].b, "The city of Aarhus, Denmark is served by Aarhus Airport.");
  assert_int_equal(d.ex[2].line, 2);
  pst_text_dataset_free(&d);
  assert_int_equal(pst_d2t_load(&d, PST_D2T_WEBNLG, fx("d2t/webnlg_small.json"), PST_D2T_ALL_LEX, PST_BAD_FAIL, &sk),
                   PST_OK);
  assert_int_equal(d.n, 5);
  assert_string_equal(d.ex[2].b, "aarhus airport serve aarhus");
  assert_string_equal(d.ex[4].a, "S : p : X");
  pst_text_dataset_free(&d);
}

/* ---- in-memory pieces --------------------------------------------------------------------------------- */
static void test_dsv_reader(void **state) {
  (void)state;
  char buf[256];
  const char *src = "\xEF\xBB\xBF"
                    "a\tb\r\n\r\n\n  \tx\nlone\rcr\t\"q\"\n\"multi\nline\",2\r";
  size_t n = strlen(src);
  memcpy(buf, src, n + 1);
  pst_dsv r;
  int got;
  pst_dsv_init(&r, "mem", buf, n, '\t', 0);
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(got, 1);
  assert_int_equal(r.nf, 2);
  assert_string_equal(r.f[0], "a");
  assert_string_equal(r.f[1], "b");
  assert_int_equal(r.row_line, 1);
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.row_line, 4); /* two empty lines skipped */
  assert_int_equal(r.nf, 2);
  assert_string_equal(r.f[0], "  ");
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.row_line, 5);
  assert_string_equal(r.f[0], "lone\rcr"); /* a lone CR is text */
  assert_string_equal(r.f[1], "\"q\"");    /* no quoting */
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.nf, 1);
  assert_string_equal(r.f[0], "\"multi");
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.row_line, 7);
  assert_string_equal(r.f[0], "line\",2"); /* final CR at the end of data dropped */
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(got, 0);
  pst_dsv_free(&r);

  /* csv quoting */
  const char *csv = "\"a,b\",\"x\"\"y\",\"\"\n\"multi\nline\",z\n,\n\"end\"";
  n = strlen(csv);
  memcpy(buf, csv, n + 1);
  pst_dsv_init(&r, "mem", buf, n, ',', 1);
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.nf, 3);
  assert_string_equal(r.f[0], "a,b");
  assert_string_equal(r.f[1], "x\"y");
  assert_string_equal(r.f[2], "");
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_string_equal(r.f[0], "multi\nline");
  assert_string_equal(r.f[1], "z");
  assert_int_equal(r.row_line, 2);
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.row_line, 4);
  assert_int_equal(r.nf, 2);
  assert_string_equal(r.f[0], "");
  assert_string_equal(r.f[1], "");
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(got, 1);
  assert_int_equal(r.nf, 1);
  assert_string_equal(r.f[0], "end");
  assert_int_equal(r.bad[0], 0);
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(got, 0);
  pst_dsv_free(&r);

  /* junk after a quote resynchronises at the line end */
  const char *junk = "\"a\"b,c\nd,e\n";
  n = strlen(junk);
  memcpy(buf, junk, n + 1);
  pst_dsv_init(&r, "mem", buf, n, ',', 1);
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_string_equal(r.bad, "unexpected character after the closing quote of column 1");
  assert_int_equal(pst_dsv_next(&r, &got), PST_OK);
  assert_int_equal(r.bad[0], 0);
  assert_int_equal(r.row_line, 2);
  assert_string_equal(r.f[1], "e");
  pst_dsv_free(&r);
}

static void test_utf8_check(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n;
    long want;
  } cases[] = {
      {"plain", 5, -1},
      {"caf\xC3\xA9 \xE2\x80\x9C \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF", 19, -1},
      {"\xC0\xAF", 2, 0},         /* overlong '/' */
      {"ab\xE0\x80\xAF", 5, 2},   /* overlong 3-byte */
      {"\xED\xA0\x80", 3, 0},     /* surrogate */
      {"x\xF4\x90\x80\x80", 5, 1}, /* > U+10FFFF */
      {"\xF5\x80\x80\x80", 4, 0},
      {"ok\xC3", 3, 2},           /* truncated */
      {"\x80", 1, 0},             /* lone continuation */
      {"a\0b", 3, 1},             /* NUL */
      {"\xE2\x82", 2, 0},
      {"\xE2\x82(", 3, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (pst_utf8_check(cases[i].s, cases[i].n) != cases[i].want)
      fail_msg("case %zu: got %ld want %ld", i, pst_utf8_check(cases[i].s, cases[i].n), cases[i].want);
}

static void test_labels_and_args(void **state) {
  (void)state;
  pst_text_dataset d;
  long sk = 7;
  /* GLUE labels by name or id; CoLA test header */
  const char *rte = "index\tsentence1\tsentence2\tlabel\n0\tp\th\tnot_entailment\n1\tp\th\t0\n2\tp\th\t1\n";
  assert_int_equal(pst_glue_load_mem(&d, PST_GLUE_RTE, "rte", rte, strlen(rte), PST_BAD_FAIL, &sk), PST_OK);
  assert_int_equal(d.ex[0].label_id, 1);
  assert_int_equal(d.ex[1].label_id, 0);
  assert_int_equal(d.ex[2].label_id, 1);
  pst_text_dataset_free(&d);
  const char *bad_id = "index\tsentence1\tsentence2\tlabel\n0\tp\th\t2\n";
  assert_int_equal(pst_glue_load_mem(&d, PST_GLUE_RTE, "rte", bad_id, strlen(bad_id), PST_BAD_FAIL, &sk),
                   PST_ERR_FORMAT);
  assert_msg("rte", ":2: label '2' is not one of: entailment, not_entailment (or a class id)");
  const char *long_label = "sentence\tlabel\nx\tthis label is far longer than forty bytes, so it is cut short\n";
  assert_int_equal(pst_glue_load_mem(&d, PST_GLUE_SST2, "sst", long_label, strlen(long_label), PST_BAD_FAIL, &sk),
                   PST_ERR_FORMAT);
  assert_msg("sst", ":2: label 'this label is far longer than forty byte...' is not one of: negative, positive (or a "
                    "class id)");
  assert_int_equal(pst_glue_load_mem(&d, PST_GLUE_NTASKS, "x", "a", 1, PST_BAD_FAIL, &sk), PST_ERR_ARG);
  assert_int_equal(pst_glue_load_mem(&d, PST_GLUE_SST2, "empty", "", 0, PST_BAD_FAIL, &sk), PST_ERR_FORMAT);
  assert_msg("empty", ": no examples");
  assert_int_equal(pst_glue_load(&d, PST_GLUE_SST2, "/nonexistent/dir/train.tsv", PST_BAD_FAIL, &sk), PST_ERR_IO);
  assert_contains(pst_err_message(), "cannot open data file '/nonexistent/dir/train.tsv'");
  assert_zeroed(&d);
  /* a regression target must stay finite as a float */
  const char *big = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                    "0\tg\tf\ty\to\ts\ts\ta\tb\t1e39\n";
  assert_int_equal(pst_glue_load_mem(&d, PST_GLUE_STSB, "stsb", big, strlen(big), PST_BAD_FAIL, &sk), PST_ERR_FORMAT);
  assert_msg("stsb", ":2: target '1e39' is not a finite number");

  /* table argument errors */
  pst_table_opts o = {.format = PST_TABLE_CSV, .text_a = NULL};
  assert_int_equal(pst_table_load_mem(&d, "t", "a\n1\n", 4, &o, &sk), PST_ERR_ARG);
  assert_int_equal(pst_table_load_mem(&d, "t", "a\n1\n", 4, NULL, &sk), PST_ERR_ARG);
  o.text_a = "a";
  o.format = (pst_table_format)9;
  assert_int_equal(pst_table_load_mem(&d, "t", "a\n1\n", 4, &o, &sk), PST_ERR_ARG);
  static const char *const dup[] = {"x", "x", NULL};
  o.format = PST_TABLE_CSV;
  o.label = "a";
  o.label_names = dup;
  assert_int_equal(pst_table_load_mem(&d, "t", "a\n1\n", 4, &o, &sk), PST_ERR_ARG);
  assert_contains(pst_err_message(), "class name 'x' given twice");
  assert_zeroed(&d);
  /* sorted string classes, by byte order */
  pst_table_opts s = {.format = PST_TABLE_CSV, .text_a = "t", .label = "l", .sort_labels = 1};
  const char *sc = "t,l\na,zeta\nb,Alpha\nc,beta\nd,zeta\n";
  assert_int_equal(pst_table_load_mem(&d, "s", sc, strlen(sc), &s, &sk), PST_OK);
  static const char *const ss[] = {"Alpha", "beta", "zeta", NULL};
  check_label_names(&d, ss);
  assert_int_equal(d.ex[0].label_id, 2);
  assert_int_equal(d.ex[3].label_id, 2);
  assert_int_equal(d.ex[1].label_id, 0);
  pst_text_dataset_free(&d);

  /* format names */
  pst_table_format tf;
  assert_int_equal(pst_table_format_parse(&tf, "CSV"), PST_OK);
  assert_int_equal(tf, PST_TABLE_CSV);
  assert_int_equal(pst_table_format_parse(&tf, "jsonl"), PST_OK);
  assert_int_equal(tf, PST_TABLE_JSONL);
  assert_int_equal(pst_table_format_parse(&tf, "json"), PST_ERR_CONFIG);
  assert_contains(pst_err_message(), "tsv|csv|jsonl");
  pst_d2t_format df;
  assert_int_equal(pst_d2t_format_parse(&df, "webnlg"), PST_OK);
  assert_int_equal(df, PST_D2T_WEBNLG);
  assert_int_equal(pst_d2t_format_parse(&df, "e2e_lora"), PST_OK);
  assert_int_equal(df, PST_D2T_E2E_LORA);
  assert_int_equal(pst_d2t_format_parse(&df, NULL), PST_ERR_CONFIG);
  assert_contains(pst_err_message(), "e2e|e2e_lora|dart|webnlg");
  assert_int_equal(pst_d2t_load_mem(&d, (pst_d2t_format)9, "x", "a", 1, 0, PST_BAD_FAIL, &sk), PST_ERR_ARG);
  assert_int_equal(pst_d2t_load(&d, PST_D2T_DART, "/nonexistent.json", 0, PST_BAD_FAIL, &sk), PST_ERR_IO);

  /* malformed header rows and json structure, from memory */
  pst_table_opts hc = {.format = PST_TABLE_CSV, .text_a = "a"};
  assert_int_equal(pst_table_load_mem(&d, "h", "\"a,b\n1,2\n", 9, &hc, &sk), PST_ERR_FORMAT);
  assert_msg("h", ":1: header row: unterminated quoted field in column 1 (opened on line 1)");
  assert_int_equal(pst_d2t_load_mem(&d, PST_D2T_E2E, "e", "mr,\"ref\"x\n", 11, 0, PST_BAD_FAIL, &sk), PST_ERR_FORMAT);
  assert_msg("e", ":1: header row: unexpected character after the closing quote of column 2");
  assert_int_equal(pst_d2t_load_mem(&d, PST_D2T_E2E_LORA, "l", "a||b\nc\0||d\n", 12, 0, PST_BAD_FAIL, &sk),
                   PST_ERR_FORMAT);
  assert_msg("l", ":2: NUL byte in column 1");
  static const char *const js[][3] = {
      {"2", "{\"tripleset\": []}", ": not a DART json file (an array of entries)"},
      {"2", "[5]", ": entry 1: not a JSON object"},
      {"2", "[{\"tripleset\": [[\"a\", \"b\", \"c\"]], \"annotations\": {}}]", ": entry 1: 'annotations' is not an array"},
      {"2", "[{\"tripleset\": [[\"a\", \"b\", \"c\"]], \"annotations\": [{\"text\": 1}]}]",
       ": entry 1: annotations[0] has no string 'text'"},
      {"3", "{\"entries\": [{\"1\": {}, \"2\": {}}]}", ": entry 1: not an object with one member (\"<n>\": {...})"},
      {"3", "{\"entries\": [{\"1\": []}]}", ": entry 1: the value of \"1\" is not an object"},
      {"3", "{\"entries\": [{\"1\": {\"modifiedtripleset\": [{\"subject\": \"s\", \"object\": \"o\"}]}}]}",
       ": entry 1: modifiedtripleset[0] lacks a string subject, property or object"},
      {"3", "{\"entries\": [{\"1\": {\"modifiedtripleset\": [{\"subject\": \"s\", \"property\": \"p\", \"object\": \"o\"}], "
            "\"lexicalisations\": 3}}]}",
       ": entry 1: 'lexicalisations' is not an array"},
      {"3", "{\"entries\": [{\"1\": {\"modifiedtripleset\": [{\"subject\": \"s\", \"property\": \"p\", \"object\": \"o\"}], "
            "\"lexicalisations\": [{\"comment\": \"good\"}]}}]}",
       ": entry 1: lexicalisations[0] has no string 'lex'"},
      {"3", "{\"entries\": [{\"1\": {\"modifiedtripleset\": [{\"subject\": \"s\", \"property\": \"p\", \"object\": \"o\"}], "
            "\"lexicalisations\": [{\"lex\": \"no comment\"}]}}]}",
       ": no examples"},
  };
  for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
    assert_int_equal(pst_d2t_load_mem(&d, (pst_d2t_format)atoi(js[i][0]), "j", js[i][1], strlen(js[i][1]), 0,
                                      PST_BAD_FAIL, &sk),
                     PST_ERR_FORMAT);
    assert_msg("j", js[i][2]);
    assert_zeroed(&d);
  }
  /* the mem entry point on a good input */
  const char *ok = "[{\"tripleset\": [[\"a\", \"B\", \"c\"]], \"annotations\": [{\"text\": \"t\"}]}]";
  assert_int_equal(pst_d2t_load_mem(&d, PST_D2T_DART, "j", ok, strlen(ok), 0, PST_BAD_FAIL, &sk), PST_OK);
  assert_string_equal(d.ex[0].a, "a : b : c");
  pst_text_dataset_free(&d);

  /* grouping an empty set and freeing zeroed structures */
  pst_text_dataset empty = {0};
  pst_text_groups g;
  assert_int_equal(pst_text_group(&g, &empty, PST_GROUP_BY_INPUT), PST_OK);
  assert_int_equal(g.n, 0);
  assert_int_equal(g.start[0], 0);
  pst_text_groups_free(&g);
  pst_text_dataset_free(&empty);
  pst_text_dataset_free(NULL);
  pst_err_clear();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_glue_real),       cmocka_unit_test(test_d2t_real),
      cmocka_unit_test(test_uci_generic),     cmocka_unit_test(test_glue_samples),
      cmocka_unit_test(test_malformed),       cmocka_unit_test(test_skip_details),
      cmocka_unit_test(test_table_samples),   cmocka_unit_test(test_d2t_samples),
      cmocka_unit_test(test_dsv_reader),      cmocka_unit_test(test_utf8_check),
      cmocka_unit_test(test_labels_and_args),
  };
  return cmocka_run_group_tests(tests, setup_shared, NULL);
}
