"""The threads of a run, planned together: numba's (the simulator), torch's (the learner) and the
worker processes', sized to the cores this process may use.

Three facts decide it (``bench/bench_sim.py`` and ``bench/bench_training.py`` measure them):

- numba's OpenMP threads spin while they wait for work (libgomp's default: 300,000 spins).  Alone
  on the machine that is fastest; beside another busy process (a second kernel, a test suite)
  the spinning threads take turns with the busy one and a batch of corridors steps several times
  slower than on one thread.  Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) avoids that but
  pays a wake-up at every parallel region, more than half the rate when alone.  A short spin
  (:data:`SHORT_SPIN`, ``GOMP_SPINCOUNT=1000``) keeps ~85 % of the rate alone and, beside a busy
  process, the rate of one thread: no cliff.  :func:`configure_process` puts it in the
  environment before numba or torch start libgomp; the worker processes inherit it.
- numba's and torch's OpenMP pools are one library: starting numba's pool sets the thread count
  torch then uses.  :func:`set_threads` starts numba's pool first, then sets torch's.
- The learner's minibatches are small (64 samples): a second torch thread makes each ~3x slower
  (thread hand-offs cost more than the arithmetic), so the learner runs on one thread and the
  simulator gets every core; the two take turns, never run at once.

The cores a process may use are its CPU affinity, capped by a cgroup CPU quota (a container's or
a SLURM job's), not the machine's count.
"""

from __future__ import annotations

import os
from pathlib import Path

#: what every experiment process starts with (the kernel's workers inherit it): waiting OpenMP
#: threads spin briefly, then sleep (libgomp, the OpenMP runtime numba and torch share here)
SHORT_SPIN = {"GOMP_SPINCOUNT": "1000"}


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
    """The environment of a process that runs ``threads`` OpenMP threads that spin only briefly."""
    return {**SHORT_SPIN, "NUMBA_NUM_THREADS": str(max(1, threads))}


def configure_process() -> None:
    """Before numba or torch start: waiting threads spin only briefly (unless the environment says
    otherwise)."""
    for key, value in SHORT_SPIN.items():
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
