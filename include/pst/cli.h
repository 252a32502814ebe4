/* cli.h — subcommands of the `pst` program; each returns the process exit status. */
#ifndef PST_CLI_H
#define PST_CLI_H

#include <stdio.h>

#include "pst/config.h"

/* Parse -c CONFIG, overrides, -v/-q (and -o OUT when output is not NULL) into a finalized
 * cfg. Returns -1 to go on, or the exit status (0 after --help, 1 bad config, 2 bad usage). */
int pst_cli_config(int argc, char **argv, pst_config *cfg, int *verbose, const char **output,
                   void (*usage)(FILE *));

/* The model of `pst generate` / `pst eval` (decoder.c): exactly one of config, ckpt, run,
 * sparse (a sparse inference file, export.h); overrides are key=value strings. */
#include "pst/export.h"
#include "pst/model.h"
#include "pst/tokenizer.h"
typedef struct {
  const char *config, *ckpt, *run, *sparse;
  pst_base_opts base;
  const char *tokenizer; /* overrides data.tokenizer (NULL: the config's) */
  const char **overrides;
  int noverrides;
} pst_decoder_src;
pst_err pst_decoder_open(const pst_decoder_src *s, pst_config *cfg, pst_model **m, pst_tokenizer **tok);

int pst_cmd_train(int argc, char **argv);
/* `pst generate` and `pst eval` (generate_cmd.c) */
int pst_cmd_generate(int argc, char **argv);
int pst_cmd_eval(int argc, char **argv);
int pst_cmd_inspect_model(int argc, char **argv);
int pst_cmd_prep(int argc, char **argv);
/* `pst inspect CKPT` and `pst export CKPT --format hf|csr|sparse OUT` (ckpt_cmd.c) */
int pst_cmd_inspect(int argc, char **argv);
int pst_cmd_export(int argc, char **argv);
/* `pst grid expand|status|collect` (grid_cmd.c) */
int pst_cmd_grid(int argc, char **argv);
/* `pst score HYP REF... | --refs-grouped FILE` (score_cmd.c): NLG metrics, nlgscore.h */
int pst_cmd_score(int argc, char **argv);

#endif
