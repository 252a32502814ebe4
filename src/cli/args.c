/* args.c — the command line shared by `pst train` and `pst prep`:
 *   -c CONFIG.ini, section.key=value overrides (applied in order after the file), -v, -q,
 *   --resume X (train: = ckpt.resume=X), and for prep -o OUTPUT. */
#include <stdio.h>
#include <string.h>

#include "pst/cli.h"

int pst_cli_config(int argc, char **argv, pst_config *cfg, int *verbose, const char **output,
                   void (*usage)(FILE *)) {
  const char *cfg_path = NULL;
  *verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "-v")) {
      *verbose = 1;
      pst_log_level = 2;
    } else if (!strcmp(argv[i], "-q")) {
      pst_log_level = 0;
    } else if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config") || (output && !strcmp(argv[i], "-o"))) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pst %s: %s needs a file\n", argv[0], argv[i]);
        return 2;
      }
      if (argv[i][1] == 'o') *output = argv[++i];
      else cfg_path = argv[++i];
    } else if (!output && !strcmp(argv[i], "--resume")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pst %s: --resume needs auto, none or a checkpoint file\n", argv[0]);
        return 2;
      }
      i++;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "pst %s: unknown option '%s'\n", argv[0], argv[i]);
      return 2;
    }
  }
  if (!cfg_path) {
    fprintf(stderr, "pst %s: no config given (-c CONFIG.ini)\n\n", argv[0]);
    usage(stderr);
    return 2;
  }
  if (output && !*output) {
    fprintf(stderr, "pst %s: no output given (-o FILE)\n", argv[0]);
    return 2;
  }
  pst_config_defaults(cfg);
  pst_err rc = pst_config_load(cfg, cfg_path);
  for (int i = 1; i < argc && !rc; i++) {
    if (argv[i][0] == '-') {
      if (!strcmp(argv[i], "--resume")) { /* = ckpt.resume=VALUE, in command-line order */
        char kv[PST_PATH_MAX + 16];
        snprintf(kv, sizeof kv, "ckpt.resume=%s", argv[++i]);
        rc = pst_config_set(cfg, kv);
        continue;
      }
      if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config") || !strcmp(argv[i], "-o")) i++;
      continue;
    }
    rc = pst_config_set(cfg, argv[i]);
  }
  if (!rc) rc = pst_config_finalize(cfg);
  if (rc) {
    pst_err_print(stderr, *verbose);
    return 1;
  }
  return -1; /* go on */
}
