#!/bin/bash
# test_jobs.sh — jobs/train.sbatch and jobs/grid.sbatch under a real one-node Slurm cluster
# (tests/slurm/cluster.sh). Exit 0 pass, 1 fail, 77 skip (Slurm or munge missing, not root).
#
#   (a) preemption: jobs/train.sbatch, 2 tasks (--overcommit), dist.tp=2, --time=2
#       --signal=B:USR1@60, submitted from another folder by absolute path (lib.sh found via
#       scontrol's Command=). Once the run has logged step >= 100 the test sends the warning
#       itself (`scancel --batch --signal=USR1`, the path of --signal=B:USR1: Slurm's own
#       timing is too loose to wait for); the batch shell forwards it to srun, pst checkpoints
#       and exits 75, the job requeues itself, runs again after cred_expire (30 s) and resumes.
#       Checks: job output (forwarded, requeueing), Restarts >= 1, the second run's banner says
#       restart 1, train.log "resumed from", COMPLETED 0:0, status.json done, and
#       trainables.safetensors + metrics.jsonl (minus elapsed_s) byte-identical to an
#       uninterrupted run of the same config under `mpirun -np 2` (or srun without the job
#       script when mpirun is missing).
#   (b) grid job array (needs `pst grid`; else "SKIP grid part" and (a) decides): pst grid
#       expand inputs/grids/tiny.grid (or a small grid written here), sbatch the printed
#       --array of jobs/grid.sbatch (relative path, from the source tree), all points done,
#       pst grid collect lists every point in results.md; then point 1 is broken (data.train
#       missing, status and checkpoints removed) and re-submitted with
#       --array=$(pst grid status OUT --pending): only it runs (others' train.log unchanged),
#       it is reported failed with its log tail; and a done point submitted again is skipped.
#   (c) (runs after (a)) scancel of a running train.sbatch job: pst checkpoints (status preempted), the job
#       ends CANCELLED and is not requeued (the script requeues after SIGTERM only when the
#       reason is TimeLimit; that path needs a >= 1 minute job and was checked by hand).
#   (d) (runs after (c)) jobs/train-gpu.sbatch with --gpus-per-node=0 and a fake pst: runs
#       under Slurm, and with CUDA_VISIBLE_DEVICES=3,5 rank 0 sees only 3, rank 1 only 5.
# The cluster is started in a mktemp dir and always stopped (trap); the dir is removed unless
# PST_TEST_KEEP is set. PST_TEST_JOBS_STEPS: steps of (a) (600). Takes about 1-1.5 minutes.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$top_srcdir" && pwd)
PSTBIN=$(cd "$top_builddir" && pwd)/pst
INI=$src/inputs/tiny-random.ini
STEPS=${PST_TEST_JOBS_STEPS:-600}
[ -x "$PSTBIN" ] || { echo "FAIL: no $PSTBIN (build it first)"; exit 1; }
[ -r "$INI" ] || { echo "FAIL: no $INI"; exit 1; }
for f in train.sbatch grid.sbatch train-gpu.sbatch lib.sh; do
    bash -n "$src/jobs/$f" || { echo "FAIL: bash -n jobs/$f"; exit 1; }
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# The job scripts find pst by themselves (`pst` on PATH, else next to jobs/); point them at
# the build only when it is not the source tree's (VPATH builds).
if [ "$PSTBIN" -ef "$src/pst" ] && ! command -v pst >/dev/null 2>&1; then
    unset PST
else
    export PST=$PSTBIN
fi
unset PST_JOBS_DIR

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pst-jobs.XXXXXX")
jobs_started=
cleanup() {
    local j
    for j in $jobs_started; do scancel "$j" >/dev/null 2>&1; done
    "$here/cluster.sh" stop "$tmp/cluster" >/dev/null 2>&1
    if [ -n "${PST_TEST_KEEP:-}" ]; then echo "kept $tmp (PST_TEST_KEEP)"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
t_start=$(date +%s)

"$here/cluster.sh" start "$tmp/cluster" >"$tmp/start.out"
rc=$?
[ "$rc" = 77 ] && { echo "SKIP: Slurm test cluster unavailable (see above)"; exit 77; }
[ "$rc" = 0 ] || { echo "FAIL: cluster.sh start exited $rc"; exit 1; }
eval "$(tail -n 1 "$tmp/start.out")"
echo "cluster: SLURM_CONF=$SLURM_CONF"

pass=0 fail=0
ok()  { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
show() { sed 's/^/    /' "$@" 2>/dev/null | tail -n 40; }

job_field() {  # job_field JOBID FIELD -> FIELD= of the first record of `scontrol show job`
    scontrol -o show job "$1" 2>/dev/null | head -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
# Wait until job (or array) $1 has left the queue, at most $2 s; 0 when it did.
wait_gone() {
    local n=$(($2 * 2))
    while [ "$n" -gt 0 ]; do
        squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
        sleep 0.5; n=$((n - 1))
    done
    return 1
}
# The metrics without the wall-clock field.
metrics() { sed -e 's/,"elapsed_s":[^,}]*//' -e 's/"elapsed_s":[^,}]*,//' "$1"; }
state_of() { sed -n 's/^ *"state" *: *"\([a-z ]*\)".*/\1/p' "$1/status.json" 2>/dev/null; }

# ---------------------------------------------------------------- (a) preemption + requeue
cfg="model.hidden=64 model.ffn=256 train.batch_size=8 train.seq_len=32 data.dev= train.steps=$STEPS ckpt.every=50 dist.tp=2"
rd=$tmp/a/run ref=$tmp/a/ref
mkdir -p "$tmp/a/submit"
# Submitted from a folder without jobs/, by absolute path: lib.sh must be found by Command=.
# shellcheck disable=SC2086
jid=$(cd "$tmp/a/submit" && sbatch --parsable -N 1 -n 2 --ntasks-per-node=2 -c 1 -O -t 2 \
      --signal=B:USR1@60 -J pst-preempt -o "$tmp/a/job-%j.out" \
      "$src/jobs/train.sbatch" "$INI" $cfg train.run_dir="$rd" 2>"$tmp/a/sbatch.err")
if [ -z "$jid" ]; then
    bad "(a) sbatch refused jobs/train.sbatch: $(cat "$tmp/a/sbatch.err")"
else
    jobs_started="$jobs_started $jid"
    echo "(a) job $jid: $STEPS steps, tp 2, warning once step >= 100 is logged"
    at=
    for _ in $(seq 1 600); do  # 120 s
        at=$(sed -n 's|^step \([0-9]*\)/.*|\1|p' "$rd/train.log" 2>/dev/null | tail -n 1)
        [ -n "$at" ] && [ "$at" -ge 100 ] && break
        st=$(job_field "$jid" JobState)
        case $st in PENDING|RUNNING|CONFIGURING|"") ;; *) break ;; esac
        sleep 0.2
    done
    if [ -z "$at" ] || [ "$at" -lt 100 ]; then
        bad "(a) job $jid: no step >= 100 in $rd/train.log (state $(job_field "$jid" JobState)); job output:"
        show "$tmp/a/job-$jid.out"
    else
        scancel --batch --signal=USR1 "$jid"
        echo "(a) sent SIGUSR1 to the batch shell at step $at"
        # Wait for the checkpoint-and-exit before the reference run takes the CPUs.
        for _ in $(seq 1 150); do
            [ "$(state_of "$rd")" = preempted ] && break
            [ "$(state_of "$rd")" = "done" ] && break
            sleep 0.2
        done
        echo "(a) run state after the warning: $(state_of "$rd"); reference run while the job waits to restart"
        # uninterrupted reference run (meanwhile the requeued job waits cred_expire)
        # shellcheck disable=SC2086
        if command -v mpirun >/dev/null 2>&1; then
            OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
                timeout 300 mpirun -np 2 "$PSTBIN" train -c "$INI" $cfg train.run_dir="$ref" -q \
                >"$tmp/a/ref.out" 2>&1
        else
            timeout 300 srun -n 2 -O --mpi=pmix "$PSTBIN" train -c "$INI" $cfg train.run_dir="$ref" -q \
                >"$tmp/a/ref.out" 2>&1
        fi
        ref_rc=$?
        [ "$ref_rc" = 0 ] || { bad "(a) reference run exited $ref_rc:"; show "$tmp/a/ref.out"; }
        if ! wait_gone "$jid" 180; then
            bad "(a) job $jid not finished 180 s after the warning (state $(job_field "$jid" JobState))"
            show "$tmp/a/job-$jid.out"
        else
            out=$tmp/a/job-$jid.out
            st=$(job_field "$jid" JobState) ec=$(job_field "$jid" ExitCode) rs=$(job_field "$jid" Restarts)
            why=
            grep -q "SIGUSR1 received: forwarding" "$out" || why="$why; no 'SIGUSR1 received: forwarding' in the job output"
            grep -q "exit 75 after SIGUSR1): requeueing job $jid" "$out" || why="$why; no 'requeueing job $jid' in the job output"
            grep -q "job $jid, restart 1," "$out" || why="$why; no second run with SLURM_RESTART_COUNT=1 in the job output"
            [ "${rs:-0}" -ge 1 ] 2>/dev/null || why="$why; Restarts=${rs:-?}"
            grep -q "resumed from $rd/checkpoints/ckpt-" "$rd/train.log" || why="$why; train.log has no 'resumed from'"
            [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] || why="$why; JobState=$st ExitCode=$ec"
            [ "$(state_of "$rd")" = "done" ] || why="$why; status.json state '$(state_of "$rd")'"
            if [ -z "$why" ]; then
                ok "(a) job $jid: warned at step $at, checkpointed, exit 75, requeued (Restarts=$rs), resumed, COMPLETED 0:0, status done"
            else
                bad "(a) job $jid${why}; job output:"; show "$out"
            fi
            if [ "$ref_rc" = 0 ]; then
                if cmp -s "$rd/trainables.safetensors" "$ref/trainables.safetensors" \
                        && [ "$(metrics "$rd/metrics.jsonl" | wc -l)" = "$STEPS" ] \
                        && metrics "$rd/metrics.jsonl" | cmp -s - <(metrics "$ref/metrics.jsonl"); then
                    ok "(a) preempted+resumed run == uninterrupted run: trainables.safetensors and $STEPS metrics lines (minus elapsed_s) byte-identical"
                else
                    bad "(a) preempted+resumed run differs from the uninterrupted one:"
                    cmp "$rd/trainables.safetensors" "$ref/trainables.safetensors" 2>&1 | sed 's/^/    /'
                    diff <(metrics "$rd/metrics.jsonl") <(metrics "$ref/metrics.jsonl") | head -n 10 | sed 's/^/    /'
                fi
            fi
        fi
    fi
fi
echo "(a) took $(($(date +%s) - t_start)) s so far"

# ---------------------------------------------------------------- (c) scancel: not requeued
rd=$tmp/c/run
mkdir -p "$tmp/c"
# shellcheck disable=SC2086
jid=$(sbatch --parsable -N 1 -n 2 --ntasks-per-node=2 -c 1 -O -t 5 -J pst-cancel -o "$tmp/c/job-%j.out" \
      "$src/jobs/train.sbatch" "$INI" $cfg train.run_dir="$rd" 2>"$tmp/c/sbatch.err")
if [ -z "$jid" ]; then
    bad "(c) sbatch refused jobs/train.sbatch: $(cat "$tmp/c/sbatch.err")"
else
    jobs_started="$jobs_started $jid"
    at=
    for _ in $(seq 1 300); do  # 60 s
        at=$(sed -n 's|^step \([0-9]*\)/.*|\1|p' "$rd/train.log" 2>/dev/null | tail -n 1)
        [ -n "$at" ] && [ "$at" -ge 25 ] && break
        sleep 0.2
    done
    scancel "$jid"
    # a (wrongly) requeued job would stay in the queue as PENDING
    wait_gone "$jid" 40
    st=$(job_field "$jid" JobState) rs=$(job_field "$jid" Restarts)
    if [ "$st" = CANCELLED ] && [ "$rs" = 0 ] && [ "$(state_of "$rd")" = preempted ] \
            && grep -q "after SIGTERM (state/reason [A-Z]*/None): not requeued" "$tmp/c/job-$jid.out"; then
        ok "(c) scancel of job $jid at step ${at:-?}: pst checkpointed (status preempted), job CANCELLED, not requeued"
    else
        bad "(c) scancel of job $jid: JobState=$st Restarts=$rs status '$(state_of "$rd")'; job output:"
        show "$tmp/c/job-$jid.out"
    fi
fi

# ---------------------------------------------------------------- (d) train-gpu.sbatch on CPUs
# No GPUs here: --gpus-per-node=0, a fake pst that prints what each rank sees, and a
# CUDA_VISIBLE_DEVICES as Slurm would set it for a 2-GPU allocation.
mkdir -p "$tmp/d"
cat >"$tmp/d/fakepst" <<'EOF2'
#!/bin/bash
echo "rank ${SLURM_PROCID:-?} local ${SLURM_LOCALID:-?}: CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset} args: $*"
EOF2
chmod +x "$tmp/d/fakepst"
jid=$(PST=$tmp/d/fakepst CUDA_VISIBLE_DEVICES=3,5 sbatch --parsable --gpus-per-node=0 -N 1 -n 2 \
      --ntasks-per-node=2 -c 1 -O -t 2 -o "$tmp/d/job-%j.out" "$src/jobs/train-gpu.sbatch" "$INI" dist.tp=2 \
      2>"$tmp/d/sbatch.err")
if [ -z "$jid" ]; then
    bad "(d) sbatch refused jobs/train-gpu.sbatch: $(cat "$tmp/d/sbatch.err")"
else
    jobs_started="$jobs_started $jid"
    wait_gone "$jid" 60
    o=$tmp/d/job-$jid.out
    if [ "$(job_field "$jid" JobState)" = COMPLETED ] \
            && grep -q "^rank 0 local 0: CUDA_VISIBLE_DEVICES=3 args: train -c $INI --resume auto dist.tp=2\$" "$o" \
            && grep -q "^rank 1 local 1: CUDA_VISIBLE_DEVICES=5 args: train -c $INI --resume auto dist.tp=2\$" "$o"; then
        ok "(d) train-gpu.sbatch (no GPUs, fake pst): COMPLETED, rank 0 sees GPU 3, rank 1 GPU 5 of CUDA_VISIBLE_DEVICES=3,5"
    else
        bad "(d) train-gpu.sbatch job $jid: state $(job_field "$jid" JobState); output:"; show "$o"
    fi
fi

# ---------------------------------------------------------------- (b) grid job array
if ! "$PSTBIN" grid --help >/dev/null 2>&1; then
    echo "SKIP grid part: pst grid missing"
else
    out=$tmp/b/out
    mkdir -p "$tmp/b"
    grid=$src/inputs/grids/tiny.grid
    if [ ! -r "$grid" ]; then
        grid=$tmp/b/tiny.grid
        cat >"$grid" <<EOF
[grid]
base = $INI
name = jobs-test
[set]
model.hidden = 64
model.ffn = 256
train.steps = 6
train.batch_size = 8
train.seq_len = 32
train.eval_every = 3
train.threads = 1
[axes]
optim.lr = 1e-3, 3e-3
pst.sparsity_final = 0.5, 0.9
EOF
    fi
    "$PSTBIN" grid expand "$grid" "$out" >"$tmp/b/expand.out" 2>&1
    rc=$?
    arr=$(sed -n 's/.*sbatch --array=\([^ ]*\) .*/\1/p' "$tmp/b/expand.out" | head -n 1)
    npts=$(find "$out/points" -mindepth 2 -maxdepth 2 -name config.ini 2>/dev/null | wc -l)
    if [ "$rc" != 0 ] || [ -z "$arr" ] || [ "$npts" -lt 2 ]; then
        bad "(b) pst grid expand $grid (exit $rc, array '$arr', $npts points):"; show "$tmp/b/expand.out"
    else
        # from the source tree, relative script path, as printed by pst grid expand
        aid=$(cd "$src" && sbatch --parsable --array="$arr" -N 1 -n 1 -c 1 -O -t 10 -J pst-grid-test \
              -o "$tmp/b/grid-%A_%a.out" jobs/grid.sbatch "$out" 2>"$tmp/b/sbatch.err")
        if [ -z "$aid" ]; then
            bad "(b) sbatch --array=$arr jobs/grid.sbatch refused: $(cat "$tmp/b/sbatch.err")"
        elif jobs_started="$jobs_started $aid"; ! wait_gone "$aid" 180; then
            bad "(b) array $aid (--array=$arr, $npts points) not finished after 180 s"; squeue
        else
            ndone=0 nok=0 missing=
            for ((i = 0; i < npts; i++)); do
                p=$(printf %04d "$i")
                [ "$(state_of "$out/points/$p")" = "done" ] && ndone=$((ndone + 1))
            done
            nok=$(scontrol -o show job "$aid" 2>/dev/null | grep "JobState=COMPLETED " | grep -c " ExitCode=0:0 ")
            "$PSTBIN" grid collect "$out" >"$tmp/b/collect.out" 2>&1
            crc=$?
            for ((i = 0; i < npts; i++)); do
                grep -q "| $(printf %04d "$i") |" "$out/collect/results.md" 2>/dev/null || missing="$missing $i"
            done
            if [ "$ndone" = "$npts" ] && [ "$nok" = "$npts" ] && [ "$crc" = 0 ] && [ -z "$missing" ] \
                    && [ -s "$out/collect/results.csv" ]; then
                ok "(b) array $aid --array=$arr: $npts points done, $nok tasks COMPLETED 0:0; collect: results.md lists all $npts, results.csv"
            else
                bad "(b) array $aid: $ndone/$npts points done, $nok tasks COMPLETED 0:0, collect exit $crc, missing in results.md:${missing:- none}"
                show "$tmp/b/collect.out"
                for f in "$tmp"/b/grid-*.out; do echo "  --- $f"; show "$f"; done
            fi

            # break point 1, re-submit what is pending; submit done point 0 again
            bp=$out/points/0001
            for ((i = 0; i < npts; i++)); do
                p=$(printf %04d "$i")
                md5sum "$out/points/$p/train.log" 2>/dev/null
            done >"$tmp/b/logs.before"
            sed -i '/^\[data\]/,/^\[/ s|^train *=.*|train = '"$tmp"'/b/missing-train.tsv|' "$bp/config.ini"
            rm -rf "$bp/status.json" "$bp/checkpoints"
            pend=$("$PSTBIN" grid status "$out" --pending 2>&1)
            if [ "$pend" != 1 ]; then
                bad "(b) pst grid status --pending after breaking point 1 printed '$pend', not '1'"
            else
                aid2=$(cd "$src" && sbatch --parsable --array="$pend" -N 1 -n 1 -c 1 -O -t 10 -J pst-grid-test \
                       -o "$tmp/b/regrid-%A_%a.out" jobs/grid.sbatch "$out" 2>"$tmp/b/sbatch2.err")
                aid3=$(cd "$src" && sbatch --parsable --array=0 -N 1 -n 1 -c 1 -O -t 10 -J pst-grid-test \
                       -o "$tmp/b/skip-%A_%a.out" jobs/grid.sbatch "$out" 2>>"$tmp/b/sbatch2.err")
                jobs_started="$jobs_started $aid2 $aid3"
                if [ -z "$aid2" ] || [ -z "$aid3" ]; then
                    bad "(b) re-submission refused: $(cat "$tmp/b/sbatch2.err")"
                elif ! wait_gone "$aid2" 120 || ! wait_gone "$aid3" 60; then
                    bad "(b) re-submitted arrays $aid2 / $aid3 not finished"
                else
                    "$PSTBIN" grid status "$out" >"$tmp/b/status.out" 2>&1
                    for ((i = 0; i < npts; i++)); do
                        p=$(printf %04d "$i")
                        md5sum "$out/points/$p/train.log" 2>/dev/null
                    done >"$tmp/b/logs.after"
                    changed=$(diff "$tmp/b/logs.before" "$tmp/b/logs.after" | sed -n 's|^> [0-9a-f]*  .*/points/\([0-9]*\)/train.log|\1|p' | tr '\n' ' ')
                    st2=$(job_field "${aid2}_1" JobState)
                    why=
                    [ "$changed" = "0001 " ] || why="$why; train.log changed in points: '${changed}' (want only 0001)"
                    [ "$(state_of "$bp")" = failed ] || why="$why; point 1 state '$(state_of "$bp")'"
                    [ "$st2" = FAILED ] || why="$why; array task ${aid2}_1 JobState=$st2"
                    grep -q "0001.*failed\|failed.*0001" "$tmp/b/status.out" \
                        || why="$why; pst grid status does not report 0001 failed"
                    grep -q "missing-train.tsv" "$tmp/b/status.out" \
                        || why="$why; pst grid status shows no log tail naming missing-train.tsv"
                    grep -q "is done already" "$tmp/b/skip-${aid3}_0.out" 2>/dev/null \
                        || why="$why; done point 0 was not skipped"
                    if [ -z "$why" ]; then
                        ok "(b) broken point 1 re-submitted with --array=\$(pst grid status --pending) = $pend: only it ran, FAILED, reported failed with its log tail; done point 0 skipped"
                    else
                        bad "(b) re-submission${why}"
                        echo "  --- pst grid status:"; show "$tmp/b/status.out"
                        echo "  --- task output:"; show "$tmp/b/regrid-${aid2}_1.out"
                        show "$tmp/b/skip-${aid3}_0.out"
                    fi
                fi
            fi
        fi
    fi
fi

echo "$pass passed, $fail failed ($(($(date +%s) - t_start)) s)"
[ "$fail" = 0 ]
