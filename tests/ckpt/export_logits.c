/* export_logits.c — test helper for tests/ckpt/test_export.sh.
 *
 *   export_logits CKPT B T OUT      rebuild the checkpoint's model in pst (export.h:
 *                                   pst_ckpt_load_model), run one forward pass on fixed token
 *                                   ids and write OUT.json = {"input_ids": [B][T],
 *                                   "token_type_ids": [B][T], "attention_mask": [B][T]} and
 *                                   OUT.f32 = the logits, little-endian float32, [B, num_labels]
 *                                   (bert) or [B, T, vocab] (gpt2)
 *   export_logits --chunks FILE.h5  one line "ADDRESS SIZE /DATASET" per stored chunk of every
 *                                   chunked dataset (byte offsets into the file, for damaging
 *                                   a dataset's data on purpose)
 * Token ids come from a fixed LCG in [2, vocab). bert: sequence 0 is all real tokens, types 0
 * then 1 from the middle; the last sequence has its last T/4 positions padded (id 0, mask 0).
 * gpt2: every position real. Exit status 0 ok, 1 failure, 2 bad usage. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/data.h"
#include "pst/export.h"

/* H5Ovisit over HDF5 1.10 (H5Ovisit2, H5O_info_t) and 1.12+ (H5Ovisit3, H5O_info2_t) */
#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t h5o_info;
#define VISIT(f, cb, data) H5Ovisit3((f), H5_INDEX_NAME, H5_ITER_INC, (cb), (data), H5O_INFO_BASIC)
#else
typedef H5O_info_t h5o_info;
#define VISIT(f, cb, data) H5Ovisit2((f), H5_INDEX_NAME, H5_ITER_INC, (cb), (data), H5O_INFO_BASIC)
#endif

static herr_t chunk_cb(hid_t obj, const char *name, const h5o_info *oi, void *data) {
  (void)data;
  if (oi->type != H5O_TYPE_DATASET) return 0;
  hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
  if (ds < 0) return 0;
  hid_t dcpl = H5Dget_create_plist(ds);
  if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0;
    H5Dget_num_chunks(ds, sp, &n);
    for (hsize_t i = 0; i < n; i++) {
      hsize_t off[8], size = 0;
      unsigned mask;
      haddr_t addr;
      if (H5Dget_chunk_info(ds, sp, i, off, &mask, &addr, &size) >= 0)
        printf("%llu %llu /%s\n", (unsigned long long)addr, (unsigned long long)size, name);
    }
    H5Sclose(sp);
  }
  H5Pclose(dcpl);
  H5Dclose(ds);
  return 0;
}

static int list_chunks(const char *path) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "export_logits: cannot open %s\n", path);
    return 1;
  }
  herr_t h = VISIT(f, chunk_cb, NULL);
  H5Fclose(f);
  return h < 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--chunks")) return list_chunks(argv[2]);
  if (argc != 5) {
    fprintf(stderr, "usage: export_logits CKPT B T OUT | export_logits --chunks FILE.h5\n");
    return 2;
  }
  const int B = atoi(argv[2]), T = atoi(argv[3]);
  if (B < 1 || T < 2) {
    fprintf(stderr, "export_logits: B >= 1 and T >= 2 needed\n");
    return 2;
  }
  pst_model *m;
  pst_config cfg;
  pst_ckpt_meta meta;
  if (pst_ckpt_load_model(argv[1], NULL, B, T, &m, &cfg, &meta)) {
    pst_err_print(stderr, 1);
    return 1;
  }
  const int gpt2 = !strcmp(cfg.arch, "gpt2");
  pst_task task;
  pst_batch bt;
  pst_err rc = pst_task_parse(&task, cfg.task);
  if (!rc) rc = pst_batch_alloc(&bt, B, T, task);
  if (rc) {
    pst_err_print(stderr, 1);
    return 1;
  }
  uint64_t x = 12345;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const int n = b * T + t;
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const int pad = !gpt2 && b == B - 1 && B > 1 && t >= T - T / 4;
      bt.input_ids[n] = pad ? 0 : 2 + (int)((x >> 33) % (uint64_t)(cfg.vocab - 2));
      bt.attn_mask[n] = !pad;
      bt.token_type_ids[n] = !gpt2 && cfg.type_vocab > 1 && b == 0 && t >= T / 2;
    }
  if (gpt2)
    for (int n = 0; n < B * T; n++) {
      bt.targets[n] = n % T < T - 1 ? bt.input_ids[n + 1] : 0;
      bt.loss_mask[n] = 1;
    }
  double loss;
  rc = pst_model_forward(m, &bt, &loss);
  if (rc) {
    pst_err_print(stderr, 1);
    return 1;
  }
  long nl;
  const float *logits = pst_model_logits(m, &nl);
  char path[4096];
  snprintf(path, sizeof path, "%s.f32", argv[4]);
  FILE *f = fopen(path, "wb");
  int bad = !f || fwrite(logits, sizeof(float), (size_t)nl, f) != (size_t)nl;
  if (f) bad |= fclose(f) != 0;
  snprintf(path, sizeof path, "%s.json", argv[4]);
  f = bad ? NULL : fopen(path, "w");
  const char *keys[3] = {"input_ids", "token_type_ids", "attention_mask"};
  for (int k = 0; f && k < 3; k++) {
    fprintf(f, "%s\"%s\": [", k ? ", " : "{", keys[k]);
    for (int b = 0; b < B; b++) {
      fprintf(f, "%s[", b ? ", " : "");
      for (int t = 0; t < T; t++) {
        const int n = b * T + t;
        const int v = k == 0 ? bt.input_ids[n] : k == 1 ? bt.token_type_ids[n] : bt.attn_mask[n];
        fprintf(f, "%s%d", t ? ", " : "", v);
      }
      fprintf(f, "]");
    }
    fprintf(f, "]");
  }
  if (f) {
    fprintf(f, "}\n");
    bad |= fclose(f) != 0;
  } else {
    bad = 1;
  }
  if (bad) {
    fprintf(stderr, "export_logits: cannot write %s\n", path);
    return 1;
  }
  printf("%s step %ld: %ld logits (%s), loss %.6f\n", cfg.arch, meta.step, nl,
         gpt2 ? "[B, T, vocab]" : "[B, num_labels]", loss);
  pst_batch_free(&bt);
  pst_model_destroy(m);
  pst_ckpt_meta_free(&meta);
  return 0;
}
