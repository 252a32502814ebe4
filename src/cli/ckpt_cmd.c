/* ckpt_cmd.c — `pst inspect CKPT` (run state, per-layer sparsity [out x in, nnz], sizes and a
 * full checksum pass over every dataset) and `pst export CKPT --format hf|csr OUT` (a Hugging
 * Face directory or a compact CSR HDF5 file; export.h). Exit status 0 ok, 1 failure (also a
 * damaged checkpoint), 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/cli.h"
#include "pst/export.h"
#include "pst/rng.h"

static void inspect_usage(FILE *f) {
  fprintf(f,
          "usage: pst inspect CKPT.h5 [-v] [-q]\n\n"
          "Prints what a training checkpoint holds: step, epoch, total steps, sparsity, the dp x tp\n"
          "layout it was written with, the base model and its SHA-256, the model from /meta/config,\n"
          "every sparsified layer (shape out x in, kept weights, achieved sparsity) with totals, the\n"
          "file size and the size of its tensors per group. Then it reads EVERY dataset in full, so\n"
          "that HDF5 verifies each chunk's Fletcher32 checksum, and prints\n"
          "  checksums: all N datasets verified (chunk Fletcher32 and content checksums); content digest\n"
          "or names each dataset that fails and exits with status 1. A file that is missing, not\n"
          "HDF5, truncated or not a pst checkpoint is an error (status 1).\n"
          "  -v  also list every dataset with its size; error trails\n"
          "  -q  only the checksum line and errors\n"
          "(`pst inspect-model DIR` describes a Hugging Face model directory instead.)\n");
}

static void export_usage(FILE *f) {
  fprintf(f,
          "usage: pst export CKPT.h5 --format hf DIR [options]\n"
          "       pst export CKPT.h5 --format csr OUT.h5 [options]\n"
          "       pst export CKPT.h5 --format sparse OUT.safetensors [options]\n\n"
          "Rebuilds the model a checkpoint was trained from: the config stored in it (/meta/config),\n"
          "the base weights that config names (model.hf_dir, model.weights, or random from\n"
          "train.seed; a base file whose SHA-256 differs from the checkpoint's base_sha256 is a\n"
          "warning), the trainables of /trainable and the masks recomputed at the checkpoint's\n"
          "sparsity (checked against the checkpoint's own /sparse CSR; a difference is a warning).\n\n"
          "--format hf DIR   a Hugging Face directory: config.json (BertForSequenceClassification,\n"
          "                  RobertaForSequenceClassification when model.position_offset > 0, or\n"
          "                  GPT2LMHeadModel) and model.safetensors (F32, HF tensor names) holding every\n"
          "                  sparsified linear merged and masked, M * (W0 + beta U V), zeros included;\n"
          "                  the frozen tensors of the base and the trained head (pooler + classifier).\n"
          "                  GPT-2 weights are in Conv1D layout [in, out]; c_attn = [q | k | v].\n"
          "                  Tokenizer files of model.hf_dir (else data.tokenizer) are copied.\n"
          "--format csr OUT  an HDF5 file of the sparse model alone (format \"pst-sparse-model\" v1):\n"
          "                    /sparse/<layer>/rowptr int64 [m+1], col int32 [nnz], val f32 [nnz]\n"
          "                      the CSR of M * W' [m, n] (out x in), copied from the checkpoint,\n"
          "                      attributes nnz and shape [m, n]\n"
          "                    /sparse/<layer>/bias f32 [m]   the layer's bias (from the base)\n"
          "                    root attributes: format, version, step, sparsity, base_model,\n"
          "                      base_sha256, and config = the resolved INI text of the run\n"
          "                  Every dataset is chunked with a Fletcher32 checksum.\n"
          "--format sparse OUT  the model for inference alone (safetensors, format\n"
          "                  \"pst-sparse-inference\" v1; `pst generate --sparse OUT` runs it): each\n"
          "                  masked linear as CSR <layer>.rowptr I64, .col U16, .val F32 (read in place\n"
          "                  from the file's mapping: no dense copy), every other tensor F32, the\n"
          "                  run's config in the metadata.\n\n"
          "Output is written under a temporary name and renamed into place. An existing non-empty\n"
          "DIR (or an existing OUT.h5) is refused unless --force.\n"
          "options:\n"
          "  --force         replace an existing output\n"
          "  --hf-dir DIR    the base Hugging Face directory (default: where the run found it)\n"
          "  --weights FILE  the base safetensors file (default: where the run found it)\n"
          "  --gguf FILE     the base GGUF file (default: where the run found it)\n"
          "  -v / -q         more / less output\n");
}

static const char *human(double bytes, char *buf, size_t n) {
  const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    u++;
  }
  snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", bytes, unit[u]);
  return buf;
}

/* The group of a dataset path, "/trainable/x" -> "trainable". */
static void group_of(const char *name, char *out, size_t n) {
  const char *s = name[0] == '/' ? name + 1 : name, *slash = strchr(s, '/');
  snprintf(out, n, "%.*s", slash ? (int)(slash - s) : (int)strlen(s), s);
}

static void print_model(const char *config_text) {
  /* the few model keys of the stored INI text */
  char arch[160] = "?", method[160] = "?";
  long hidden = 0, layers = 0, heads = 0, ffn = 0, vocab = 0, labels = 0;
  char section[32] = "";
  const char *p = config_text;
  while (p && *p) {
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), p);
    char k[64], v[160];
    if (line[0] == '[') sscanf(line, "[%31[^]]", section);
    else if (sscanf(line, " %63[^= ] = %159s", k, v) == 2) {
      if (!strcmp(section, "model")) {
        if (!strcmp(k, "arch")) snprintf(arch, sizeof arch, "%s", v);
        else if (!strcmp(k, "hidden")) hidden = atol(v);
        else if (!strcmp(k, "layers")) layers = atol(v);
        else if (!strcmp(k, "heads")) heads = atol(v);
        else if (!strcmp(k, "ffn")) ffn = atol(v);
        else if (!strcmp(k, "vocab")) vocab = atol(v);
        else if (!strcmp(k, "num_labels")) labels = atol(v);
      } else if (!strcmp(section, "pst") && !strcmp(k, "method")) {
        snprintf(method, sizeof method, "%s", v);
      }
    }
    p = e ? e + 1 : NULL;
  }
  printf("model            %s, method %s: %ld layers, hidden %ld, heads %ld, ffn %ld, vocab %ld", arch, method, layers,
         hidden, heads, ffn, vocab);
  if (strcmp(arch, "gpt2") && strcmp(arch, "llama")) printf(", %ld label%s", labels, labels == 1 ? "" : "s");
  printf("\n");
}

/* The per-layer table of the checkpoint's /sparse: shape, weights, kept, sparsity. */
static void print_layers(const pst_ckpt_info *info) {
  printf("  %-14s %-14s %12s %12s %9s\n", "layer", "shape", "weights", "kept (nnz)", "sparsity");
  long long kept = 0, total = 0;
  for (int i = 0; i < info->nlayers; i++) {
    const pst_ckpt_layer *L = &info->layers[i];
    char shape[32];
    long long n = (long long)L->rows * L->cols;
    snprintf(shape, sizeof shape, "[%d, %d]", L->rows, L->cols);
    if (L->nnz < 0 || n <= 0) {
      printf("  %-14s %-14s %12lld %12s %9s\n", L->name, shape, n, "?", "?");
      continue;
    }
    printf("  %-14s %-14s %12lld %12ld %9.4f\n", L->name, shape, n, L->nnz, 1.0 - (double)L->nnz / (double)n);
    kept += L->nnz;
    total += n;
  }
  printf("  %-14s %-14s %12lld %12lld %9.4f\n", "total", "", total, kept,
         total ? 1.0 - (double)kept / (double)total : 0.0);
}

int pst_cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  int verbose = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      inspect_usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "-v")) {
      verbose = 1;
      pst_log_level = 2;
    } else if (!strcmp(argv[i], "-q")) {
      quiet = 1;
      pst_log_level = 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "pst inspect: unknown option '%s'\n\n", argv[i]);
      inspect_usage(stderr);
      return 2;
    } else if (path) {
      fprintf(stderr, "pst inspect: only one checkpoint may be given ('%s' and '%s')\n", path, argv[i]);
      return 2;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    fprintf(stderr, "pst inspect: no checkpoint given\n\n");
    inspect_usage(stderr);
    return 2;
  }
  pst_ckpt_info info;
  if (pst_ckpt_inspect(path, &info)) {
    pst_err_print(stderr, verbose);
    return 1;
  }
  const pst_ckpt_meta *m = &info.meta;
  char b1[32], b2[32], b3[32];
  if (!quiet) {
    printf("checkpoint       %s\n", path);
    if (info.meta_ok) {
      printf("step             %ld of %ld (epoch %ld, data cursor %ld)\n", m->step, m->total_steps, m->epoch, m->cursor);
      printf("sparsity         %.4f (of the masks after step %ld)\n", m->sparsity, m->step);
      printf("seed             %llu\n", (unsigned long long)m->seed);
      printf("written with     dp %d x tp %d\n", m->dp, m->tp);
      printf("base model       %s\n", m->base_model);
      printf("base sha256      %s\n", m->base_sha256[0] ? m->base_sha256 : "- (random weights: none)");
    } else {
      printf("run state        UNREADABLE (a root attribute is missing or damaged)\n");
    }
    if (m->config_text) print_model(m->config_text);
    else printf("model            /meta/config is unreadable\n");
    if (info.meta_ok && !m->sparse) {
      printf("sparsified layers: not in this checkpoint (ckpt.sparse = false: the final checkpoint holds them, "
             "pst export writes them)\n");
    } else {
      printf("sparsified layers (shape = out x in)\n");
      print_layers(&info);
    }
    long long bytes = 0, stored = 0;
    for (int i = 0; i < info.ndatasets; i++) {
      bytes += info.datasets[i].bytes;
      stored += info.datasets[i].stored;
    }
    printf("size             file %lld bytes (%s); tensors %s in %d datasets (%s stored, with checksums)\n",
           info.file_bytes, human((double)info.file_bytes, b1, sizeof b1), human((double)bytes, b2, sizeof b2),
           info.ndatasets, human((double)stored, b3, sizeof b3));
    /* per group, in file order */
    for (int i = 0; i < info.ndatasets;) {
      char g[64], g2[64];
      group_of(info.datasets[i].name, g, sizeof g);
      long long gb = 0;
      int n = 0, j = i;
      for (; j < info.ndatasets; j++) {
        group_of(info.datasets[j].name, g2, sizeof g2);
        if (strcmp(g, g2)) break;
        gb += info.datasets[j].bytes;
        n++;
      }
      printf("  /%-13s %5d datasets %12s\n", g, n, human((double)gb, b1, sizeof b1));
      i = j;
    }
    if (verbose)
      for (int i = 0; i < info.ndatasets; i++)
        printf("    %-40s %12lld bytes (%lld stored)%s\n", info.datasets[i].name, info.datasets[i].bytes,
               info.datasets[i].stored, info.datasets[i].ok ? "" : "  FAILED");
  }
  int bad = 0;
  for (int i = 0; i < info.ndatasets; i++) bad += !info.datasets[i].ok;
  int status = 0;
  if (!bad && info.ndatasets > 0) {
    /* a digest of what was read (names and recomputed content checksums): equal digests mean
     * equal contents, so tests can tell a harmless flip from a silent one */
    const pst_ckpt_meta *mt = &info.meta;
    uint64_t sp_bits;
    memcpy(&sp_bits, &mt->sparsity, sizeof sp_bits);
    const uint64_t attrs[] = {(uint64_t)mt->step, (uint64_t)mt->epoch, (uint64_t)mt->cursor, (uint64_t)mt->total_steps,
                              sp_bits, mt->seed, (uint64_t)mt->dp, (uint64_t)mt->tp};
    uint64_t digest = pst_rng_stream(mt->base_model) ^ pst_rng_stream(mt->base_sha256); /* and the root attributes */
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) digest += pst_rng_u64(attrs[i], 0x6d657461, i);
    for (int i = 0; i < info.ndatasets; i++)
      digest += pst_rng_u64(info.datasets[i].xsum, pst_rng_stream(info.datasets[i].name), (uint64_t)i);
    printf("checksums: all %d datasets verified (chunk Fletcher32 and content checksums); content digest %016llx\n",
           info.ndatasets, (unsigned long long)digest);
  } else if (!bad) {
    printf("checksums: the file holds no datasets\n");
    status = 1;
  } else {
    const char *first = NULL;
    printf("checksums: %d of %d datasets FAILED verification (damaged data):\n", bad, info.ndatasets);
    for (int i = 0; i < info.ndatasets; i++)
      if (!info.datasets[i].ok) {
        printf("  FAILED %s\n", info.datasets[i].name);
        if (!first) first = info.datasets[i].name;
      }
    fprintf(stderr, "pst: error: %s is damaged: %d dataset%s failed checksum verification, first %s\n", path, bad,
            bad == 1 ? "" : "s", first);
    status = 1;
  }
  if (!info.meta_ok || !m->config_text || !m->results_json) {
    fprintf(stderr, "pst: error: %s: the run state is unreadable (%s)\n", path,
            !info.meta_ok ? "a root attribute is missing or damaged" : "/meta/config or /meta/results");
    status = 1;
  }
  pst_ckpt_info_free(&info);
  return status;
}

int pst_cmd_export(int argc, char **argv) {
  const char *ckpt = NULL, *format = NULL, *out = NULL;
  pst_export_opts o;
  memset(&o, 0, sizeof o);
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      export_usage(stdout);
      return 0;
    }
    if (!strcmp(a, "-v")) {
      verbose = 1;
      pst_log_level = 2;
    } else if (!strcmp(a, "-q")) {
      pst_log_level = 0;
    } else if (!strcmp(a, "--force")) {
      o.force = 1;
    } else if (!strcmp(a, "--format") || !strcmp(a, "--hf-dir") || !strcmp(a, "--weights") || !strcmp(a, "--gguf")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pst export: %s needs a value\n", a);
        return 2;
      }
      const char *v = argv[++i];
      if (a[2] == 'f') format = v;
      else if (a[2] == 'h') o.base.hf_dir = v;
      else if (a[2] == 'g') o.base.gguf = v;
      else o.base.weights = v;
    } else if (!strncmp(a, "--format=", 9)) {
      format = a + 9;
    } else if (a[0] == '-') {
      fprintf(stderr, "pst export: unknown option '%s'\n\n", a);
      export_usage(stderr);
      return 2;
    } else if (!ckpt) {
      ckpt = a;
    } else if (!out) {
      out = a;
    } else {
      fprintf(stderr, "pst export: unexpected argument '%s'\n", a);
      return 2;
    }
  }
  if (!ckpt || !out || !format) {
    fprintf(stderr, "pst export: %s\n\n", !ckpt ? "no checkpoint given" : !format ? "no --format given (hf, csr or sparse)"
                                                                                    : "no output given");
    export_usage(stderr);
    return 2;
  }
  pst_err rc;
  if (!strcmp(format, "hf")) {
    rc = pst_export_hf(ckpt, out, &o);
  } else if (!strcmp(format, "csr")) {
    rc = pst_export_csr(ckpt, out, &o);
  } else if (!strcmp(format, "sparse")) {
    rc = pst_export_sparse(ckpt, out, &o);
  } else {
    fprintf(stderr, "pst export: --format '%s' is unknown (hf, csr or sparse)\n", format);
    return 2;
  }
  if (rc) {
    pst_err_print(stderr, verbose);
    return 1;
  }
  pst_log(1, "pst: wrote %s\n", out);
  return 0;
}
