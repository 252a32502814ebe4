#!/bin/sh
# run_topk_shard.sh — the sharded top-k test on 1, 2, 3 and 4 MPI processes (one thread
# each), plus one run with 3 OpenMP threads per process for the threaded loops.
# Exit status: non-zero if any run fails.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
bin="${top_builddir:-.}/tests/mpi/test_topk_shard"
status=0
for np in 1 2 3 4; do
  if ! mpirun -np "$np" "$bin" > "${TMPDIR:-/tmp}/topk_shard.$$.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/topk_shard.$$.log"
    echo "run_topk_shard: FAIL at -np $np"
    status=1
  else
    tail -n 1 "${TMPDIR:-/tmp}/topk_shard.$$.log"
  fi
done
if ! OMP_NUM_THREADS=3 mpirun -np 2 "$bin" > "${TMPDIR:-/tmp}/topk_shard.$$.log" 2>&1; then
  cat "${TMPDIR:-/tmp}/topk_shard.$$.log"
  echo "run_topk_shard: FAIL at -np 2 with 3 threads"
  status=1
else
  echo "$(tail -n 1 "${TMPDIR:-/tmp}/topk_shard.$$.log") [3 threads]"
fi
rm -f "${TMPDIR:-/tmp}/topk_shard.$$.log"
exit $status
