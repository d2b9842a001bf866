"""The threads of a run, planned together: numba's (the simulator), torch's (the learner) and the
worker processes', sized to the cores this process may use.

Two facts decide it (``bench/bench_sim.py`` measures both):

- numba's OpenMP threads spin while they wait for work (libgomp's default).  Alone on the machine
  that costs nothing; beside another busy process (a second kernel, a test suite, the desktop) the
  spinning threads take turns with the busy one and a batch of corridors steps many times slower.
  :func:`thread_environment` makes waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``), which
  libgomp reads when it starts: :func:`configure_process` puts it in the environment before numba
  or torch load it, and the worker processes inherit it.
- numba's and torch's OpenMP pools are one library: starting numba's pool sets the thread count
  torch then uses.  :func:`set_threads` starts numba's pool first, then sets torch's.

The cores a process may use are its CPU affinity, capped by a cgroup CPU quota (a container's or
a SLURM job's), not the machine's count.
"""

from __future__ import annotations

import os
from pathlib import Path

#: what every experiment process starts with (the kernel's workers inherit it)
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def available_cores() -> int:
    """Cores this process may use: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = Path("/sys/fs/cgroup/cpu.max")
    try:
        limit, period = quota.read_text().split()
        if limit != "max":
            cores = max(1, min(cores, int(int(limit) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def thread_environment(threads: int) -> dict[str, str]:
    """The environment of a process that runs ``threads`` OpenMP threads and lets them sleep."""
    return {**PASSIVE, "NUMBA_NUM_THREADS": str(max(1, threads))}


def configure_process() -> None:
    """Before numba or torch start: waiting threads sleep (unless the environment says otherwise)."""
    for key, value in PASSIVE.items():
        os.environ.setdefault(key, value)


def set_threads(simulator: int, learner: int) -> dict[str, int]:
    """``simulator`` numba threads and ``learner`` torch threads in this process (numba's pool is
    started first: it would reset torch's count otherwise); returns what is in effect."""
    import numba
    import torch

    numba.set_num_threads(max(1, min(simulator, numba.config.NUMBA_NUM_THREADS)))
    _start_numba_pool()
    torch.set_num_threads(max(1, learner))
    return {"numba": numba.get_num_threads(), "torch": torch.get_num_threads(), "cores": available_cores()}


def _start_numba_pool() -> None:
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=False)
    def touch(a):
        for i in numba.prange(a.shape[0]):
            a[i] += 1.0

    touch(np.zeros(2))
