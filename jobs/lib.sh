# jobs/lib.sh — shared by train.sbatch, grid.sbatch and train-gpu.sbatch (sourced, not run).
# shellcheck shell=bash
#
# Slurm copies a batch script into its spool directory before running it, so a script cannot
# find this file next to "$0". Each script therefore looks for it (see pst_jobs_dir in the
# scripts) in: $PST_JOBS_DIR, the folder of the script as submitted (`scontrol show job`
# Command=), $SLURM_SUBMIT_DIR/jobs, $SLURM_SUBMIT_DIR, and the folder of $0.
#
# What it provides:
#   pst_log MSG...        a time-stamped line on stdout (the job's output file)
#   pst_setup             OMP_NUM_THREADS (and SRUN_CPUS_PER_TASK) from SLURM_CPUS_PER_TASK;
#                         PST = the pst binary ($PST, else `pst` on PATH, else pst next to
#                         the repository, i.e. $PST_JOBS_DIR/../pst)
#   pst_banner            prints the job, its restart count, nodes, tasks and pst
#   pst_run CMD...        runs CMD (the srun job step) in the background; SIGUSR1 / SIGTERM
#                         sent to the batch shell (#SBATCH --signal=B:USR1@300, preemption,
#                         `scancel --batch --signal=USR1`) is forwarded to srun, which passes
#                         it on to every pst rank: they finish the step, write a checkpoint
#                         and exit 75. Exit 75 → `scontrol requeue` of this job (or array
#                         task) and exit 0; the requeued job runs the same script again and
#                         `--resume auto` continues from that checkpoint. After SIGTERM (Slurm
#                         ending the job) only a time-limit end is requeued, never scancel or
#                         preemption. Any other exit status of CMD is returned.

pst_log() {
    printf '[%s] pst-job%s: %s\n' "$(date '+%F %T')" "${SLURM_JOB_ID:+ $SLURM_JOB_ID}" "$*"
}

pst_die() {
    pst_log "error: $*"
    exit 1
}

pst_setup() {
    # one OpenMP/BLAS thread per allocated CPU of the task
    if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
        export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
        # Slurm 22.05-23.02: srun no longer inherits the job's --cpus-per-task by itself
        export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
    fi
    export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
    if [ -n "${PST:-}" ]; then
        case $PST in
            */*) ;;
            *) PST=$(command -v "$PST") || pst_die "PST=$PST: not found on PATH" ;;
        esac
    elif command -v pst >/dev/null 2>&1; then
        PST=$(command -v pst)
    elif [ -n "${PST_JOBS_DIR:-}" ] && [ -x "$PST_JOBS_DIR/../pst" ]; then
        PST=$(cd "$PST_JOBS_DIR/.." && pwd)/pst
    else
        pst_die "no pst: set PST=/path/to/pst, put pst on PATH (module load ...), or build it next to jobs/"
    fi
    [ -x "$PST" ] || pst_die "PST=$PST is not an executable file"
    export PST
}

pst_banner() {
    local what=${SLURM_JOB_ID:-no Slurm job}
    [ -n "${SLURM_ARRAY_TASK_ID:-}" ] && what="$what (array task ${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID)"
    pst_log "job $what, restart ${SLURM_RESTART_COUNT:-0}, on ${SLURM_JOB_NODELIST:-$(hostname)}:" \
        "${SLURM_NTASKS:-?} tasks, ${SLURM_CPUS_PER_TASK:-?} CPUs per task, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
    pst_log "pst: $PST"
}

# The job id that `scontrol requeue` must be given: for an array task ARRAYID_TASK, because
# the plain SLURM_JOB_ID of the array's last task equals the array's id, and requeueing that
# would requeue every task of the array.
pst_requeue_id() {
    if [ -n "${SLURM_ARRAY_TASK_ID:-}" ] && [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
        echo "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    else
        echo "${SLURM_JOB_ID:-}"
    fi
}

_pst_child=
_pst_signal=
_pst_term=
_pst_state=

# "JobState/Reason" of this job, e.g. COMPLETING/TimeLimit (time limit), COMPLETING/None (scancel)
pst_job_state() {
    [ -n "${SLURM_JOB_ID:-}" ] || return 0
    scontrol -o show job "$(pst_requeue_id)" 2>/dev/null | head -n 1 | tr ' ' '\n' \
        | sed -n -e 's/^JobState=//p' -e 's/^Reason=//p' | paste -sd/ -
}

_pst_forward() {
    _pst_signal=$1
    if [ "$1" = TERM ]; then
        _pst_term=1
        # why Slurm ends the job: Reason=TimeLimit, or None for scancel, or preemption
        _pst_state=$(pst_job_state)
        pst_log "SIGTERM: Slurm is ending the job (state/reason ${_pst_state:-unknown})"
    fi
    if [ -n "$_pst_child" ]; then
        pst_log "SIG$1 received: forwarding it to the job step (srun pid $_pst_child); pst finishes the step, checkpoints and exits 75"
        kill -s "$1" "$_pst_child" 2>/dev/null
    else
        pst_log "SIG$1 received before the job step started"
    fi
}

pst_run() {
    local rc id
    _pst_signal=
    _pst_term=
    _pst_state=
    _pst_child=
    trap '_pst_forward USR1' USR1
    trap '_pst_forward TERM' TERM
    pst_log "running: $*"
    if [ -n "$_pst_signal" ]; then
        rc=75  # warned before anything ran: nothing to checkpoint, just requeue
    else
        "$@" &
        _pst_child=$!
        # A trapped signal interrupts `wait` (status > 128) while srun still runs: wait again.
        while :; do
            wait "$_pst_child"
            rc=$?
            kill -0 "$_pst_child" 2>/dev/null || break
        done
    fi
    trap - USR1 TERM
    _pst_child=
    if [ "$rc" = 75 ]; then
        id=$(pst_requeue_id)
        if [ -z "$id" ]; then
            pst_log "pst stopped at a checkpoint (exit 75); not a Slurm job, so run the same command again to resume"
            return 75
        fi
        if [ -n "$_pst_term" ]; then
            # SIGTERM: Slurm is ending the job itself. Requeue only when it ran out of time
            # (the USR1 warning came too late or not at all); never a job that was cancelled
            # (scancel) and never a preempted one (PreemptMode=REQUEUE requeues it itself).
            case $_pst_state in
                */TimeLimit|TIMEOUT*) pst_log "time limit reached before the warning was handled: requeueing anyway" ;;
                *) pst_log "pst stopped at a checkpoint (exit 75) after SIGTERM (state/reason ${_pst_state:-unknown}):" \
                       "not requeued; submit the same command again to resume from the checkpoint"
                   return 75 ;;
            esac
        fi
        pst_log "pst stopped at a checkpoint (exit 75${_pst_signal:+ after SIG$_pst_signal}): requeueing job $id; it resumes from the checkpoint"
        # scontrol requeue ends this batch shell too (Slurm kills the job to requeue it)
        if scontrol requeue "$id"; then
            exit 0
        fi
        pst_log "scontrol requeue $id failed (job cancelled, or requeue not allowed here): submit the same command again to resume"
        return 75
    fi
    pst_log "job step exited with status $rc"
    return "$rc"
}
