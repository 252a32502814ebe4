/* blas.c — detect OpenBLAS running generic kernels on a capable CPU and fix it by
 * re-executing with OPENBLAS_CORETYPE set (see blas.h). */
#include "pst/blas.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pst/core.h"

/* The kernel set this CPU should get, or NULL if we cannot tell. */
static const char *wanted_core(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return NULL;
}

const char *pst_blas_corename(void) { return openblas_get_corename(); }

int pst_blas_is_slow(void) {
  const char *want = wanted_core(), *have = openblas_get_corename();
  if (!want || !have) return 0;
  /* kernel sets older than Haswell lack AVX2/FMA */
  static const char *const slow[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                     "Sandybridge", "Katmai", "Coppermine", "Northwood", "Banias", NULL};
  for (int i = 0; slow[i]; i++)
    if (!strcasecmp(have, slow[i])) return 1;
  return 0;
}

void pst_blas_ensure_fast(char **argv) {
  const char *want = wanted_core();
  if (!pst_blas_is_slow()) return;
  if (getenv("PST_BLAS_REEXEC") || getenv("OPENBLAS_CORETYPE")) {
    fprintf(stderr, "pst: warning: OpenBLAS uses its slow '%s' kernels on a CPU that supports '%s'%s; "
            "sgemm will run several times slower\n", openblas_get_corename(), want,
            getenv("OPENBLAS_CORETYPE") ? " although OPENBLAS_CORETYPE is set" : "");
    return;
  }
  pst_log(2, "pst: OpenBLAS picked '%s' kernels on a '%s' CPU: re-executing with OPENBLAS_CORETYPE=%s\n",
          openblas_get_corename(), want, want);
  setenv("OPENBLAS_CORETYPE", want, 1);
  setenv("PST_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "pst: warning: could not re-execute with OPENBLAS_CORETYPE=%s; set it yourself for speed\n", want);
}

void pst_set_threads(int n) {
  if (n <= 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int pst_blas_get_threads(void) { return openblas_get_num_threads(); }

void pst_blas_set_threads(int n) { openblas_set_num_threads(n); }
