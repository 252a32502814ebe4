#!/bin/bash
# smoke.sh — pst under a real one-node Slurm cluster (tests/slurm/cluster.sh).
# Exit 0 pass, 1 fail, 77 skip (Slurm or munge not installed, or not root).
#   (a) srun -n 2 --mpi=pmix -O pst train ... dist.tp=2: "2 ranks = dp 1 x tp 2" and
#       trainables.safetensors written (PMIx direct launch, no mpirun);
#   (b) the same as an sbatch job (-n 2, --requeue, --signal=B:USR1@30): waits for it with
#       squeue, then checks JobState=COMPLETED, ExitCode=0:0, its output and its file;
#   (c) a 3-task job array of `hostname`: 3 tasks COMPLETED, 3 output files.
# The cluster is started in a mktemp dir and always stopped (trap).
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
here=$(cd "$(dirname "$0")" && pwd)
PST=$(cd "$top_builddir" && pwd)/pst
INI=$(cd "$top_srcdir" && pwd)/inputs/tiny-random.ini
[ -x "$PST" ] || { echo "FAIL: no $PST (build it first)"; exit 1; }
[ -r "$INI" ] || { echo "FAIL: no $INI"; exit 1; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pst-slurm.XXXXXX")
cleanup() {
    "$here/cluster.sh" stop "$tmp/cluster" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$here/cluster.sh" start "$tmp/cluster" >"$tmp/start.out"
rc=$?
[ "$rc" = 77 ] && { echo "SKIP: Slurm test cluster unavailable (see above)"; exit 77; }
[ "$rc" = 0 ] || { echo "FAIL: cluster.sh start exited $rc"; exit 1; }
eval "$(tail -n 1 "$tmp/start.out")"
echo "cluster: SLURM_CONF=$SLURM_CONF"

pass=0 fail=0
ok()  { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
train_args="train -c $INI train.steps=3 train.batch_size=8 train.seq_len=32 data.dev= dist.tp=2"

# Wait until job $1 has left the queue (at most $2 s); 0 when it did.
wait_job() {
    local n=$(($2 * 2))
    while [ "$n" -gt 0 ]; do
        squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
        sleep 0.5; n=$((n - 1))
    done
    return 1
}
job_field() {  # job_field JOBID FIELD -> value of FIELD= in `scontrol show job`
    scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# (a) srun, PMIx
rd=$tmp/srun_tp2
timeout 300 srun -n 2 --mpi=pmix -O "$PST" $train_args train.run_dir="$rd" >"$tmp/a.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q "2 ranks = dp 1 x tp 2" "$tmp/a.out" && [ -s "$rd/trainables.safetensors" ]; then
    ok "(a) srun -n 2 --mpi=pmix: 2 ranks = dp 1 x tp 2, wrote trainables.safetensors"
else
    bad "(a) srun -n 2 --mpi=pmix (exit $rc):"; sed 's/^/    /' "$tmp/a.out" | tail -n 30
fi

# (b) sbatch, 2 tasks
rd=$tmp/sbatch_tp2
cat >"$tmp/job.sh" <<EOF
#!/bin/bash
#SBATCH -J pst-smoke
#SBATCH -n 2
#SBATCH --overcommit
#SBATCH -t 5
#SBATCH --requeue
#SBATCH --signal=B:USR1@30
#SBATCH -o $tmp/job-%j.out
echo "job \$SLURM_JOB_ID: \$SLURM_NTASKS tasks on \$SLURM_JOB_NODELIST"
srun --mpi=pmix "$PST" $train_args train.run_dir="$rd"
EOF
jid=$(sbatch --parsable "$tmp/job.sh" 2>"$tmp/b.err")
if [ -z "$jid" ]; then
    bad "(b) sbatch refused the job: $(cat "$tmp/b.err")"
elif ! wait_job "$jid" 180; then
    bad "(b) sbatch job $jid still queued/running after 180 s"; scancel "$jid"
else
    st=$(job_field "$jid" JobState) ec=$(job_field "$jid" ExitCode)
    if [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] && grep -q "2 ranks = dp 1 x tp 2" "$tmp/job-$jid.out" \
            && [ -s "$rd/trainables.safetensors" ]; then
        ok "(b) sbatch -n 2 job $jid: COMPLETED 0:0, 2 ranks = dp 1 x tp 2, wrote trainables.safetensors"
    else
        bad "(b) sbatch job $jid: state ${st:-?} exit ${ec:-?}; its output:"
        sed 's/^/    /' "$tmp/job-$jid.out" 2>/dev/null | tail -n 30
    fi
fi

# (c) a 3-task job array
aid=$(sbatch --parsable --array=1-3 -o "$tmp/arr-%A_%a.out" \
      --wrap 'echo "task $SLURM_ARRAY_TASK_ID on $(hostname)"' 2>"$tmp/c.err")
if [ -z "$aid" ]; then
    bad "(c) sbatch --array refused: $(cat "$tmp/c.err")"
elif ! wait_job "$aid" 120; then
    bad "(c) array job $aid not finished after 120 s"; scancel "$aid"
else
    n=$(scontrol -o show job "$aid" 2>/dev/null | grep "JobState=COMPLETED " | grep -c " ExitCode=0:0 ")
    nout=0
    for t in 1 2 3; do grep -q "^task $t on " "$tmp/arr-${aid}_$t.out" 2>/dev/null && nout=$((nout + 1)); done
    if [ "$n" = 3 ] && [ "$nout" = 3 ]; then
        ok "(c) job array $aid: 3 tasks COMPLETED, 3 outputs"
    else
        bad "(c) job array $aid: $n of 3 tasks COMPLETED, $nout of 3 outputs"
        scontrol -o show job "$aid" 2>&1 | sed 's/^/    /' | cut -c1-200
    fi
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
