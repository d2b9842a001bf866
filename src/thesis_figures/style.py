"""One style for every figure: colour-blind-safe palette (Okabe & Ito 2008), sizes for a
LaTeX text width, PDF for the thesis and PNG for the web."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
TEXT_WIDTH_IN = 6.3  #: a4 thesis text width, inches
SMOOTHING_WINDOW = 10  #: episodes in the centred moving average of learning curves


def apply() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette=OKABE_ITO, font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 150, "savefig.bbox": "tight", "pdf.fonttype": 42, "axes.titlesize": 10})


def controller_colors(names: list[str]) -> dict[str, str]:
    """A fixed colour per controller name, stable across figures."""
    order = sorted(names, key=lambda n: (not n in ("ppo", "dqn"), n))  # noqa: E713
    return {n: OKABE_ITO[i % len(OKABE_ITO)] for i, n in enumerate(order)}


def save(fig: plt.Figure, pdf: str | Path, png: str | Path, footer: str | None = None) -> None:
    """Write the figure as PDF and PNG; ``footer`` (the producing run) goes in small print at the bottom."""
    if footer:
        fig.text(0.005, 0.002, footer, fontsize=4.5, color="0.4", ha="left", va="bottom")
    for path in (pdf, png):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)
