/* prompts.h — the inputs of generation: prompts given as strings, one per line of a file,
 * token ids (one prompt per line, ids separated by spaces), or the distinct inputs of a
 * data-to-text file (e2e, e2e_lora: identical inputs pooled as the E2E scripts do; dart,
 * webnlg: one per json entry) together with their references; and their encoding into
 * model input ids (the training convention: enc(input); optionally the tokenizer's BOS
 * first, or the model's chat template around it). */
#ifndef PST_PROMPTS_H
#define PST_PROMPTS_H

#include <stdint.h>

#include "pst/core.h"
#include "pst/tokenizer.h"

typedef struct {
  int n;
  char **text;     /* [n] UTF-8 prompt text (NULL entries for ids prompts) */
  long *line;      /* [n] origin: file line, json entry, or argument number (1-based) */
  int *nrefs;      /* [n] references per input (data-to-text; NULL otherwise) */
  char ***refs;    /* [n][nrefs[i]] */
  int32_t **ids;   /* [n] model input (after pst_prompts_encode, or read as ids) */
  int *len;        /* [n] */
  char origin[512];/* file name or "the command line", for messages */
  int d2t;         /* from a data-to-text file: outputs are compared with references */
} pst_prompts;

/* Prompts from n strings (the command line). */
pst_err pst_prompts_from_strings(pst_prompts *p, const char *const *s, int n);
/* Prompts from a file in format lines | ids | e2e | e2e_lora | dart | webnlg. An empty line
 * (lines, ids) is an error naming the file and line; no prompt at all is an error too. */
pst_err pst_prompts_from_file(pst_prompts *p, const char *path, const char *format);
/* Token ids of every text prompt: [bos] enc(text), or with chat = 1 the chat template of the
 * tokenizer's vocabulary (ChatML <|im_start|>role\ncontent<|im_end|>\n, or Llama 3 headers),
 * a system turn first when system is not NULL, then the assistant header. Invalid UTF-8 is an
 * error naming the prompt's line. *chat_end receives the template's end-of-turn id (-1 none). */
pst_err pst_prompts_encode(pst_prompts *p, const pst_tokenizer *tok, int bos, int chat, const char *system,
                           int32_t *chat_end);
/* Keep the first n prompts only (n < p->n). */
void pst_prompts_truncate(pst_prompts *p, int n);
/* Every text prompt becomes tmpl with its "{}" replaced by the text (zero-shot prompting);
 * a template without "{}" is an error. */
pst_err pst_prompts_template(pst_prompts *p, const char *tmpl);
void pst_prompts_free(pst_prompts *p);

#endif
