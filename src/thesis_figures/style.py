"""One style for every figure and table, made for the printed page.

- Widths: :data:`FULL_WIDTH` (the text width of an A4 thesis with 2.5 cm margins) and
  :data:`HALF_WIDTH` (one of two columns); every figure is one of the two.
- Fonts: TrueType embedded in the PDFs (``pdf.fonttype`` 42; checked by a test), 8 pt text.
- Colour: the learned controllers in colour (Okabe & Ito 2008, colour-blind safe), the baselines in
  greys (tuned ones darker, reference rows lighter); a controller keeps its colour and its place in
  the order (:func:`order`) in every figure and table.
- Maps: perceptually uniform colormaps (viridis for density, cividis for speed).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

FULL_WIDTH = 6.1  #: in: 210 mm - 2 x 27.5 mm margins
HALF_WIDTH = 3.0  #: in: one column of two
FOOTER_PT = 7.0  #: the provenance line's size: at least 6 pt once the figure is scaled to the text width
SMOOTHING_WINDOW = 10  #: episodes in the centred moving average of learning curves
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
TUNED_GREYS = ["#222222", "#555555", "#808080"]
REFERENCE_GREY = "#B0B0B0"
#: known learned controllers (the agents, then the ablation's PPO variants), in their colour order
LEARNED = ("ppo", "dqn", "ppo_clone_only", "ppo_scratch", "ppo_clone_ppo", "ppo_clone_critic_penalty",
           "ppo_local_reward", "ppo_shared_reward", "ppo_interval5", "ppo_interval10")
#: how a controller is named on a figure and in a table
NAMES = {"ppo": "PPO", "dqn": "DQN", "fixed_time": "fixed-time (tuned)", "max_pressure": "max-pressure (tuned)",
         "actuated": "actuated (tuned)", "random": "random", "ppo_clone_only": "cloning only",
         "ppo_scratch": "PPO from scratch", "ppo_clone_ppo": "PPO after cloning",
         "ppo_clone_critic_penalty": "PPO after cloning, critic, fading penalty",
         "ppo_local_reward": "PPO, local reward", "ppo_shared_reward": "PPO, corridor reward",
         "ppo_interval5": "PPO, 5 s decisions", "ppo_interval10": "PPO, 10 s decisions"}
TUNED = ("fixed_time", "max_pressure", "actuated")  #: the tuned baselines, in their grey order
DENSITY_CMAP = "viridis"
SPEED_CMAP = "cividis"
#: the main street at a stop line: red while it has red, magenta during the lost time (yellow and
#: all-red), no mark while it flows; neither viridis nor cividis uses these colours
PHASE_COLORS = {1: "#E8001C", -1: "#FF33FF"}
PHASE_NAMES = {1: "main street red", -1: "lost time (yellow, all-red)"}


def apply() -> None:
    """The rcParams of every figure."""
    plt.rcdefaults()
    plt.rcParams.update({
        "figure.dpi": 150, "savefig.dpi": 200, "savefig.bbox": "tight", "savefig.pad_inches": 0.03,
        "pdf.fonttype": 42, "ps.fonttype": 42, "font.family": "DejaVu Sans", "font.size": 8,
        "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
        "legend.fontsize": 7, "legend.frameon": False, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.color": "0.9", "grid.linewidth": 0.5, "lines.linewidth": 1.2,
    })


def kind_of(name: str, kinds: dict[str, str] | None = None) -> str:
    """rl, tuned or reference: from the results' ``kind`` when given, else from the name."""
    if kinds and name in kinds:
        return kinds[name]
    return "rl" if name in LEARNED else "tuned" if name in TUNED else "reference"


def order(names: list[str], kinds: dict[str, str] | None = None) -> list[str]:
    """Learned controllers first, then tuned baselines, then the reference rows; a fixed order
    within each (known names first, the rest in natural order: fixed 60 before fixed 120)."""
    rank = {"rl": 0, "tuned": 1, "reference": 2}

    def key(n: str) -> tuple:
        k = kind_of(n, kinds)
        known = LEARNED if k == "rl" else TUNED if k == "tuned" else ()
        natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", n)]
        return rank.get(k, 3), known.index(n) if n in known else len(known), natural

    return sorted(names, key=key)


def color(name: str, kinds: dict[str, str] | None = None) -> str:
    """The controller's colour: colour for a learned one, grey for a baseline (stable everywhere)."""
    k = kind_of(name, kinds)
    if k == "rl":
        i = LEARNED.index(name) if name in LEARNED else len(LEARNED) + sum(map(ord, name))
        return OKABE_ITO[i % len(OKABE_ITO)]
    if k == "tuned":
        i = TUNED.index(name) if name in TUNED else sum(map(ord, name))
        return TUNED_GREYS[i % len(TUNED_GREYS)]
    return REFERENCE_GREY


def label(name: str, wrap: int | None = None) -> str:
    """How a controller is named on a figure; broken into lines of at most ``wrap`` characters."""
    text = NAMES.get(name, name.replace("_", " "))
    return "\n".join(textwrap.wrap(text, wrap, break_long_words=True)) if wrap else text


def log_axis(axis: Any, low: float, high: float, max_labels: int = 6) -> None:
    """A log scale on ``axis`` (``ax.yaxis``) labelled in plain numbers (20, 50, 100, ...), with
    the densest 1-2-5 ladder that puts at least two and at most ``max_labels`` labelled ticks
    inside [``low``, ``high``] (a 1-2-3-5-7 ladder where the data span less than a factor 5)."""
    import numpy as np
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.axes.set_yscale("log") if axis.axis_name == "y" else axis.axes.set_xscale("log")
    low, high = max(float(low), 1e-12), max(float(high), float(low) * 1.0001)
    decades = range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 1)
    for subs in ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
                 (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)):
        ticks = [m * 10.0**d for d in decades for m in subs]
        inside = [t for t in ticks if low <= t <= high]
        if len(inside) >= 2:
            break
    while len(inside) > max_labels:  # thin out from the dense end, keeping every other tick
        inside = inside[::2]
    axis.set_major_locator(FixedLocator(inside))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def legend_columns(labels: list[str], width: float = FULL_WIDTH, fontsize: float = 7.0) -> int:
    """How many columns a one-row-first legend of ``labels`` can have across ``width`` (in) at
    ``fontsize`` (pt): the widest label, its handle and padding decide."""
    widest = max((max(len(line) for line in lab.split("\n")) for lab in labels), default=1)
    per_column = (widest * 0.6 * fontsize + 3.5 * fontsize) / 72.0  # in: average glyph, handle and gap
    return max(1, min(len(labels), int(width * 0.95 / per_column)))


def save(fig: plt.Figure, pdf: str | Path, png: str | Path, footer: str | None = None) -> None:
    """Write the figure as PDF and PNG (``footer``: see :func:`add_footer`)."""
    if footer:
        add_footer(fig, footer)
    for path in (pdf, png):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)


def add_footer(fig: plt.Figure, footer: str) -> None:
    """The provenance line in small print under everything: the figure's ``supxlabel``, which the
    constrained layout every figure uses keeps clear of the axes and inside the figure."""
    fig.supxlabel(footer, x=0.0, ha="left", fontsize=FOOTER_PT, color="0.3")


def figure(nrows: int = 1, ncols: int = 1, width: float = FULL_WIDTH, height: float = 2.5, **kwargs: Any):
    """``plt.subplots`` with the house layout (constrained: no text overlaps an axes, nothing
    leaves the figure) at one of the two widths."""
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", squeeze=False, **kwargs)


def _drawn_tick_labels(axis: Any) -> list[Any]:
    """The tick labels matplotlib will draw: those of ticks inside the view (``get_ticklabels``
    also returns the ones it skips)."""
    return [label for tick in axis._update_ticks() for label in (tick.label1, tick.label2)
            if label.get_visible()]


def texts(fig: plt.Figure) -> list[tuple[str, Any]]:
    """Every visible, non-empty text artist of ``fig`` that is drawn: (what it is, the artist)."""
    found: list[tuple[str, Any]] = []
    for t in fig.texts:
        what = ("suptitle" if t is fig._suptitle else "supxlabel (footer)" if t is fig._supxlabel else
                "supylabel" if t is fig._supylabel else f"figure text {t.get_text()!r}")
        found.append((what, t))
    for i, ax in enumerate(fig.axes):
        where = f"axes {i}"
        found += [(f"{where} title", t) for t in (ax.title, ax._left_title, ax._right_title)]
        found += [(f"{where} x label", ax.xaxis.label), (f"{where} y label", ax.yaxis.label)]
        found += [(f"{where} x offset", ax.xaxis.get_offset_text()), (f"{where} y offset", ax.yaxis.get_offset_text())]
        if ax.axison:
            found += [(f"{where} x tick {t.get_text()!r}", t) for t in _drawn_tick_labels(ax.xaxis)]
            found += [(f"{where} y tick {t.get_text()!r}", t) for t in _drawn_tick_labels(ax.yaxis)]
        found += [(f"{where} text {t.get_text()!r}", t) for t in ax.texts]
        for legend in (a for a in ax.get_children() if isinstance(a, Legend) and a.get_visible()):
            found += [(f"{where} legend {t.get_text()!r}", t) for t in legend.get_texts()]
            found.append((f"{where} legend title", legend.get_title()))
    for legend in fig.legends:
        found += [(f"figure legend {t.get_text()!r}", t) for t in legend.get_texts()]
        found.append(("figure legend title", legend.get_title()))
    return [(what, t) for what, t in found if t.get_visible() and t.get_text().strip()]


def text_problems(fig: plt.Figure, tolerance: float = 1.0) -> list[str]:
    """Where two text artists of ``fig`` overlap, or one leaves the figure (matplotlib's own
    bounding boxes, in display pixels, with ``tolerance`` px of slack); empty when the layout is clean."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    boxes = [(what, t.get_window_extent(renderer)) for what, t in texts(fig)]
    problems = []
    for what, b in boxes:
        if b.x0 < -tolerance or b.y0 < -tolerance or b.x1 > width + tolerance or b.y1 > height + tolerance:
            problems.append(f"{what} leaves the figure: {b.bounds} outside (0, 0, {width:.0f}, {height:.0f})")
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (wa, a), (wb, b) = boxes[i], boxes[j]
            if (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance):
                problems.append(f"{wa} overlaps {wb}")
    return problems


def figure_problems(fig: plt.Figure, printed_width_in: float | None = None) -> list[str]:
    """What a reader would circle on ``fig``, beyond text overlaps (:func:`text_problems`):

    - a log axis with fewer than two labelled ticks inside its data's range;
    - a marker (a scatter point or a line's marker) touching a visible axis line;
    - a kind of mark without a key: a line collection (stop-line marks) whose colour no legend
      entry shows;
    - the provenance line smaller than 6 pt once the figure is scaled to the text width
      (``printed_width_in``: the width of the saved figure, in; default its own width).
    """
    import numpy as np
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.colors import to_hex

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    legend_colours = set()
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]:
        for handle in legend.legend_handles:
            for getter in ("get_color", "get_facecolor", "get_edgecolor"):
                try:
                    colours = np.atleast_2d(getattr(handle, getter)()) if getter != "get_color" else \
                        [getattr(handle, getter)()]
                    legend_colours |= {to_hex(c) for c in colours if len(np.atleast_1d(c))}
                except (AttributeError, ValueError, TypeError):
                    pass
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.has_data():
            continue
        for name, scale, axis, (lo, hi) in (("x", ax.get_xscale(), ax.xaxis, ax.dataLim.intervalx),
                                            ("y", ax.get_yscale(), ax.yaxis, ax.dataLim.intervaly)):
            if scale != "log" or not np.isfinite([lo, hi]).all():
                continue
            labelled = [t for t in axis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()
                        and lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9)]
            if len(labelled) < 2:
                problems.append(f"axes {k}: log {name} axis has {len(labelled)} labelled tick(s) inside its data "
                                f"[{lo:g}, {hi:g}]")
        box = ax.get_window_extent(renderer)
        edges = {side: spine.get_visible() for side, spine in ax.spines.items()}
        # error bars draw line collections too: an interval, keyed by its mark, not a kind of mark
        in_containers = {id(a) for c in ax.containers for part in c for a in np.atleast_1d(part)
                         if part is not None}
        for artist in ax.collections:
            if isinstance(artist, PathCollection) and len(artist.get_offsets()):
                sizes = np.broadcast_to(np.atleast_1d(artist.get_sizes()), (len(artist.get_offsets()),))
                points = artist.get_offset_transform().transform(artist.get_offsets())
                radius = np.sqrt(sizes) / 2 * fig.dpi / 72.0
                problems += _touching(k, points, radius, box, edges)
            if isinstance(artist, LineCollection) and len(artist.get_segments()) and id(artist) not in in_containers:
                colours = {to_hex(c) for c in artist.get_colors()}
                if not colours & legend_colours and colours - {"#000000"}:
                    problems.append(f"axes {k}: marks coloured {sorted(colours)} have no key in any legend")
        for line in ax.lines:
            if line.get_marker() not in (None, "", "None", " ") and len(line.get_xydata()):
                points = line.get_transform().transform(line.get_xydata())
                radius = np.full(len(points), line.get_markersize() / 2 * fig.dpi / 72.0)
                problems += _touching(k, points, radius, box, edges)
    footer = fig._supxlabel  # the provenance line (add_footer)
    if footer is not None and footer.get_text():
        scale = FULL_WIDTH / (printed_width_in or fig.get_figwidth())
        printed = footer.get_fontsize() * min(1.0, scale)
        if printed < 6.0:
            problems.append(f"the provenance line prints at {printed:.1f} pt (< 6 pt)")
    return sorted(set(problems))


def _touching(k: int, points: Any, radius: Any, box: Any, edges: dict[str, bool]) -> list[str]:
    """The markers at ``points`` (display px) of radius ``radius`` that reach a visible axis line of ``box``."""
    import numpy as np

    out = []
    finite = np.isfinite(points).all(axis=1)
    x, y, r = points[finite, 0], points[finite, 1], radius[finite]
    inside_y = (y >= box.y0 - r) & (y <= box.y1 + r)
    inside_x = (x >= box.x0 - r) & (x <= box.x1 + r)
    for side, hit in (("left", inside_y & (np.abs(x - box.x0) < r)), ("right", inside_y & (np.abs(x - box.x1) < r)),
                      ("bottom", inside_x & (np.abs(y - box.y0) < r)), ("top", inside_x & (np.abs(y - box.y1) < r))):
        if edges.get(side) and hit.any():
            out.append(f"axes {k}: a marker touches the {side} axis line")
    return out
