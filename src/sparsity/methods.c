/* methods.c — the sparsification methods as rows of flags (see linear.h). */
#include <string.h>

#include "pst/linear.h"

static const pst_method METHODS[] = {
    /* name            train_w lowrank mask                score_abs lowrank_s full_s */
    {"pst",            0,      1,      PST_MASK_TOPK,      1,        1,        0},
    {"dense",          1,      0,      PST_MASK_NONE,      0,        0,        0},
    {"lora",           0,      1,      PST_MASK_NONE,      0,        0,        0},
    {"magnitude",      0,      1,      PST_MASK_TOPK,      1,        0,        0},
    {"movement",       0,      1,      PST_MASK_TOPK,      0,        0,        1},
    {"soft-movement",  0,      1,      PST_MASK_THRESHOLD, 0,        0,        1},
    /* the paper's full fine-tuning baselines: W0 (and every other tensor) trains, masked */
    {"magnitude-full", 1,      0,      PST_MASK_TOPK,      1,        0,        0},
    {"movement-full",  1,      0,      PST_MASK_TOPK,      0,        0,        1},
};

const pst_method *pst_method_find(const char *name) {
  for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
    if (!strcmp(METHODS[i].name, name)) return &METHODS[i];
  return NULL;
}
