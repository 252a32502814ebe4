/* fuzz_tokjson.c — fuzz target for the tokenizer.json loader and the tokenizers it builds
 * (src/data/tokjson.c, hftok.c, detok.c, pretok.c, bpe.c).
 *
 * Built with clang -fsanitize=fuzzer,address it is a libFuzzer target; built with
 * -DPST_FUZZ_MAIN it replays the corpus (default tests/fuzz/corpus/tokjson), as the other
 * targets do (tests/fuzz/README.md). From the repository root:
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -D_GNU_SOURCE -Iinclude src/core/error.c src/core/util.c src/data/wordpiece.c src/data/bpe.c \
 *     src/data/pretok.c src/data/tokenizer.c src/data/hftok.c src/data/tokjson.c src/data/tokspec.c \
 *     src/data/detok.c tests/fuzz/fuzz_tokjson.c -ljansson -lutf8proc -lm -o $F/fuzz_tokjson
 *   $F/fuzz_tokjson -max_total_time=120 -max_len=16384 $F/corpus tests/fuzz/corpus/tokjson
 *
 * An input is a tokenizer.json, optionally followed by a NUL and a text. Loading either
 * succeeds or fails with a message that starts with the file's name and no tokenizer. A loaded
 * tokenizer then tokenizes the text and a few fixed ones: it succeeds exactly on valid UTF-8,
 * ids lie in [0, vocab), a second run gives the same ids, pst_detokenize (with and without the
 * specials) gives valid UTF-8, pst_encode at several max_len keeps len <= max_len with ids in
 * range and fails only with PST_ERR_ARG when max_len is below its fixed count of specials.
 * Any broken invariant calls abort(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current_input = "libFuzzer input";

#define CHECK(cond)                                                                                  \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      fprintf(stderr, "fuzz_tokjson: %s: invariant failed at line %d: %s\n  last error: %s\n",       \
              current_input, __LINE__, #cond, pst_err_message());                                    \
      abort();                                                                                       \
    }                                                                                                \
  } while (0)

static const char *const fixed_texts[] = {
    "Hello world! It's 12345 caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\n\n\t x",
    "<s>a b</s><|begin_of_text|>ab<mask>  x y\r\n",
    "",
    "  \xe2\x96\x81\xe2\x96\x81 'S 'll \xc5\xbf 1\xc2\xbd\xe2\x91\xa0",
};

static void check_text(const pst_tokenizer *t, const char *text) {
  int V = pst_tokenizer_vocab_size(t);
  long bad = pst_utf8_invalid_at((const unsigned char *)text, strlen(text));
  int32_t *ids = NULL;
  int n = 0, cap = 0;
  pst_err rc = pst_tokenize(t, text, &ids, &n, &cap);
  if (bad >= 0) {
    CHECK(rc == PST_ERR_FORMAT && n == 0);
    free(ids);
    return;
  }
  CHECK(rc == PST_OK);
  for (int i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < V);
  int32_t *again = NULL;
  int n2 = 0, cap2 = 0;
  CHECK(pst_tokenize(t, text, &again, &n2, &cap2) == PST_OK);
  CHECK(n2 == n && (n == 0 || memcmp(again, ids, (size_t)n * sizeof *ids) == 0));
  free(again);
  for (int flags = 0; flags < 2; flags++) {
    char *dec = NULL;
    CHECK(pst_detokenize(t, ids, n, flags, &dec) == PST_OK);
    CHECK(pst_utf8_invalid_at((const unsigned char *)dec, strlen(dec)) < 0);
    free(dec);
  }
  int32_t e[600], ty[600];
  int len = -1, nspec = -1;
  CHECK(pst_encode(t, "", NULL, 512, e, ty, &nspec) == PST_OK); /* the specials alone */
  static const int lens[] = {512, 0, 1, 2, 3, 5, 16};
  for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
    rc = pst_encode(t, text, NULL, lens[k], e, ty, &len);
    if (lens[k] < nspec) {
      CHECK(rc == PST_ERR_ARG && len == 0);
      continue;
    }
    CHECK(rc == PST_OK);
    CHECK(len == (n + nspec < lens[k] ? n + nspec : lens[k]));
    for (int i = 0; i < len; i++) CHECK(e[i] >= 0 && e[i] < V && ty[i] >= 0);
  }
  rc = pst_encode(t, text, "x", 512, e, ty, &len);
  CHECK(rc == PST_OK && len <= 512);
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t jlen = 0;
  while (jlen < size && data[jlen]) jlen++;
  pst_tokenizer *t = (pst_tokenizer *)&t;
  pst_err rc = pst_tokenizer_load_json_buf(&t, "fuzz.json", (const char *)data, jlen);
  if (rc) {
    CHECK(t == NULL);
    CHECK(rc == PST_ERR_FORMAT || rc == PST_ERR_MEM);
    CHECK(strncmp(pst_err_message(), "fuzz.json", 9) == 0);
    pst_err_clear();
    return 0;
  }
  CHECK(t && pst_tokenizer_vocab_size(t) > 0);
  if (jlen < size) { /* the text after the NUL */
    char *text = malloc(size - jlen);
    CHECK(text);
    memcpy(text, data + jlen + 1, size - jlen - 1);
    text[size - jlen - 1] = 0;
    check_text(t, text);
    free(text);
  }
  for (size_t i = 0; i < sizeof fixed_texts / sizeof fixed_texts[0]; i++) check_text(t, fixed_texts[i]);
  pst_tokenizer_free(t);
  pst_err_clear();
  return 0;
}

#ifdef PST_FUZZ_MAIN
#define PST_FUZZ_NAME "tokjson"
#include "replay_main.h"
#endif
