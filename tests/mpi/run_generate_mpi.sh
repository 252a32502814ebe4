#!/bin/sh
# run_generate_mpi.sh — pst generate under MPI: 2 and 3 ranks split the prompts and rank 0 writes
# them in input order, equal to one process byte for byte (beam search with an EOS; seeded top-k /
# top-p sampling, whose draws depend on the prompt's index, not on the rank); the tiny LLaMA GGUF
# fixture, 7 prompts of different lengths.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
pst="$top_builddir/pst"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf '[model]\ngguf = %s\n' "$(cd "$top_srcdir/tests/fixtures/gguf" && pwd)/llama-tiny.gguf" >"$tmp/m.ini"
printf '1 2 3\n4 5\n6 7 8 9 10\n11\n12 13 14 15\n16 17\n18 19 20 21 22 23\n' >"$tmp/p.ids"
fail=0
for mode in "--beams 3 --no-repeat-ngram 2 --eos 3" "--sample --top-k 8 --top-p 0.9 --seed 11"; do
  # shellcheck disable=SC2086
  "$pst" generate -c "$tmp/m.ini" --prompts "$tmp/p.ids" --format ids --ids --max-new-tokens 6 --batch 2 -q $mode \
    -o "$tmp/one.ids" || { echo "FAIL: one process ($mode)"; fail=1; continue; }
  for np in 2 3; do
    # shellcheck disable=SC2086
    if ! mpirun -np $np "$pst" generate -c "$tmp/m.ini" --prompts "$tmp/p.ids" --format ids --ids --max-new-tokens 6 \
        --batch 2 -q $mode -o "$tmp/mpi.ids" >"$tmp/log" 2>&1; then
      echo "FAIL: $np ranks ($mode):"; cat "$tmp/log"; fail=1
    elif ! cmp -s "$tmp/one.ids" "$tmp/mpi.ids"; then
      echo "FAIL: $np ranks ($mode) differ from one process:"; diff "$tmp/one.ids" "$tmp/mpi.ids"; fail=1
    else
      echo "ok   $np ranks = 1 process ($mode, $(wc -l <"$tmp/mpi.ids") outputs)"
    fi
  done
done
exit $fail
