#!/usr/bin/env bash
# A single-node SLURM cluster on 127.0.0.1 for the tests, without systemd, that touches nothing of
# the machine's own SLURM or munge: its configuration, munge daemon (own key and socket), state,
# logs and pid files all live under $SLURM_TEST_DIR (default /var/tmp/arz-slurm).
#
#   tests/slurm_cluster.sh install   # Debian's slurm-wlm + munge (SLURM 22.05), needs root
#   tests/slurm_cluster.sh start     # munged, slurmctld, slurmd; waits until the node is idle
#   tests/slurm_cluster.sh stop      # stops the daemons through their pid files, waits until gone
#   tests/slurm_cluster.sh status    # sinfo
#   tests/slurm_cluster.sh conf      # prints the SLURM_CONF clients must use
#
# Clients (sbatch, squeue, scontrol, sacct) find this cluster through SLURM_CONF=$(... conf).
# The cluster has no accounting database (like many small clusters): `sacct` fails with
# "accounting storage is disabled"; jobcomp/filetxt keeps a completion log (`sacct -c`).
set -euo pipefail

DIR=${SLURM_TEST_DIR:-/var/tmp/arz-slurm}
CONF=$DIR/slurm.conf
MUNGE=$DIR/munge
SOCKET=$MUNGE/munge.socket
HOST=$(hostname -s)
export SLURM_CONF=$CONF

die() { echo "slurm_cluster.sh: $*" >&2; exit 1; }

install() {
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
}

write_conf() {
  local cpus mem_mb
  cpus=$(nproc)
  # RealMemory above what slurmd finds drains the node: stay below the machine's memory
  mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF" <<EOF
# arz-slurm test cluster: written by tests/slurm_cluster.sh
ClusterName=arztest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# the tests run several small jobs at once on a 2-core machine
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
# finished jobs stay visible to squeue/scontrol for 5 min (the executor plugin's squeue polling relies on it)
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MpiDefault=none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$((cpus * 4)) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  # munged refuses a key others can read and a socket folder not everyone can enter: the socket,
  # pid and log in a folder owned by munge (755), the key and seed in one of their own (700)
  mkdir -p "$MUNGE/key"
  chown munge:munge "$MUNGE" "$MUNGE/key" && chmod 755 "$MUNGE" && chmod 700 "$MUNGE/key"
  if [ ! -f "$MUNGE/key/munge.key" ]; then
    (umask 077 && dd if=/dev/urandom of="$MUNGE/key/munge.key" bs=1 count=1024 2>/dev/null)
  fi
  chown munge:munge "$MUNGE/key/munge.key" && chmod 400 "$MUNGE/key/munge.key"
  runuser -u munge -- /usr/sbin/munged --socket="$SOCKET" --key-file="$MUNGE/key/munge.key" \
    --pid-file="$MUNGE/munged.pid" --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/key/munged.seed"
}

start() {
  command -v slurmctld >/dev/null || die "SLURM is not installed: run '$0 install' (as root) first"
  stop_daemons quiet
  write_conf
  start_munge
  # -c: a fresh cluster, no jobs recovered from an earlier start
  /usr/sbin/slurmctld -c
  /usr/sbin/slurmd
  for _ in $(seq 1 100); do
    if sinfo -h -N -o %t 2>/dev/null | grep -qx "idle"; then
      echo "slurm_cluster.sh: single-node cluster up ($HOST, 127.0.0.1); SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.2
  done
  sinfo -N -l >&2 || true
  tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
  die "the node did not become idle within 20 s (logs above)"
}

stop_pid() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop_daemons() {
  stop_pid "$DIR/slurmd.pid"
  stop_pid "$DIR/slurmctld.pid"
  stop_pid "$MUNGE/munged.pid"
  # slurmctld's script helper and job steps end with their parents; wait for any straggler
  for _ in $(seq 1 50); do
    pgrep -f "slurmctld: slurmscriptd|slurmstepd" >/dev/null 2>&1 || break
    sleep 0.1
  done
  [ "${1:-}" = quiet ] || echo "slurm_cluster.sh: stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_daemons ;;
  status) sinfo -N -l ;;
  conf) echo "$CONF" ;;
  *) die "usage: $0 install|start|stop|status|conf" ;;
esac
