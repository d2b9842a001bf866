"""The table of figures: one row per figure, from which the workflow generates its rules.

Each row names the figure (its rule, its caption ``report/<name>.rst`` and its files
``results/<mode>/figures/<name>.{pdf,png}``), the report category it is filed under, and the
function that builds it: ``module:function`` inside this package, called as
``function(run_dir) -> Figure`` with the downloaded results folder.  The footer (the run's
provenance) and the saving are the same for all (:func:`draw`).  Importing this module imports
no plotting library (the workflow reads it on every invocation).
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
    Figure("sensitivity", "Evaluation", "comparison:sensitivity"),
    Figure("ablation", "Evaluation", "ablation:ablation"),
    Figure("spacetime_density", "Traffic dynamics", "spacetime:spacetime_density"),
    Figure("spacetime_speed", "Traffic dynamics", "spacetime:spacetime_speed"),
    Figure("queues", "Traffic dynamics", "queues:queues"),
    Figure("riemann", "Validation", "validation:riemann"),
)
BY_NAME = {f.name: f for f in FIGURES}


def build(name: str, run_dir: str | Path, footer: bool = True) -> Any:
    """The matplotlib figure ``name`` of the results in ``run_dir``, with the run's provenance as
    its footer (unless ``footer`` is False)."""
    from . import style
    from .results import provenance

    module, function = BY_NAME[name].draws.split(":")
    fig = getattr(importlib.import_module(f"{__package__}.{module}"), function)(Path(run_dir))
    if footer:
        style.add_footer(fig, provenance(run_dir))
    return fig


def draw(name: str, run_dir: str | Path, pdf: str | Path, png: str | Path, log: str | Path | None = None) -> None:
    """Draw figure ``name`` of the results in ``run_dir`` into ``pdf`` and ``png``; what it prints
    and any error go to ``log`` too."""
    from . import style
    from .logs import logged

    with logged(log, f"figure {name} from {run_dir}"):
        style.save(build(name, run_dir), pdf, png)
