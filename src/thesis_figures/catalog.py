"""The table of figures: one row per figure, from which the workflow generates its rules.

Each row names the figure (its rule, its script ``scripts/figures/<name>.py``, its caption
``report/<name>.rst`` and its files ``results/<mode>/figures/<name>.{pdf,png}``), the report
category it is filed under, and the function that draws it: ``module:function`` inside this
package, called as ``function(run_dir, pdf, png, footer)`` with the downloaded results folder.
Importing this module imports no plotting library (the workflow reads it on every invocation).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    category: str  #: report category
    draws: str  #: "module:function" in thesis_figures


FIGURES: tuple[Figure, ...] = (
    Figure("learning_curves", "Training", "learning_curves:learning_curves"),
    Figure("controller_comparison", "Evaluation", "comparison:controller_comparison"),
    Figure("spacetime_density", "Traffic dynamics", "spacetime:spacetime_density"),
    Figure("spacetime_speed", "Traffic dynamics", "spacetime:spacetime_speed"),
    Figure("queues", "Traffic dynamics", "queues:queues"),
    Figure("riemann", "Validation", "validation:riemann"),
)
BY_NAME = {f.name: f for f in FIGURES}


def draw(name: str, run_dir: str | Path, pdf: str | Path, png: str | Path, log: str | Path | None = None) -> Any:
    """Draw figure ``name`` of the results in ``run_dir`` into ``pdf`` and ``png``, with the run's
    provenance as footer; what it prints and any error go to ``log`` too."""
    from .logs import logged
    from .results import provenance

    figure = BY_NAME[name]
    module, function = figure.draws.split(":")
    with logged(log, f"figure {name} from {run_dir}"):
        fn = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return fn(Path(run_dir), pdf, png, provenance(run_dir))
