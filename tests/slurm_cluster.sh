#!/usr/bin/env bash
# A single-node SLURM cluster on 127.0.0.1 for the tests, without systemd.
#
#   tests/slurm_cluster.sh install   # Debian's slurm-wlm + munge (SLURM 22.05), needs root
#   tests/slurm_cluster.sh start     # munged, slurmctld, slurmd; waits until the node is idle
#   tests/slurm_cluster.sh stop      # stops the daemons through their pid files
#   tests/slurm_cluster.sh status    # sinfo
#
# The cluster has no accounting database (like many small clusters): `sacct` fails with
# "accounting storage is disabled"; jobcomp/filetxt keeps a completion log (`sacct -c`).
# Writes /etc/slurm/slurm.conf (backed up once to slurm.conf.orig) and keeps its state,
# logs and pid files under $SLURM_TEST_DIR (default /var/tmp/arz-slurm).
set -euo pipefail

DIR=${SLURM_TEST_DIR:-/var/tmp/arz-slurm}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

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
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" /etc/slurm
  [ -f "$CONF" ] && [ ! -f "$CONF.orig" ] && ! grep -q "arz-slurm test cluster" "$CONF" && cp "$CONF" "$CONF.orig"
  cat >"$CONF" <<EOF
# arz-slurm test cluster: written by tests/slurm_cluster.sh
ClusterName=arztest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
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

start() {
  command -v slurmctld >/dev/null || die "SLURM is not installed: run '$0 install' (as root) first"
  stop_daemons quiet
  write_conf
  # munge: key owned by munge with mode 400, its run folder made by hand, the daemon as munge
  [ -f /etc/munge/munge.key ] || (umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null)
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  /usr/sbin/slurmctld -i
  /usr/sbin/slurmd
  for _ in $(seq 1 100); do
    if sinfo -h -N -o %t 2>/dev/null | grep -qx "idle"; then
      echo "slurm_cluster.sh: single-node cluster up ($HOST, 127.0.0.1); state in $DIR"
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
  stop_pid /run/munge/munged.pid
  [ "${1:-}" = quiet ] || echo "slurm_cluster.sh: stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_daemons ;;
  status) sinfo -N -l ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
