#!/bin/bash
# cluster.sh — a real one-node Slurm cluster on localhost, for tests.
#
#   tests/slurm/cluster.sh start DIR   # DIR: an empty (e.g. mktemp -d) directory
#   eval "$(tests/slurm/cluster.sh env DIR)"   # or copy the printed export line
#   srun -n 2 --mpi=pmix -O ./pst ...
#   tests/slurm/cluster.sh stop DIR
#
# `start` writes into DIR a munge key and slurm.conf (no cgroup.conf: no cgroup plugin is
# used, proctrack/linuxproc + task/none work without systemd or cgroups), then starts munged,
# slurmctld and slurmd (as root, in the foreground of background shells: no systemd, no
# init scripts, nothing under /etc, /run or /var is touched), records their PIDs in
# DIR/*.pid, and waits until `sinfo` shows the node idle (60 s, then prints the logs and
# fails). Its last line on stdout is `export SLURM_CONF=DIR/slurm.conf`; every progress
# message goes to stderr, so `eval "$(cluster.sh start DIR)"` works too.
# `stop` sends SIGTERM to the recorded PIDs (slurmd, slurmctld, munged), waits up to 30 s,
# then SIGKILLs what is left.
#
# It never installs anything: when slurmctld, slurmd, munged, srun or sinfo is missing it
# exits 77 (automake's SKIP). Debian 12 packages: slurmctld slurmd slurm-client munge
# libpmix-dev (the pmix MPI plugin of slurm-wlm-basic-plugins dlopens the unversioned
# libpmix.so, which only libpmix-dev ships; libopenmpi-dev depends on it anyway).
#
# Settings (environment):
#   SLURM_TEST_CTLD_PORT, SLURM_TEST_SLURMD_PORT  fixed ports instead of free random ones
#   SLURM_TEST_TIMEOUT                            seconds to wait for the idle node (60)
#   SLURM_TEST_CRED_EXPIRE                        AuthInfo cred_expire (30; Slurm's default is
#                                                 120): a requeued job is held that long + 1 s
set -u

me=${0##*/}
say() { echo "$me: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
    echo "usage: $me start DIR | stop DIR | env DIR | status DIR" >&2
    exit 2
}

need_tools() {
    local t missing=
    for t in slurmctld slurmd munged mungekey srun sbatch sinfo squeue scontrol; do
        command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null 2>&1 \
            || missing="$missing $t"
    done
    if [ -n "$missing" ]; then
        say "SKIP: missing$missing (Debian: apt-get install slurmctld slurmd slurm-client munge libpmix-dev)"
        exit 77
    fi
}

# Is TCP port $1 in use (listening or bound) on this machine? Reads /proc/net/tcp{,6}.
port_busy() {
    local hex f
    hex=$(printf ':%04X ' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] && grep -q "$hex" "$f" && return 0
    done
    return 1
}

pick_port() {  # a free port in 20000-59999 that is not $1
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [ "$p" = "${1:-}" ] && continue
        port_busy "$p" || { echo "$p"; return 0; }
    done
    die "no free TCP port found"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Wait until $1 (a PID) has exited, at most $2 seconds; 0 when it did.
wait_gone() {
    local pid=$1 n=$(($2 * 10))
    while alive "$pid" && [ "$n" -gt 0 ]; do
        # a zombie child of ours would never go away by itself
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
        sleep 0.1; n=$((n - 1))
    done
    ! alive "$pid" || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]
}

dump_logs() {
    local d=$1 f
    for f in "$d"/log/munged.log "$d"/log/slurmctld.log "$d"/log/slurmd.log \
             "$d"/log/munged.out "$d"/log/slurmctld.out "$d"/log/slurmd.out; do
        [ -s "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
}

do_stop() {
    local d=$1 name pid rc=0
    [ -d "$d" ] || die "no such directory: $d"
    for name in slurmd slurmctld munged; do
        [ -f "$d/$name.pid" ] || continue
        pid=$(cat "$d/$name.pid" 2>/dev/null)
        if alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            if ! wait_gone "$pid" 30; then
                say "$name ($pid) still running after 30 s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null
                wait_gone "$pid" 5 || { say "$name ($pid) would not die"; rc=1; }
            fi
        fi
        rm -f "$d/$name.pid"
    done
    # Job steps started by slurmd (slurmstepd) are children of nobody we know; they end
    # with slurmd's SIGTERM in practice. Report any left behind that still use this DIR.
    for pid in $(pgrep -f "slurmstepd" 2>/dev/null); do
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/environ" | grep -q "SLURM_CONF=$d/slurm.conf"; then
            say "leftover slurmstepd $pid of this cluster: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    [ "$rc" = 0 ] && say "stopped cluster in $d"
    return $rc
}

do_start() {
    local d=$1 host ncpu cred_expire ctld_port slurmd_port sbin t0 timeout state i name
    need_tools
    [ "$(id -u)" = 0 ] || { say "SKIP: must run as root (slurmd launches jobs as any user)"; exit 77; }
    mkdir -p "$d" || die "cannot create $d"
    d=$(cd "$d" && pwd -P)
    for name in munged slurmctld slurmd; do
        if [ -f "$d/$name.pid" ] && alive "$(cat "$d/$name.pid")"; then
            die "$name already running from $d (pid $(cat "$d/$name.pid")); stop it first"
        fi
    done
    t0=$(date +%s.%N)
    timeout=${SLURM_TEST_TIMEOUT:-60}
    cred_expire=${SLURM_TEST_CRED_EXPIRE:-30}
    host=$(hostname -s)
    ncpu=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
    ctld_port=${SLURM_TEST_CTLD_PORT:-$(pick_port)}
    slurmd_port=${SLURM_TEST_SLURMD_PORT:-$(pick_port "$ctld_port")}
    sbin=$(dirname "$(PATH=$PATH:/usr/sbin:/sbin command -v slurmctld)")

    # munged refuses a key in a directory that others can write, and warns about a socket
    # that others cannot reach: 755 on DIR and DIR/munge (mktemp -d makes 700).
    chmod 755 "$d"
    mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log" "$d/tmp" || die "mkdir in $d failed"
    chmod 755 "$d/munge"
    chmod 1777 "$d/tmp"
    rm -f "$d/munge/munge.key"
    mungekey --create --keyfile="$d/munge/munge.key" --bits=1024 2>"$d/log/mungekey.out" \
        || { cat "$d/log/mungekey.out" >&2; die "mungekey failed"; }
    chmod 400 "$d/munge/munge.key"

    cat >"$d/slurm.conf" <<EOF
# generated by tests/slurm/cluster.sh — a one-node test cluster, everything under $d
ClusterName=pstci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120)
AuthInfo=socket=$d/munge/munge.socket,cred_expire=$cred_expire
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/state/slurmctld.pidfile
SlurmdPidFile=$d/spool/slurmd.pidfile
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$d/tmp
# no systemd, no delegated cgroups: track processes through /proc, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# no slurmdbd, so no sacct: finished jobs stay in scontrol show job for MinJobAge
# seconds, and each one gets a line in DIR/log/jobcomp.log
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.log
MailProg=/bin/true
SwitchType=switch/none
MpiDefault=pmix
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# look at pending jobs (requeued ones, BeginTime) every few seconds instead of 30-60 s
SchedulerParameters=bf_interval=5,sched_interval=5
ReturnToService=2
# requeue on node failure / scontrol requeue / sbatch --requeue; signals before the limit
JobRequeue=1
MaxArraySize=1001
KillWait=10
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=300
SlurmctldTimeout=120
MessageTimeout=30
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$ncpu State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF

    export SLURM_CONF=$d/slurm.conf
    # munged: as root it wants --force; socket, key, pid, seed and log all in DIR.
    (exec munged --foreground --force \
        --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
        --pid-file="$d/munge/munged.pid" --seed-file="$d/munge/munged.seed" \
        --log-file="$d/log/munged.log" >"$d/log/munged.out" 2>&1 </dev/null) &
    echo $! >"$d/munged.pid"
    for i in $(seq 1 50); do
        [ -S "$d/munge/munge.socket" ] && break
        alive "$(cat "$d/munged.pid")" || break
        sleep 0.1
    done
    if ! munge -n --socket="$d/munge/munge.socket" 2>/dev/null | unmunge --socket="$d/munge/munge.socket" >/dev/null 2>&1; then
        dump_logs "$d"; do_stop "$d" >/dev/null 2>&1; die "munged did not come up"
    fi

    (exec "$sbin/slurmctld" -D -i -f "$d/slurm.conf" >"$d/log/slurmctld.out" 2>&1 </dev/null) &
    echo $! >"$d/slurmctld.pid"
    (exec "$sbin/slurmd" -D -f "$d/slurm.conf" -N "$host" >"$d/log/slurmd.out" 2>&1 </dev/null) &
    echo $! >"$d/slurmd.pid"

    local deadline=$(($(date +%s) + timeout))
    state=
    while [ "$(date +%s)" -lt "$deadline" ]; do
        for name in munged slurmctld slurmd; do
            alive "$(cat "$d/$name.pid")" || {
                dump_logs "$d"; do_stop "$d" >/dev/null 2>&1; die "$name exited during start"; }
        done
        state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n 1)
        [ "$state" = idle ] && break
        sleep 0.5
    done
    if [ "$state" != idle ]; then
        say "node $host not idle after ${timeout}s (state: ${state:-none}); sinfo says:"
        sinfo -N -l >&2 2>&1
        dump_logs "$d"; do_stop "$d" >/dev/null 2>&1
        exit 1
    fi
    say "cluster up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s:" \
        "node $host ($ncpu CPUs), partition debug, slurmctld :$ctld_port, slurmd :$slurmd_port, dir $d"
    echo "export SLURM_CONF=$d/slurm.conf"
}

do_status() {
    local d=$1 name pid
    for name in munged slurmctld slurmd; do
        pid=$(cat "$d/$name.pid" 2>/dev/null)
        if alive "$pid"; then echo "$name: running ($pid)"; else echo "$name: not running"; fi
    done
    SLURM_CONF=$d/slurm.conf sinfo -N -l 2>&1
}

[ $# -eq 2 ] || usage
case $1 in
    start)  do_start "$2" ;;
    stop)   do_stop "$2" ;;
    env)    d=$(cd "$2" 2>/dev/null && pwd -P) || die "no such directory: $2"
            echo "export SLURM_CONF=$d/slurm.conf" ;;
    status) do_status "$2" ;;
    *)      usage ;;
esac
