/* prep_cmd.c — `pst prep -c CONFIG -o OUT.h5 [section.key=value ...]`: tokenize data.train
 * (and data.dev) once into an HDF5 file that `pst train` reads with data.format = prep. */
#include <stdio.h>

#include "pst/cli.h"
#include "pst/prep.h"

static void prep_usage(FILE *f) {
  fprintf(f,
          "usage: pst prep -c CONFIG.ini -o OUT.h5 [section.key=value ...] [-v] [-q]\n\n"
          "Reads data.train and data.dev as the config describes them (data.format, columns,\n"
          "tokenizer from data.tokenizer or model.hf_dir, train.seq_len) and writes them tokenized to\n"
          "OUT.h5 (groups /train and /dev: ids, types, offsets, labels; the tokenizer identity and\n"
          "source checksums as attributes). Train from it with data.format=prep data.train=OUT.h5\n"
          "data.dev=OUT.h5 and the same model, task and seq_len.\n");
}

int pst_cmd_prep(int argc, char **argv) {
  pst_config cfg;
  int verbose;
  const char *out = NULL;
  int status = pst_cli_config(argc, argv, &cfg, &verbose, &out, prep_usage);
  if (status >= 0) return status;
  if (pst_prep_write(&cfg, out)) {
    pst_err_print(stderr, verbose);
    return 1;
  }
  pst_log(1, "pst prep: wrote %s\n", out);
  return 0;
}
