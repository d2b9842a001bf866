"""Thesis tables (CSV and LaTeX booktabs) and the sanity gates, all computed from the results files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from . import results

METRIC_LABELS = {
    "avg_travel_time_s": "Travel time (s)", "avg_delay_s": "Delay (s/veh)", "throughput_veh_h": "Throughput (veh/h)",
    "avg_queue_veh": "Queue (veh)", "max_queue_veh": "Max queue (veh)", "phase_switches": "Switches",
}


def _tex_escape(text: Any) -> str:
    return str(text).replace("_", r"\_").replace("%", r"\%")


def latex_table(df: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table of ``df`` (cells already formatted as strings)."""
    cols = "l" + "r" * (df.shape[1] - 1)
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{_tex_escape(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{cols}}}", r"\toprule", " & ".join(_tex_escape(c) for c in df.columns) + r" \\",
             r"\midrule"]
    lines += [" & ".join(_tex_escape(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def _p(p: float | None) -> str:
    return "n/a" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def controller_tables(evaluation_path: str | Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """controller_performance.{csv,tex} and rl_vs_baselines.{csv,tex}."""
    data = results.evaluation(evaluation_path)
    rows = []
    for name, c in data["controllers"].items():
        for metric, s in c["summary"].items():
            rows.append({"controller": name, "kind": c["kind"], "metric": metric, **s})
    perf = pd.DataFrame(rows)
    perf.to_csv(out / "controller_performance.csv", index=False)
    shown = [m for m in ("avg_travel_time_s", "avg_delay_s", "throughput_veh_h", "avg_queue_veh")]
    wide = []
    for name, c in data["controllers"].items():
        row = {"Controller": name}
        for m in shown:
            s = c["summary"][m]
            row[METRIC_LABELS[m]] = f"{s['mean']:.1f} ± {(s['ci95_high'] - s['ci95_low']) / 2:.1f}"
        wide.append(row)
    (out / "controller_performance.tex").write_text(latex_table(
        pd.DataFrame(wide), "Controllers: mean over seeds ± half-width of the 95% confidence interval",
        "tab:controller-performance"))
    comp = []
    for rl, bases in data["comparisons"].items():
        for base, metrics in bases.items():
            for metric, r in metrics.items():
                comp.append({"rl": rl, "baseline": base, "metric": metric, **r})
    comparisons = pd.DataFrame(comp)
    comparisons.to_csv(out / "rl_vs_baselines.csv", index=False)
    tt = comparisons[comparisons["metric"] == "avg_travel_time_s"]
    tex = pd.DataFrame({
        "RL": tt["rl"], "Baseline": tt["baseline"], "RL (s)": tt["rl_mean"].map("{:.1f}".format),
        "Baseline (s)": tt["baseline_mean"].map("{:.1f}".format),
        "Improvement (%)": tt["improvement_pct"].map(lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.1f}"),
        "p (Welch)": tt["p_value_welch"].map(lambda v: _p(None if pd.isna(v) else v)),
    })
    (out / "rl_vs_baselines.tex").write_text(latex_table(
        tex, "Average travel time: RL against every baseline (Welch t-test over seeds)", "tab:rl-vs-baselines"))
    return perf, comparisons


def hyperparameter_table(training_path: str | Path, out: Path) -> pd.DataFrame:
    """hyperparameters.{csv,tex}: what each algorithm was actually trained with."""
    data = results.load_json(training_path)
    rows = []
    for algo, seeds in results.field(data, "runs", training_path).items():
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
    df = results.riemann_table(Path(validation_dir) / "riemann_table.csv")
    df.to_csv(out / "riemann_validation.csv", index=False)
    tex = df.assign(l1_error=df["l1_error"].map("{:.3g}".format),
                    order=df["order"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"))
    (out / "riemann_validation.tex").write_text(latex_table(
        tex.astype(str), "Riemann problems: L1 density error (veh) and observed order", "tab:riemann"))
    return df


def sanity_checks(run_dir: str | Path) -> pd.DataFrame:
    """Implausible results: zero spread over seeds, RL identical to a baseline, short learning curves."""
    run_dir = Path(run_dir)
    ev = results.evaluation(run_dir / "evaluation_results.json")
    train = results.load_json(run_dir / "training_metrics.json")
    found = []
    for name, c in ev["controllers"].items():
        for metric, s in c["summary"].items():
            if s["n"] > 1 and s["std"] == 0.0 and metric != "phase_switches":
                found.append(("zero_std", name, f"{metric} has zero standard deviation over {s['n']} seeds"))
    means = {n: tuple(round(s["mean"], 9) for s in c["summary"].values()) for n, c in ev["controllers"].items()}
    for rl in (n for n, c in ev["controllers"].items() if c["kind"] == "rl"):
        for base in (n for n, c in ev["controllers"].items() if c["kind"] == "baseline"):
            if means[rl] == means[base]:
                found.append(("identical", rl, f"every metric of {rl} equals {base}'s"))
    params = train.get("parameters", {})
    decisions = max(1, int(round(params.get("episode_length", 1) / params.get("decision_interval", 1))))
    for algo, seeds in train.get("runs", {}).items():
        for seed, rec in seeds.items():
            expected = int(rec.get("timesteps", 0)) // decisions
            got = len(rec.get("learning_curve", {}).get("timesteps", []))
            if got < expected:
                found.append(("short_curve", f"{algo} seed {seed}",
                              f"learning curve has {got} episodes, {expected} expected from the timesteps"))
    df = pd.DataFrame(found, columns=["check", "subject", "detail"])
    for row in df.itertuples():
        print(f"SANITY WARNING [{row.check}] {row.subject}: {row.detail}", file=sys.stderr)
    return df


def all_tables(run_dir: str | Path, out: str | Path, log: str | Path | None = None) -> None:
    """Every table of a run's results into ``out`` (what it prints also into ``log``)."""
    from .logs import logged

    run_dir, out = Path(run_dir), Path(out)
    with logged(log, f"tables from {run_dir}"):
        out.mkdir(parents=True, exist_ok=True)
        controller_tables(run_dir / "evaluation_results.json", out)
        hyperparameter_table(run_dir / "training_metrics.json", out)
        if (run_dir / "validation").exists():
            riemann_tables(run_dir / "validation", out)
        checks = sanity_checks(run_dir)
        checks.to_csv(out / "sanity_checks.csv", index=False)
        print(f"{len(list(out.glob('*.csv')))} tables, {len(checks)} sanity warning(s)")
