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


def _use_package_cache() -> None:
    """Cache the compiled kernels by the content of these sources, not by where they live.

    Every kernel run works on a fresh clone, so numba's default cache (a folder
    per source path) would recompile everything each time; this locator puts
    the kernels of this package in one folder keyed by the sources' hash
    (numba itself checks each file's content hash too).
    """
    import numba
    from numba.core import caching

    numba.config.CACHE_DIR = _numba_cache_dir()
    here = Path(__file__).resolve().parent

    class PackageCacheLocator(caching.UserProvidedCacheLocator):
        @classmethod
        def get_suitable_cache_subpath(cls, py_file: str) -> str:
            return "arz_rl_sim"

        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(py_file).resolve().parent != here:
                return None
            return super().from_function(py_func, py_file)

    if not any(c.__name__ == "PackageCacheLocator" for c in caching.CacheImpl._locator_classes):
        caching.CacheImpl._locator_classes.insert(0, PackageCacheLocator)


if "NUMBA_CACHE_DIR" not in os.environ:
    _use_package_cache()

from .network import Network, Scenario, build_network, corridor, make_scenario, single_junction  # noqa: E402
from .params import CLASS_NAMES, KMH, PER_HOUR, PER_KM, ModelParams, VehicleClass  # noqa: E402
from .simulator import Simulator  # noqa: E402

__all__ = [
    "CLASS_NAMES", "KMH", "PER_HOUR", "PER_KM", "ModelParams", "Network", "Scenario", "Simulator",
    "VehicleClass", "build_network", "corridor", "make_scenario", "single_junction",
]
