/* blas.h — make sure OpenBLAS runs its fast kernels for this CPU.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise some recent Xeons and falls back to its
 * "Prescott" (SSE3) kernels, about 4x slower. OpenBLAS reads OPENBLAS_CORETYPE only when
 * it is loaded, so pst_blas_ensure_fast() re-executes the program with the right value
 * (SkylakeX for AVX-512, Haswell for AVX2) before anything else runs. */
#ifndef PST_BLAS_H
#define PST_BLAS_H

/* Call first in main(). May not return (execv). Logs what it did at level 1 or 2. */
void pst_blas_ensure_fast(char **argv);
/* Name of the OpenBLAS kernel set in use, e.g. "SkylakeX". */
const char *pst_blas_corename(void);
/* 1 if the kernels in use are slower than what the CPU supports. */
int pst_blas_is_slow(void);
/* Threads for OpenMP and OpenBLAS (0 = leave the defaults). */
void pst_set_threads(int n);
/* OpenBLAS's own threads: get, and set (decoding sets 1 and splits the work over OpenMP). */
int pst_blas_get_threads(void);
void pst_blas_set_threads(int n);

#endif
