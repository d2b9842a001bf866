"""The results contract: what an experiment run writes, under which names, in which schema.

:mod:`arz_rl.run` writes it, and every reader (the figures and tables of :mod:`thesis_figures`,
the merge of fanned-out kernels in :mod:`arz_rl.merge`) reads it through the names here.  The
module needs the standard library only, so that a reader importing it loads nothing of the
experiment's machinery (no numba, torch or SB3).

Every results JSON carries ``schema_version``; a reader refuses another version with a message
that says which code wrote it and what to do.  The version changes whenever a key a reader uses
changes meaning or place.

Layout of a run's output folder (``OUT``):

- :data:`TRAINING` (``training_metrics.json``): ``schema_version``, ``parameters`` (the run's
  :class:`~arz_rl.config.RunConfig`), ``device``, ``runs.<level>.<algorithm>.<seed>`` (each agent's
  training record: learning and validation curves, the chosen checkpoint, its environment).
- :data:`EVALUATION` (``evaluation_results.json``): ``schema_version``, ``protocol`` (seed sets,
  the statistics' families and the primary comparison), ``levels.<level>`` (``demand_scale``,
  ``controllers.<name>`` with ``kind`` rl | tuned | reference, per-seed or per-draw episodes and a
  ``summary`` per metric, ``comparisons``, ``tuned``), ``headline_level``, ``parameters``, ``device``.
- :func:`spacetime_name` (``spacetime_<level>_<controller>.npz``): the first test draw's
  space-time trace of each controller.
- :data:`VALIDATION_DIR` (``validation/``): the solver's check (:data:`RIEMANN_TABLE`, the
  ``riemann_<case>.csv`` profiles, :data:`MASS_BALANCE`).
- :data:`TUNING` (``tuning.json``): a study's record (mode tune).
- :data:`RESULTS_DIRS` hold what a reader reads; :data:`STATE_DIR` (``state/``: checkpoints,
  replay buffers, the finished units of a run cut into parts, :mod:`arz_rl.resume`) only what a
  continued run needs.  A kernel may put the state elsewhere
  (``python -m arz_rl.run --state DIR``); the workflow downloads it only when asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3
TRAINING = "training_metrics.json"
EVALUATION = "evaluation_results.json"
TUNING = "tuning.json"
VALIDATION_DIR = "validation"
RIEMANN_TABLE = "riemann_table.csv"
MASS_BALANCE = "mass_balance.csv"
#: a merge of fanned-out kernels (:mod:`arz_rl.merge`): its sha256 record of what it wrote, and
#: the session summaries of the kernels it merged
MERGE_MANIFEST = "manifest.json"
PROVENANCE = "provenance.json"
#: the learners' monitors and the chosen models: results (small); a merge keeps them
RESULTS_DIRS = ("monitor", "models")
#: what a continued run needs and no reader reads: model checkpoints, replay buffers (the default
#: folder inside a run's output; ``--state`` chooses another)
STATE_DIR = "state"


def spacetime_name(level: str, controller: str) -> str:
    """The file of a controller's space-time trace at ``level``."""
    return f"spacetime_{level}_{controller}.npz"


def riemann_profile_name(case: str) -> str:
    """The file of one Riemann case's finest profiles (in :data:`VALIDATION_DIR`)."""
    return f"riemann_{case}.csv"


class SchemaError(ValueError):
    """Results written under another schema than this code reads."""


def stamp(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with this code's ``schema_version`` first."""
    return {"schema_version": SCHEMA_VERSION, **{k: v for k, v in data.items() if k != "schema_version"}}


def check_version(data: dict[str, Any], source: str | Path) -> dict[str, Any]:
    """``data`` if it was written under :data:`SCHEMA_VERSION`; else a SchemaError naming the file."""
    found = data.get("schema_version") if isinstance(data, dict) else None
    if found != SCHEMA_VERSION:
        what = "no schema_version (written by an older experiment)" if found is None else f"schema {found}"
        raise SchemaError(f"{source}: results of {what}; this code reads schema {SCHEMA_VERSION}: run the experiment "
                          "again with this code, or read these results with the commit that wrote them "
                          "(session_summary.json names it)")
    return data
