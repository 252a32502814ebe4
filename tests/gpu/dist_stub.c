/* dist_stub.c — the data-parallel collectives of dist.h for the prebuilt GPU programs
 * (tests/gpu/build-prebuilt.sh), which run as one process on a machine without MPI: the
 * trainers reference these only on their dist != NULL paths, which those programs never
 * take. Each reports that this build has no MPI. Not part of libpst.a. */
#include "pst/dist.h"

pst_err pst_dist_dp_sum_f32(pst_dist *d, float *x, long n, pst_phase phase) {
  (void)d, (void)x, (void)n, (void)phase;
  PST_ERR(PST_ERR_INTERNAL, "this program is built without MPI (tests/gpu/dist_stub.c)");
}

pst_err pst_dist_dp_sum_f64(pst_dist *d, double *x, long n, pst_phase phase) {
  (void)d, (void)x, (void)n, (void)phase;
  PST_ERR(PST_ERR_INTERNAL, "this program is built without MPI (tests/gpu/dist_stub.c)");
}

pst_err pst_dist_tp_sum_f64(pst_dist *d, double *x, long n) {
  (void)d, (void)x, (void)n;
  PST_ERR(PST_ERR_INTERNAL, "this program is built without MPI (tests/gpu/dist_stub.c)");
}
