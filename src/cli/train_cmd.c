/* train_cmd.c — `pst train -c CONFIG [section.key=value ...] [-v|-q]`. */
#include <stdio.h>
#include <string.h>

#include "pst/blas.h"
#include "pst/cli.h"
#include "pst/config.h"
#include "pst/run.h"

static void train_usage(FILE *f) {
  fprintf(f,
          "usage: pst train -c CONFIG.ini [section.key=value ...] [-v] [-q]\n\n"
          "Trains with the INI config; each section.key=value overrides the file. Progress goes to\n"
          "stderr; run_dir gets config.ini (resolved), metrics.jsonl and trainables.safetensors.\n"
          "  -v  debug output and error trails    -q  errors only\n\n"
          "Keys (section.key, default, meaning):\n");
  pst_config_help(f);
}

int pst_cmd_train(int argc, char **argv) {
  const char *cfg_path = NULL;
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      train_usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "-v")) { verbose = 1; pst_log_level = 2; }
    else if (!strcmp(argv[i], "-q")) pst_log_level = 0;
    else if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
      if (i + 1 >= argc) { fprintf(stderr, "pst train: -c needs a file\n"); return 2; }
      cfg_path = argv[++i];
    }
  }
  if (!cfg_path) {
    fprintf(stderr, "pst train: no config given (-c CONFIG.ini)\n\n");
    train_usage(stderr);
    return 2;
  }
  pst_config cfg;
  pst_config_defaults(&cfg);
  pst_err rc = pst_config_load(&cfg, cfg_path);
  for (int i = 1; i < argc && !rc; i++) {
    if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) { i++; continue; }
    if (argv[i][0] == '-') {
      if (strcmp(argv[i], "-v") && strcmp(argv[i], "-q")) {
        fprintf(stderr, "pst train: unknown option '%s'\n", argv[i]);
        return 2;
      }
      continue;
    }
    rc = pst_config_set(&cfg, argv[i]);
  }
  if (!rc) rc = pst_config_finalize(&cfg);
  if (!rc) {
    pst_set_threads(cfg.threads);
    if (pst_blas_is_slow())
      fprintf(stderr, "pst: warning: OpenBLAS runs its slow '%s' kernels (see README: OPENBLAS_CORETYPE)\n",
              pst_blas_corename());
    rc = pst_train_run(&cfg);
  }
  if (rc) {
    pst_err_print(stderr, verbose);
    return 1;
  }
  return 0;
}
