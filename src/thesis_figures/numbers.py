"""Every number the thesis chapter cites, as LaTeX macros written from the downloaded results.

``numbers.tex`` holds one ``\\newcommand`` per quantity and ``numbers.json`` the same quantities
(value and printed text) for tests and other tools.  The chapter (``thesis/chapter.tex``) types no
number itself: it uses these macros, so a new run changes every number at once, and a macro the
results do not define stops the LaTeX build (an undefined control sequence) instead of printing
"??".  TeX macro names hold letters only, so names are built from words (README: *The thesis
chapter*, the table of names):

===========================================  =====================================================
``\\RunId``, ``\\RunCommit``, ``\\RunDate``,   the run(s) behind the numbers (short commit; the
``\\RunDevice``                                date the results were produced, UTC)
``\\NSeeds``, ``\\NTestDraws``,                training seeds per agent, test and validation draws
``\\NValidationDraws``
``\\Timesteps<Algo>``                          training budget per agent (``\\TimestepsPPO``)
``\\HeadlineLevel``, ``\\Levels``,             the headline demand level, all levels, their scale
``\\DemandScale<Level>``
``\\<Metric><Level><Controller>`` and          mean and 95 % bootstrap interval; Metric one of
``…Low``, ``…High``                            ``Delay`` (s/veh), ``TravelTime`` (s), ``Throughput``
                                               (veh/h), ``Queue`` (veh)
``\\Diff<Level><Agent>Vs<Baseline>``,          delay difference agent - baseline (s/veh) and its
``…Low``, ``…High``                            95 % interval; improvement in % (positive: the agent
``\\Improvement<Level><Agent>Vs<Baseline>``    is better); Holm-adjusted p; "lower than" / "higher
``\\PHolm…``, ``\\Direction…``,                than"; "significant" / "not significant"
``\\Significance…``
``\\Tuned<Setting><Level><Baseline>``          what tuning chose (``\\TunedCycleOverFixedTime``)
``\\Primary…`` (``Agent``, ``Baseline``,      the one primary comparison: the agent against the
``Level``, ``Diff``, ``…Low``, ``…High``,    tuned baseline best on validation at the headline
``Improvement``, ``P``, ``NSeeds``,          level; difference (s/veh) with the interval and p of
``NDraws``, ``Significance``)                the pigeonhole bootstrap over seeds and draws
``\\ClearanceCap``,                           the clearance's cap (s); the settings each
``\\TuningSettings<Level><Baseline>``         baseline's tuning tried
``\\FigureProvenance``                         "run …, commit …, n = … seeds, … test draws"
===========================================  =====================================================

Every ``<Level>`` name also exists as ``Headline`` (``\\DelayHeadlinePPO``), so the chapter's prose
reads the headline level whichever level that is.  Controllers are named by their words:
``ppo`` → ``PPO``, ``max_pressure`` → ``MaxPressure``, ``fixed_60`` → ``FixedSixty``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from arz_rl import results as contract

from . import ResultsError, results

METRIC_MACROS = {"avg_delay_s": "Delay", "avg_travel_time_s": "TravelTime", "throughput_veh_h": "Throughput",
                 "avg_queue_veh": "Queue"}
ACRONYMS = {"ppo": "PPO", "dqn": "DQN"}
_ONES = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve",
         "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"]
_TENS = ["", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"]


def number_words(n: int) -> str:
    """``n`` (0-999) in words without spaces: 120 -> OneHundredTwenty."""
    if not 0 <= n < 1000:
        raise ValueError(f"{n}: only 0-999 have a macro name")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + (_ONES[n % 10] if n % 10 else "")
    return _ONES[n // 100] + "Hundred" + (number_words(n % 100) if n % 100 else "")


def macro_word(name: str) -> str:
    """A controller, level or setting name as letters only: ``fixed_60`` -> ``FixedSixty``."""
    parts = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        for piece in re.findall(r"[A-Za-z]+|[0-9]+", part):
            parts.append(number_words(int(piece)) if piece.isdigit() else ACRONYMS.get(piece, piece.capitalize()))
    return "".join(parts)


def _fixed(value: float | None, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text.replace("-", "\\textminus{}") if text.startswith("-") else text


def _p_text(p: float | None) -> str:
    return "n/a" if p is None else "\\ensuremath{<}0.001" if p < 0.001 else f"{p:.3f}"


def collect(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """{macro name: {"value": the number or text, "text": what the chapter prints}} of a results folder."""
    run_dir = Path(run_dir)
    ev = results.evaluation(run_dir / contract.EVALUATION)
    facts = results.caption_facts(run_dir)
    numbers: dict[str, dict[str, Any]] = {}

    def put(name: str, value: Any, text: str | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z]+", name):
            raise ResultsError(f"{name}: a macro name must be letters only")
        if name in numbers:
            raise ResultsError(f"{name}: two quantities map to the same macro name; rename a controller")
        numbers[name] = {"value": value, "text": str(value) if text is None else text}

    summaries = _summaries(run_dir)
    put("RunId", ", ".join(s.get("run_id", "?") for s in summaries).replace("_", "-"))
    put("RunCommit", ", ".join(str(s.get("commit", "?"))[:10] for s in summaries))
    ended = max(float(s.get("ended", 0)) for s in summaries)
    put("RunDate", dt.datetime.fromtimestamp(ended, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    put("RunDevice", ", ".join(_device(s) for s in summaries))
    sets = ev["protocol"]["seed_sets"]
    put("NSeeds", facts["seeds"])
    put("NTestDraws", len(sets["test"]))
    put("NValidationDraws", len(sets["validation"]))
    for algo, steps in sorted(ev["parameters"]["timesteps"].items()):
        if algo in ev["parameters"]["algorithms"]:
            put(f"Timesteps{macro_word(algo)}", int(steps), f"{int(steps):,}".replace(",", "\\,"))
    levels = sorted(ev["levels"], key=lambda lv: ev["levels"][lv]["demand_scale"])
    put("HeadlineLevel", ev["headline_level"])
    put("Levels", ", ".join(levels))
    for level in [*levels, "Headline"]:
        data = ev["levels"][ev["headline_level"] if level == "Headline" else level]
        lw = macro_word(level)
        if level != "Headline":
            put(f"DemandScale{lw}", data["demand_scale"], f"{data['demand_scale']:g}")
        for name, c in data["controllers"].items():
            for metric, word in METRIC_MACROS.items():
                s = c["summary"][metric]
                digits = 0 if metric == "throughput_veh_h" else 1
                for suffix, key in (("", "mean"), ("Low", "ci95_low"), ("High", "ci95_high")):
                    put(f"{word}{lw}{macro_word(name)}{suffix}", s[key], _fixed(s[key], digits))
        for agent, bases in data["comparisons"].items():
            for base, metrics in bases.items():
                r = metrics["avg_delay_s"]
                stem = f"{lw}{macro_word(agent)}Vs{macro_word(base)}"
                put(f"Diff{stem}", r["diff_mean"], _fixed(r["diff_mean"], 1, sign=True))
                put(f"Diff{stem}Low", r["diff_ci95_low"], _fixed(r["diff_ci95_low"], 1, sign=True))
                put(f"Diff{stem}High", r["diff_ci95_high"], _fixed(r["diff_ci95_high"], 1, sign=True))
                put(f"Improvement{stem}", r["improvement_pct"], _fixed(r["improvement_pct"], 1, sign=True))
                put(f"PHolm{stem}", r.get("p_holm"), _p_text(r.get("p_holm")))
                put(f"Direction{stem}", "lower than" if r["diff_mean"] < 0 else "higher than"
                    if r["diff_mean"] > 0 else "equal to")
                put(f"Significance{stem}", "significant" if r.get("significant") else "not significant")
        for base, tuned in data["tuned"].items():
            for setting, value in tuned["params"].items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                put(f"Tuned{macro_word(setting)}{lw}{macro_word(base)}", value, f"{value:g}")
    primary = ev.get("primary")
    if primary:  # the one primary comparison, declared before the numbers (arz_rl.stats.primary_comparison)
        put("PrimaryAgent", primary["agent"].upper() if primary["agent"] in ACRONYMS else primary["agent"])
        put("PrimaryBaseline", primary["baseline"].replace("_", " "))
        put("PrimaryLevel", primary["level"])
        put("PrimaryAgentDelay", primary["agent_mean"], _fixed(primary["agent_mean"]))
        put("PrimaryBaselineDelay", primary["baseline_mean"], _fixed(primary["baseline_mean"]))
        for suffix, key in (("", "diff_mean"), ("Low", "diff_ci95_low"), ("High", "diff_ci95_high")):
            put(f"PrimaryDiff{suffix}", primary[key], _fixed(primary[key], 1, sign=True))
        put("PrimaryImprovement", primary["improvement_pct"], _fixed(primary["improvement_pct"], 1, sign=True))
        put("PrimaryP", primary["p"], _p_text(primary["p"]))
        put("PrimaryNSeeds", primary["n_seeds"])
        put("PrimaryNDraws", primary["n_draws"])
        put("PrimaryResamples", primary["reps"], f"{primary['reps']:,}".replace(",", "\\,"))
        put("PrimarySignificance", "significant" if primary["significant"] else "not significant")
        put("PrimaryDirection", "lower than" if primary["diff_mean"] < 0 else "higher than"
            if primary["diff_mean"] > 0 else "equal to")
    cap = ev["parameters"].get("clearance_cap_s", 0.0)
    put("ClearanceCap", cap, f"{cap:g}")
    # an agent's setting in s, and the sentence saying it: ``when_set`` with {s} the seconds, or ``unset`` (0)
    for name, key, when_set, unset in (
        ("TrainClearance", "train_clearance_s",
         "The agents train on episodes that end with {s}\\,s of the same clearance, so that they learn to "
         "empty the corridor the metric counts.",
         "The agents train on episodes that end with the demand period: they never see the clearance."),
        ("AgentMaxGreen", "agent_max_green_s",
         "The green of an agent ends after at most {s}\\,s, whatever it asks, as the maximum green of an "
         "actuated controller does.",
         "An agent may hold a green for as long as it asks."),
    ):
        seconds = ev["parameters"].get(key, 0.0)
        put(name, seconds, f"{seconds:g}")
        put(f"{name}Sentence", None, when_set.format(s=f"{seconds:g}") if seconds else unset)
    for level in [*levels, "Headline"]:
        data = ev["levels"][ev["headline_level"] if level == "Headline" else level]
        for base, tuned in data["tuned"].items():
            effort = tuned.get("effort")
            if effort:
                put(f"TuningSettings{macro_word(level)}{macro_word(base)}", effort["settings"])
    put("RunProvenance", None, f"Run {numbers['RunId']['text']}, commit {numbers['RunCommit']['text']}.")
    put("FigureProvenance", None, f"Run {numbers['RunId']['text']}, commit {numbers['RunCommit']['text']}, "
                                  f"$n = {facts['seeds']}$ training seeds, {len(sets['test'])} test draws.")
    return numbers


def _summaries(run_dir: Path) -> list[dict[str, Any]]:
    if (run_dir / "session_summary.json").exists():
        return [results.load_json(run_dir / "session_summary.json", verify=False)]
    return results.load_json(run_dir / contract.PROVENANCE)["runs"]


def _device(summary: dict[str, Any]) -> str:
    device = summary.get("device") or {}
    return str(device.get("gpu_name") or device.get("device") or summary.get("device_requested") or "?")


def _escape(text: str) -> str:
    """Plain text from the results (run ids, device names) made safe for TeX; the formatted
    numbers carry their own TeX and pass unchanged."""
    return re.sub(r"([#$%&_{}])", r"\\\1", text)


def write(run_dir: str | Path, tex: str | Path, json_path: str | Path, log: str | Path | None = None) -> None:
    """``numbers.tex`` and ``numbers.json`` of the results in ``run_dir``."""
    from .logs import logged

    with logged(log, f"numbers from {run_dir}"):
        numbers = collect(run_dir)
        lines = ["% Generated by thesis_figures.numbers from the downloaded results: do not edit.",
                 f"% {len(numbers)} quantities of {results.provenance(run_dir)}"]
        plain = {"RunId", "RunCommit", "RunDate", "RunDevice", "HeadlineLevel", "Levels"}
        for name, entry in numbers.items():
            text = _escape(entry["text"]) if name in plain or name.startswith(("Direction", "Significance")) \
                else entry["text"]
            lines.append(f"\\newcommand{{\\{name}}}{{{text}}}")
        Path(tex).parent.mkdir(parents=True, exist_ok=True)
        Path(tex).write_text("\n".join(lines) + "\n")
        Path(json_path).write_text(json.dumps(numbers, indent=1))
        print(f"{len(numbers)} macros")
