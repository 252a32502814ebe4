/* gguf_tokbuild.c — the tokenizer of a GGUF file as a pst tokenizer: tokenizer.ggml.* metadata
 * (gguf_tokenizer.c) handed to pst_tokenizer_from_vocab (tokenizer.h). tokenizer.ggml.model
 * "gpt2" is byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre; "llama" is
 * SentencePiece-style BPE (merges from the file, or rebuilt from the scores). Other models
 * (bert, t5, rwkv, ...) are refused with the file and the value. */
#include <stdio.h>
#include <string.h>

#include "pst/gguf_llama.h"
#include "pst/tokenizer.h"

pst_err pst_gguf_tokenizer_build(const char *path, int vocab, pst_tokenizer **out) {
  *out = NULL;
  pst_gguf *g;
  PST_CHECK(pst_gguf_open(&g, path));
  pst_gguf_tokenizer t;
  memset(&t, 0, sizeof t);
  pst_err rc = pst_gguf_tokenizer_read(g, vocab, &t);
  pst_gguf_close(g);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  pst_tokenizer_kind kind = !strcmp(t.model, "gpt2") ? PST_TOK_BYTE_LEVEL : !strcmp(t.model, "llama") ? PST_TOK_SENTENCEPIECE : 0;
  if (!kind) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__,
                "%s: tokenizer.ggml.model = '%s' is not supported (pst reads gpt2 and llama BPE tokenizers)", path,
                t.model);
    pst_gguf_tokenizer_free(&t);
    return PST_ERR_FORMAT;
  }
  char ident[PST_PATH_MAX + 128];
  const char *base = strrchr(path, '/');
  snprintf(ident, sizeof ident, "gguf %s/%s of %s", t.model, t.pre[0] ? t.pre : "default", base ? base + 1 : path);
  pst_tokenizer_spec spec = {
      .kind = kind, .pre = t.pre[0] ? t.pre : "default", .tokens = (const char *const *)t.tokens,
      .ntokens = t.ntokens, .merges = (const char *const *)t.merges, .nmerges = t.nmerges, .scores = t.scores,
      .token_types = t.token_type, .bos_id = t.bos_id, .eos_id = t.eos_id, .unk_id = t.unk_id, .pad_id = t.pad_id,
      /* absent add_bos: SentencePiece models add it (llama.cpp's default), byte-level ones do not */
      .add_bos = t.add_bos >= 0 ? t.add_bos : kind == PST_TOK_SENTENCEPIECE, .add_eos = t.add_eos > 0,
      .identity = ident};
  rc = pst_tokenizer_from_vocab(out, &spec);
  pst_gguf_tokenizer_free(&t);
  if (rc) PST_ERR(rc, "%s: the tokenizer in the GGUF metadata cannot be built", path);
  return PST_OK;
}
