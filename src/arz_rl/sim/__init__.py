"""Two-class ARZ traffic simulator: constants, numerics, networks and the batched solver."""

import hashlib
import os
from pathlib import Path


def _numba_cache_dir() -> str:
    """A numba cache folder keyed by the content of this package's sources.

    Numba invalidates a cached kernel only when its own file changes, not when a
    function it inlines from another file does; keying the folder by the hash of
    every source here makes a stale kernel impossible.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    root = os.environ.get("ARZ_RL_CACHE", str(Path.home() / ".cache" / "arz_rl"))
    return str(Path(root) / "numba" / digest.hexdigest()[:16])


if "NUMBA_CACHE_DIR" not in os.environ:
    import numba

    numba.config.CACHE_DIR = _numba_cache_dir()

from .network import Network, Scenario, build_network, corridor, make_scenario, single_junction  # noqa: E402
from .params import CLASS_NAMES, KMH, PER_HOUR, PER_KM, ModelParams, VehicleClass  # noqa: E402
from .simulator import Simulator  # noqa: E402

__all__ = [
    "CLASS_NAMES", "KMH", "PER_HOUR", "PER_KM", "ModelParams", "Network", "Scenario", "Simulator",
    "VehicleClass", "build_network", "corridor", "make_scenario", "single_junction",
]
