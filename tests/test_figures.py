"""Figures, tables and sanity gates from results files (no kernel involved)."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import seal

from thesis_figures import ResultsError, catalog, comparison, learning_curves, results, tables

FIGS = tuple(f.name for f in catalog.FIGURES)


def draw_all(run, out):
    for name in FIGS:
        catalog.draw(name, run, out / f"{name}.pdf", out / f"{name}.png", out / "logs" / f"{name}.log")


def test_every_figure_in_pdf_and_png(tiny_run, tmp_path):
    draw_all(tiny_run, tmp_path)
    for name in FIGS:
        for ext in ("pdf", "png"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 5000, name
        log = (tmp_path / "logs" / f"{name}.log").read_text()
        assert f"figure {name} from {tiny_run}" in log and "done in" in log
    assert "commit ffffffffff" in results.provenance(tiny_run)


def test_tables_hold_the_values_of_the_results(tiny_run, tmp_path):
    tables.all_tables(tiny_run, tmp_path)
    ev = json.loads((tiny_run / "evaluation_results.json").read_text())
    perf = pd.read_csv(tmp_path / "controller_performance.csv")
    for row in perf.itertuples():
        s = ev["controllers"][row.controller]["summary"][row.metric]
        assert row.mean == pytest.approx(s["mean"], rel=1e-12) and row.ci95_high == pytest.approx(s["ci95_high"])
    comp = pd.read_csv(tmp_path / "rl_vs_baselines.csv")
    for row in comp.itertuples():
        r = ev["comparisons"][row.rl][row.baseline][row.metric]
        assert (math.isnan(row.p_value_welch) and r["p_value_welch"] is None) or \
            row.p_value_welch == pytest.approx(r["p_value_welch"])
    tex = (tmp_path / "controller_performance.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex
    s = ev["controllers"]["max_pressure"]["summary"]["avg_travel_time_s"]
    assert f"{s['mean']:.1f} ± {(s['ci95_high'] - s['ci95_low']) / 2:.1f}" in tex
    hp = pd.read_csv(tmp_path / "hyperparameters.csv")
    assert set(hp["algorithm"]) == {"ppo", "dqn"}
    assert hp[(hp.algorithm == "ppo") & (hp.parameter == "n_steps")]["value"].item() == "64"
    rv = pd.read_csv(tmp_path / "riemann_validation.csv")
    src = pd.read_csv(tiny_run / "validation" / "riemann_table.csv")
    np.testing.assert_allclose(rv["l1_error"], src["l1_error"])


def _copy(tiny_run, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(tiny_run, dest)
    return dest


def _edit(path, fn):
    """Change a results file and seal its folder again, as if the kernel had written it so."""
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))
    seal(path.parent)


def test_missing_field_names_file_and_field(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    _edit(run / "training_metrics.json", lambda d: d["runs"]["ppo"]["0"]["learning_curve"].pop("episode_return"))
    with pytest.raises(ResultsError, match=r"training_metrics.json: field 'runs.ppo.0.learning_curve.episode_return'"):
        learning_curves.learning_curves(run, tmp_path / "a.pdf", tmp_path / "a.png")
    assert not (tmp_path / "a.pdf").exists()


def test_nan_and_empty_curves_are_refused(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    _edit(run / "evaluation_results.json",
          lambda d: d["controllers"]["ppo"]["summary"]["avg_delay_s"].update(mean=float("nan")))
    with pytest.raises(ResultsError, match=r"controllers.ppo.summary.avg_delay_s.mean"):
        comparison.controller_comparison(run, tmp_path / "b.pdf", tmp_path / "b.png")
    _edit(run / "training_metrics.json",
          lambda d: d["runs"]["dqn"]["1"]["learning_curve"].update(timesteps=[], episode_return=[]))
    with pytest.raises(ResultsError, match=r"runs.dqn.1.learning_curve.timesteps' has 0 values"):
        learning_curves.learning_curves(run, tmp_path / "c.pdf", tmp_path / "c.png")


def test_sanity_gates_flag_implausible_results(tiny_run, tmp_path, capsys):
    run = _copy(tiny_run, tmp_path)
    assert tables.sanity_checks(run).empty

    def clone_baseline(d):
        d["controllers"]["dqn"]["summary"] = d["controllers"]["fixed_90"]["summary"]
        d["controllers"]["fixed_60"]["summary"]["avg_delay_s"]["std"] = 0.0

    _edit(run / "evaluation_results.json", clone_baseline)
    _edit(run / "training_metrics.json",
          lambda d: d["runs"]["ppo"]["0"]["learning_curve"].update(timesteps=[1, 2], episode_return=[0.0, 1.0]))
    found = tables.sanity_checks(run)
    assert set(found["check"]) == {"identical", "zero_std", "short_curve"}
    assert "SANITY WARNING [identical] dqn" in capsys.readouterr().err


def test_merge_of_fanned_out_runs(tiny_run, tmp_path):
    from conftest import TINY_RUN

    from arz_rl.config import build_config
    from arz_rl.run import run

    ppo, dqn = tmp_path / "ppo", tmp_path / "dqn"
    run(build_config("quick", {**TINY_RUN, "algorithms": "ppo"}), ppo, log=lambda *_: None)
    run(build_config("quick", {**TINY_RUN, "algorithms": "dqn"}), dqn, log=lambda *_: None)
    seal(ppo)
    seal(dqn)
    results.merge_runs([ppo, dqn], tmp_path / "merged")
    assert (tmp_path / "merged" / "manifest.json").exists()  # the merge's own record, checked by the figures
    merged = json.loads((tmp_path / "merged" / "evaluation_results.json").read_text())
    whole = json.loads((tiny_run / "evaluation_results.json").read_text())
    assert set(merged["comparisons"]) == {"ppo", "dqn"}
    for name in ("ppo", "dqn", "fixed_90"):
        for metric in ("avg_travel_time_s", "throughput_veh_h"):
            assert merged["controllers"][name]["summary"][metric]["mean"] == \
                pytest.approx(whole["controllers"][name]["summary"][metric]["mean"], rel=1e-9)
    train = json.loads((tmp_path / "merged" / "training_metrics.json").read_text())
    assert set(train["runs"]) == {"ppo", "dqn"}


def test_an_edited_or_foreign_results_file_is_refused_naming_it(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    path = run / "evaluation_results.json"
    text = path.read_text()
    path.write_text(text.replace('"mean": ', '"mean": 1', 1))  # one number changed after the download
    with pytest.raises(ResultsError, match=r"evaluation_results.json does not match the sha256 in "
                                           r"session_summary.json \(changed after the download\): delete .* afresh"):
        comparison.controller_comparison(run, tmp_path / "b.pdf", tmp_path / "b.png")
    with pytest.raises(ResultsError, match="does not match the sha256"):
        tables.all_tables(run, tmp_path / "tables")
    (run / "extra.npz").write_bytes(b"not the run's")
    with pytest.raises(ResultsError, match="extra.npz: not listed in"):
        results.verified(run / "extra.npz")
    (run / "session_summary.json").unlink()
    with pytest.raises(ResultsError, match="not a verified download"):
        results.load_json(run / "training_metrics.json")
