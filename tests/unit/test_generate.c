/* test_generate.c — the logits processors of generation (include/pst/generate.h,
 * src/gen/logits.c) against transformers 4.46.3's: tests/fixtures/generate/processors.json,
 * written by tests/reference/generate_ref.py processors (TemperatureLogitsWarper,
 * TopKLogitsWarper, TopPLogitsWarper in generate()'s order, NoRepeatNGramLogitsProcessor,
 * torch.log_softmax) on random rows (V = 30..1000, ties, scales 1..8). Removed tokens (-inf)
 * must be exactly the same; kept values equal to 1e-6 relative, log_softmax to 1e-5 absolute.
 * Also: pst_sample_index draws each index with its softmax probability (an evenly spaced grid of
 * u reproduces the distribution to 1/grid) and never a removed one; option checks. The
 * decoding loops themselves are compared with generate() token for token by
 * tests/parity/run_generate_parity.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/generate.h"

static json_t *fixture;

static int setup(void **state) {
  (void)state;
  const char *top = getenv("top_srcdir");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/fixtures/generate/processors.json", top ? top : ".");
  json_error_t e;
  fixture = json_load_file(path, 0, &e);
  if (!fixture) fprintf(stderr, "cannot read %s: %s\n", path, e.text);
  return fixture ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  json_decref(fixture);
  return 0;
}

static float *floats(json_t *a, int *n) {
  *n = (int)json_array_size(a);
  float *x = malloc((size_t)*n * sizeof(float));
  for (int i = 0; i < *n; i++) {
    json_t *v = json_array_get(a, (size_t)i);
    x[i] = json_is_null(v) ? -INFINITY : (float)json_number_value(v);
  }
  return x;
}

static void compare(const float *got, const float *want, int V, const char *what, int c) {
  for (int i = 0; i < V; i++) {
    if (isinf(want[i]) || isinf(got[i])) {
      if (!(isinf(want[i]) && isinf(got[i])))
        fail_msg("case %d %s: token %d: got %g, want %g (removed sets differ)", c, what, i, got[i], want[i]);
      continue;
    }
    if (fabsf(got[i] - want[i]) > 1e-6f * fmaxf(1.0f, fabsf(want[i])))
      fail_msg("case %d %s: token %d: got %.9g, want %.9g", c, what, i, got[i], want[i]);
  }
}

static void test_processors(void **state) {
  (void)state;
  json_t *cases = json_object_get(fixture, "cases");
  int nwarp = 0, nngram = 0;
  for (size_t c = 0; c < json_array_size(cases); c++) {
    json_t *k = json_array_get(cases, c);
    int V, Vw;
    float *x = floats(json_object_get(k, "logits"), &V);
    float *want = floats(json_object_get(k, "want"), &Vw);
    assert_int_equal(V, Vw);
    if (!strcmp(json_string_value(json_object_get(k, "kind")), "warp")) {
      float *y = malloc((size_t)V * sizeof(float));
      memcpy(y, x, (size_t)V * sizeof(float));
      pst_warp_logits(y, V, json_number_value(json_object_get(k, "temperature")),
                      (int)json_integer_value(json_object_get(k, "top_k")), json_number_value(json_object_get(k, "top_p")));
      compare(y, want, V, "warp", (int)c);
      int n;
      float *ls = floats(json_object_get(k, "log_softmax"), &n);
      pst_log_softmax(y, x, V);
      for (int i = 0; i < V; i++)
        if (fabsf(y[i] - ls[i]) > 1e-5f) fail_msg("case %zu log_softmax %d: got %.9g, want %.9g", c, i, y[i], ls[i]);
      free(ls);
      free(y);
      nwarp++;
    } else {
      json_t *js = json_object_get(k, "seq");
      int len = (int)json_array_size(js);
      int32_t seq[64];
      for (int i = 0; i < len; i++) seq[i] = (int32_t)json_integer_value(json_array_get(js, (size_t)i));
      pst_ban_repeat_ngrams(x, seq, len, (int)json_integer_value(json_object_get(k, "n")));
      compare(x, want, V, "no-repeat n-gram", (int)c);
      nngram++;
    }
    free(x);
    free(want);
  }
  assert_true(nwarp >= 8 && nngram >= 6);
}

/* An evenly spaced grid of u reproduces softmax(scores) to 1/grid; removed tokens never come. */
static void test_sample_index(void **state) {
  (void)state;
  float s[6] = {1.0f, -INFINITY, 0.5f, 2.0f, -INFINITY, -1.0f};
  double p[6], z = 0;
  for (int i = 0; i < 6; i++) z += p[i] = isinf(s[i]) ? 0 : exp(s[i]);
  const int G = 100000;
  int count[6] = {0};
  for (int g = 0; g < G; g++) count[pst_sample_index(s, 6, (g + 0.5) / G)]++;
  for (int i = 0; i < 6; i++) {
    if (isinf(s[i])) assert_int_equal(count[i], 0);
    if (fabs((double)count[i] / G - p[i] / z) > 2.0 / G)
      fail_msg("index %d drawn %.5f of the time, want %.5f", i, (double)count[i] / G, p[i] / z);
  }
  assert_int_equal(pst_sample_index(s, 6, 0.999999999), 5); /* the last kept index, not a removed one */
}

static void test_opts_check(void **state) {
  (void)state;
  pst_config cfg;
  pst_config_defaults(&cfg);
  pst_gen_opts o;
  pst_gen_opts_from_config(&o, &cfg);
  assert_int_equal(pst_gen_opts_check(&o, 100), PST_OK);
  o.num_beams = 101;
  assert_int_equal(pst_gen_opts_check(&o, 100), PST_ERR_ARG);
  o.num_beams = 2;
  o.do_sample = 1;
  assert_int_equal(pst_gen_opts_check(&o, 100), PST_ERR_ARG); /* beam sampling */
  o.num_beams = 1;
  o.top_p = 0;
  assert_int_equal(pst_gen_opts_check(&o, 100), PST_ERR_ARG);
  o.top_p = 1;
  int32_t eos = 100;
  o.eos = &eos;
  o.n_eos = 1;
  assert_int_equal(pst_gen_opts_check(&o, 100), PST_ERR_ARG);
  pst_err_clear();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_processors),
      cmocka_unit_test(test_sample_index),
      cmocka_unit_test(test_opts_check),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
