/* main.c — the `pst` command: subcommand dispatch, --help, --version. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "pst/blas.h"
#include "pst/cli.h"
#include "pst/core.h"

static void usage(FILE *f) {
  fprintf(f,
          "pst %s — parameter-efficient sparse fine-tuning (PST) of BERT / RoBERTa / GPT-2 / LLaMA\n\n"
          "usage:\n"
          "  pst train -c CONFIG.ini [section.key=value ...]   train (see `pst train --help`)\n"
          "  pst prep -c CONFIG.ini -o OUT.h5 [key=value ...]  tokenize the data once into HDF5\n"
          "  pst generate (-c CFG|--ckpt F|--run D) --prompt T  decode text (greedy, beam search, sampling)\n"
          "  pst eval (-c CFG|--ckpt F|--run D) [--data F]     decode a data-to-text split and score it\n"
          "  pst inspect-model DIR                             a Hugging Face model directory: architecture, sizes\n"
          "  pst inspect CKPT.h5                               a training checkpoint: state, sparsity, checksums\n"
          "  pst export CKPT.h5 --format hf|csr OUT            a checkpoint as a Hugging Face dir or sparse HDF5\n"
          "  pst grid expand|status|collect ...                hyperparameter grids as Slurm job arrays\n"
          "  pst score HYP REF... | --refs-grouped FILE        BLEU, NIST, METEOR, ROUGE-L, CIDEr, TER of outputs\n"
          "  pst --version                                     version and BLAS kernels\n"
          "  pst --help                                        this text\n\n"
          "Environment: OMP_NUM_THREADS / train.threads set the threads; pst selects fast OpenBLAS\n"
          "kernels by itself when the library misdetects the CPU (see README).\n",
          PACKAGE_VERSION);
}

int main(int argc, char **argv) {
  pst_blas_ensure_fast(argv);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("pst %s (OpenBLAS kernels: %s%s)\n", PACKAGE_VERSION, pst_blas_corename(),
           pst_blas_is_slow() ? ", slow for this CPU" : "");
    return 0;
  }
  if (!strcmp(cmd, "train")) return pst_cmd_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "inspect-model")) return pst_cmd_inspect_model(argc - 1, argv + 1);
  if (!strcmp(cmd, "prep")) return pst_cmd_prep(argc - 1, argv + 1);
  if (!strcmp(cmd, "generate")) return pst_cmd_generate(argc - 1, argv + 1);
  if (!strcmp(cmd, "eval")) return pst_cmd_eval(argc - 1, argv + 1);
  if (!strcmp(cmd, "inspect")) return pst_cmd_inspect(argc - 1, argv + 1);
  if (!strcmp(cmd, "export")) return pst_cmd_export(argc - 1, argv + 1);
  if (!strcmp(cmd, "grid")) return pst_cmd_grid(argc - 1, argv + 1);
  if (!strcmp(cmd, "score")) return pst_cmd_score(argc - 1, argv + 1);
  fprintf(stderr, "pst: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
