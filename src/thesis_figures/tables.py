"""Thesis tables (CSV and LaTeX booktabs) and the sanity gates, all computed from the results files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from arz_rl import results as contract

from . import results, style

METRIC_LABELS = {
    "avg_travel_time_s": "Travel time (s)", "avg_delay_s": "Delay (s/veh)", "throughput_veh_h": "Throughput (veh/h)",
    "avg_queue_veh": "Queue (veh)", "max_queue_veh": "Max queue (veh)", "phase_switches": "Switches",
}


def _tex_escape(text: Any) -> str:
    return str(text).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


#: how a baseline's setting reads in a table: one entry per parameter (None: not shown)
SETTING_NAMES: dict[str, Any] = {
    "cycle": "cycle {:g} s", "green_wave": lambda v: "green wave" if v else "no green wave",
    "interval": "every {:g} s", "min_green": "min. green {:g} s", "max_green": "max. green {:g} s",
    "gap": "gap {:g} s/lane", "threshold": "threshold {:g} pc", "step": None, "detector_m": None,
}


def setting_text(params: dict[str, Any]) -> str:
    """A tuned setting in words (:data:`SETTING_NAMES`), e.g. ``min. green 15 s, gap 2.5 s/lane``."""
    parts = []
    for key, value in params.items():
        if value is None or (isinstance(value, float) and pd.isna(value)):
            continue
        name = SETTING_NAMES.get(key, key.replace("_", " ") + " {}")
        if name is not None:
            parts.append(name(value) if callable(name) else name.format(value))
    return ", ".join(parts)


def _num_cell(text: str) -> str:
    """A cell of a decimal-aligned column: a number goes in math mode (a real minus sign), words
    are centred across the column."""
    t = str(text).strip()
    if t.replace(".", "", 1).replace("-", "", 1).replace("+", "", 1).replace("<", "", 1).isdigit():
        return t.replace("<", r"{<}")
    return rf"\multicolumn{{1}}{{c}}{{{_tex_escape(t)}}}"


def latex_table(df: pd.DataFrame, caption: str, label: str, numeric: tuple[str, ...] = (),
                widths: dict[str, str] | None = None) -> str:
    """A booktabs table of ``df`` (cells already formatted as strings) sized for the text block:
    ``numeric`` columns aligned on the decimal point with a real minus sign (dcolumn), text
    columns left-aligned (``widths``: a column's paragraph width, e.g. ``3cm``, where it may
    wrap, ragged right), small type (footnote size past six columns).  The chapter's build fails
    on a table that still runs past the text block (:func:`thesis_figures.chapter.overfull_boxes`)."""
    widths = widths or {}
    spec = "".join(r"D{.}{.}{-1}" if c in numeric else
                   (rf">{{\raggedright\arraybackslash}}p{{{widths[c]}}}" if c in widths else "l")
                   for c in df.columns)
    size = r"\footnotesize" if df.shape[1] > 6 else r"\small"
    head = " & ".join(rf"\multicolumn{{1}}{{c}}{{{_tex_escape(c)}}}" if c in numeric else _tex_escape(c)
                      for c in df.columns)
    lines = [r"\begin{table}[htbp]", r"\centering", size, r"\setlength{\tabcolsep}{3.5pt}",
             rf"\caption{{{_tex_escape(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        cells = [_num_cell(v) if c in numeric else _tex_escape(v) for c, v in zip(df.columns, row, strict=True)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def _p(p: float | None) -> str:
    return "n/a" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "n/a" if v is None or pd.isna(v) else fmt.format(v)


def controller_tables(evaluation_path: str | Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """controller_performance, rl_vs_baselines, tuned_baselines and sensitivity, each .csv and .tex."""
    data = results.evaluation(evaluation_path)
    levels = sorted(data["levels"], key=lambda lv: data["levels"][lv]["demand_scale"])
    rows, wide, comp, tuned_rows = [], [], [], []
    for level in levels:
        lv = data["levels"][level]
        kinds = results.kinds(lv)
        for name in style.order(list(lv["controllers"]), kinds):
            c = lv["controllers"][name]
            for metric, s in c["summary"].items():
                rows.append({"level": level, "controller": name, "kind": c["kind"], "metric": metric, **s})
            row = {"Level": level, "Controller": style.label(name)}
            for m in ("avg_delay_s", "avg_travel_time_s", "throughput_veh_h", "avg_queue_veh"):
                s = c["summary"][m]
                row[METRIC_LABELS[m]] = f"{s['mean']:.1f} [{s['ci95_low']:.1f}, {s['ci95_high']:.1f}]"
            row["n"] = f"{c['summary']['avg_delay_s']['n']} {'seeds' if c['kind'] == 'rl' else 'draws'}"
            wide.append(row)
        for agent in style.order(list(lv["comparisons"]), kinds):  # the figures' order, here too
            bases = lv["comparisons"][agent]
            for base in style.order(list(bases), kinds):
                for metric, r in bases[base].items():
                    comp.append({"level": level, "agent": agent, "baseline": base, "metric": metric, **r})
        for name, t in lv["tuned"].items():
            tuned_rows.append({"level": level, "baseline": name, **{f"param_{k}": v for k, v in t["params"].items()},
                               "validation_avg_delay_s": t["validation"]["avg_delay_s"],
                               "settings_tried": len(t["sweep"])})
    perf = pd.DataFrame(rows)
    perf.to_csv(out / "controller_performance.csv", index=False)
    (out / "controller_performance.tex").write_text(latex_table(
        pd.DataFrame(wide), "Controllers on the test draws: mean [95% bootstrap interval]; agents over training "
        "seeds, baselines over the test draws", "tab:controller-performance"))
    comparisons = pd.DataFrame(comp)
    comparisons.to_csv(out / "rl_vs_baselines.csv", index=False)
    primary = comparisons[comparisons["family"] == "primary"]
    seeds = sorted(set(primary["n"].astype(int)))
    tex = pd.DataFrame({
        "Level": primary["level"], "Agent": primary["agent"].map(style.label),
        "Baseline": primary["baseline"].map(style.label),
        "Diff.": primary["diff_mean"].map(lambda v: _num(v, "{:+.1f}")),
        "Low": primary["diff_ci95_low"].map(lambda v: _num(v, "{:+.1f}")),
        "High": primary["diff_ci95_high"].map(lambda v: _num(v, "{:+.1f}")),
        "Impr.": primary["improvement_pct"].map(lambda v: _num(v, "{:+.1f}")),
        "p": primary["p_holm"].map(lambda v: _p(None if pd.isna(v) else v)),
    })
    (out / "rl_vs_baselines.tex").write_text(latex_table(
        tex, "Delay per vehicle, every agent against every tuned baseline: difference agent - baseline (Diff., "
        "s/veh) with its 95 % interval over the training seeds (Low, High), the improvement in % (Impr., "
        "positive: the agent is better), and p, the paired t-test's at seed level Holm-Bonferroni adjusted over "
        f"this family; n = {', '.join(map(str, seeds))} training seeds. The unadjusted t- and Wilcoxon p are in "
        "rl_vs_baselines.csv", "tab:rl-vs-baselines", numeric=("Diff.", "Low", "High", "Impr.", "p"),
        widths={"Agent": "2.3cm", "Baseline": "2.1cm"}))
    tuned = pd.DataFrame(tuned_rows)
    tuned.to_csv(out / "tuned_baselines.csv", index=False)
    tuned_tex = pd.DataFrame({
        "Level": tuned["level"], "Baseline": tuned["baseline"].map(style.label),
        "Chosen setting": [setting_text({k[6:]: v for k, v in r.items() if k.startswith("param_")})
                           for r in tuned.to_dict("records")],
        "Validation delay (s/veh)": tuned["validation_avg_delay_s"].map("{:.1f}".format),
        "Settings tried": tuned["settings_tried"].astype(str),
    })
    (out / "tuned_baselines.tex").write_text(latex_table(
        tuned_tex, "Baselines tuned on the validation draws: the setting with the lowest mean delay, that delay, and "
        "the settings tried (pc: passenger-car units; gaps per lane)", "tab:tuned-baselines",
        numeric=("Validation delay (s/veh)", "Settings tried"),
        widths={"Baseline": "2.4cm", "Chosen setting": "4.6cm"}))
    sens = primary[["level", "agent", "baseline", "improvement_pct", "diff_mean", "diff_ci95_low", "diff_ci95_high",
                    "baseline_mean", "p_holm", "significant", "n"]]
    sens.to_csv(out / "sensitivity.csv", index=False)
    return perf, comparisons


def hyperparameter_table(training_path: str | Path, out: Path) -> pd.DataFrame:
    """hyperparameters.{csv,tex}: what each algorithm was actually trained with."""
    data = results.load_json(training_path)
    rows = []
    runs = results.field(data, "runs", training_path)
    for algo, seeds in next(iter(runs.values())).items():
        first = next(iter(seeds.values()))
        hp = dict(results.field(first, "hyperparameters", f"{training_path} (runs.{algo})"))
        hp["timesteps"] = first.get("timesteps")
        for key, value in sorted(hp.items()):
            rows.append({"algorithm": algo, "parameter": key, "value": value})
    df = pd.DataFrame(rows)
    df.to_csv(out / "hyperparameters.csv", index=False)
    tex = latex_table(df.astype(str), "Hyper-parameters used", "tab:hyperparameters")
    (out / "hyperparameters.tex").write_text(tex)
    return df


def riemann_tables(validation_dir: str | Path, out: Path) -> pd.DataFrame:
    """riemann_validation.{csv,tex}: L1 errors and observed orders."""
    df = results.riemann_table(Path(validation_dir) / contract.RIEMANN_TABLE)
    df.to_csv(out / "riemann_validation.csv", index=False)
    tex = df.assign(l1_error=df["l1_error"].map("{:.3g}".format),
                    order=df["order"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"))
    (out / "riemann_validation.tex").write_text(latex_table(
        tex.astype(str), "Riemann problems: L1 density error (veh) and observed order", "tab:riemann"))
    return df


def sanity_checks(run_dir: str | Path) -> pd.DataFrame:
    """Implausible results: zero spread over seeds, an agent identical to a baseline, short learning curves."""
    run_dir = Path(run_dir)
    ev = results.evaluation(run_dir / contract.EVALUATION)
    train = results.load_json(run_dir / contract.TRAINING)
    found = []
    for level, lv in ev["levels"].items():
        ctrls = lv["controllers"]
        for name, c in ctrls.items():
            for metric, s in c["summary"].items():
                if c["kind"] == "rl" and s["n"] > 1 and s["std"] == 0.0 and metric != "phase_switches":
                    found.append(("zero_std", f"{name} at {level}", f"{metric} has zero standard deviation over "
                                  f"{s['n']} seeds"))
        means = {n: tuple(round(s["mean"], 9) for s in c["summary"].values()) for n, c in ctrls.items()}
        for rl in (n for n, c in ctrls.items() if c["kind"] == "rl"):
            for base in (n for n, c in ctrls.items() if c["kind"] != "rl"):
                if means[rl] == means[base]:
                    found.append(("identical", f"{rl} at {level}", f"every metric of {rl} equals {base}'s"))
    params = train.get("parameters", {})
    decisions = max(1, int(round(params.get("episode_length", 1) / params.get("decision_interval", 1))))
    for level, algos in train.get("runs", {}).items():
        for algo, seeds in algos.items():
            for seed, rec in seeds.items():
                # a batch of n_envs corridors ends its episodes together
                batch = max(1, int(rec.get("n_envs", 1)))
                expected = int(rec.get("timesteps", 0)) // (decisions * batch) * batch
                got = len(rec.get("learning_curve", {}).get("timesteps", []))
                if got < expected:
                    found.append(("short_curve", f"{algo} seed {seed} at {level}",
                                  f"learning curve has {got} episodes, {expected} expected from the timesteps"))
    df = pd.DataFrame(found, columns=["check", "subject", "detail"])
    for row in df.itertuples():
        print(f"SANITY WARNING [{row.check}] {row.subject}: {row.detail}", file=sys.stderr)
    return df


def ablation_table(run_dir: str | Path, out: Path) -> pd.DataFrame:
    """ablation.{csv,tex}: every learned controller at the headline level against the best tuned
    baseline (:func:`thesis_figures.ablation.ablation_rows`)."""
    from .ablation import ablation_rows

    df, base = ablation_rows(run_dir)
    df.drop(columns=["values"]).to_csv(out / "ablation.csv", index=False)
    shown = pd.DataFrame({
        "Variant": df["label"],
        "Delay": df["mean"].map("{:.1f}".format), "Low": df["low"].map("{:.1f}".format),
        "High": df["high"].map("{:.1f}".format), "Diff.": df["diff_vs_best"].map("{:+.1f}".format),
        "Kept": [f"{k}/{n}" for k, n in zip(df["kept_trained"], df["seeds"], strict=True)],
        "Final (%)": [_num(v, "{:+.1f}") for v in df["final_above_best_pct"]],
    })
    caption = (f"Ablation at the {base['level']} level: mean delay (s/veh) over training seeds with its 95 % "
               f"interval (Low, High), the difference to the best tuned baseline ({base['label']}, "
               f"{base['mean']:.1f} s/veh; Diff.), the seeds that kept a checkpoint PPO trained rather than the "
               "cloned one (Kept), and how far the finished policy's validation delay lies above its best "
               "checkpoint's (Final, %)")
    (out / "ablation.tex").write_text(latex_table(shown, caption, "tab:ablation",
                                                  numeric=("Delay", "Low", "High", "Diff.", "Final (%)"),
                                                  widths={"Variant": "5cm"}))
    return df


def all_tables(run_dir: str | Path, out: str | Path, log: str | Path | None = None) -> None:
    """Every table of a run's results into ``out`` (what it prints also into ``log``)."""
    from .logs import logged

    run_dir, out = Path(run_dir), Path(out)
    with logged(log, f"tables from {run_dir}"):
        out.mkdir(parents=True, exist_ok=True)
        controller_tables(run_dir / contract.EVALUATION, out)
        hyperparameter_table(run_dir / contract.TRAINING, out)
        ablation_table(run_dir, out)
        if (run_dir / contract.VALIDATION_DIR).exists():
            riemann_tables(run_dir / contract.VALIDATION_DIR, out)
        checks = sanity_checks(run_dir)
        checks.to_csv(out / "sanity_checks.csv", index=False)
        print(f"{len(list(out.glob('*.csv')))} tables, {len(checks)} sanity warning(s)")
