"""Figures, tables and sanity gates from results files (no kernel involved)."""

import json
import math
import os
import shutil
import subprocess

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
    assert set(perf["level"]) == set(ev["levels"])
    for row in perf.itertuples():
        s = ev["levels"][row.level]["controllers"][row.controller]["summary"][row.metric]
        assert row.mean == pytest.approx(s["mean"], rel=1e-12) and row.ci95_high == pytest.approx(s["ci95_high"])
    comp = pd.read_csv(tmp_path / "rl_vs_baselines.csv")
    for row in comp.itertuples():
        r = ev["levels"][row.level]["comparisons"][row.agent][row.baseline][row.metric]
        for key in ("p_ttest", "p_holm"):
            assert (math.isnan(getattr(row, key)) and r[key] is None) or getattr(row, key) == pytest.approx(r[key])
        assert row.family == r["family"] and row.n == r["n"]
    tex = (tmp_path / "controller_performance.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex
    s = ev["levels"]["over"]["controllers"]["max_pressure"]["summary"]["avg_travel_time_s"]
    assert f"{s['mean']:.1f} [{s['ci95_low']:.1f}, {s['ci95_high']:.1f}]" in tex
    tuned = pd.read_csv(tmp_path / "tuned_baselines.csv")
    chosen = tuned[(tuned.level == "over") & (tuned.baseline == "fixed_time")]["param_cycle"].item()
    assert chosen == ev["levels"]["over"]["tuned"]["fixed_time"]["params"]["cycle"]
    assert "Holm" in (tmp_path / "rl_vs_baselines.tex").read_text()
    hp = pd.read_csv(tmp_path / "hyperparameters.csv")
    assert set(hp["algorithm"]) == {"ppo", "dqn", "ppo_clone_only", "ppo_scratch"}  # the agents and the ablation's
    ablation = pd.read_csv(tmp_path / "ablation.csv")
    assert list(ablation["controller"]) == ["ppo", "dqn", "ppo_clone_only", "ppo_scratch"]
    clone_only = ablation[ablation.controller == "ppo_clone_only"].iloc[0]
    assert clone_only["kept_trained"] == 0 and not clone_only["trained"]  # it trains for no decision
    assert "tab:ablation" in (tmp_path / "ablation.tex").read_text()
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
    _edit(run / "training_metrics.json",
          lambda d: d["runs"]["over"]["ppo"]["0"]["learning_curve"].pop("episode_return"))
    with pytest.raises(ResultsError,
                       match=r"training_metrics.json: field 'runs.over.ppo.0.learning_curve.episode_return'"):
        catalog.draw("learning_curves", run, tmp_path / "a.pdf", tmp_path / "a.png")
    assert not (tmp_path / "a.pdf").exists()


def test_nan_and_empty_curves_are_refused(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    _edit(run / "evaluation_results.json",
          lambda d: d["levels"]["over"]["controllers"]["ppo"]["summary"]["avg_delay_s"].update(mean=float("nan")))
    with pytest.raises(ResultsError, match=r"levels.over.controllers.ppo.summary.avg_delay_s.mean"):
        comparison.controller_comparison(run)
    _edit(run / "training_metrics.json",
          lambda d: d["runs"]["near"]["dqn"]["1"]["learning_curve"].update(timesteps=[], episode_return=[]))
    with pytest.raises(ResultsError, match=r"runs.near.dqn.1.learning_curve.timesteps' has 0 values"):
        learning_curves.learning_curves(run)


def test_sanity_gates_flag_implausible_results(tiny_run, tmp_path, capsys):
    run = _copy(tiny_run, tmp_path)
    # no false alarm on a real run: a tiny run's agent seeds may all settle on one policy (often
    # the warm start's), and then zero_std is true of them; nothing else may fire
    evaluation = json.loads((run / "evaluation_results.json").read_text())
    for check, subject, detail in tables.sanity_checks(run)[["check", "subject", "detail"]].itertuples(index=False):
        assert check == "zero_std", (check, subject, detail)
        name, level = subject.split(" at ")
        metric = detail.split()[0]
        seeds = evaluation["levels"][level]["controllers"][name]["per_seed"].values()
        assert len({s["mean"][metric] for s in seeds}) == 1, (subject, detail)

    def clone_baseline(d):
        ctrls = d["levels"]["over"]["controllers"]
        ctrls["dqn"]["summary"] = ctrls["fixed_90"]["summary"]
        ctrls["ppo"]["summary"]["avg_delay_s"]["std"] = 0.0

    _edit(run / "evaluation_results.json", clone_baseline)
    _edit(run / "training_metrics.json",
          lambda d: d["runs"]["over"]["ppo"]["0"]["learning_curve"].update(timesteps=[1, 2], episode_return=[0.0, 1.0]))
    found = tables.sanity_checks(run)
    assert set(found["check"]) == {"identical", "zero_std", "short_curve"}
    assert "SANITY WARNING [identical] dqn at over" in capsys.readouterr().err


def test_merge_of_fanned_out_runs(tiny_run, tmp_path):
    from conftest import TINY_RUN

    from arz_rl.config import build_config
    from arz_rl.run import run

    ppo, dqn = tmp_path / "ppo", tmp_path / "dqn"
    run(build_config("quick", {**TINY_RUN, "algorithms": "ppo"}), ppo, log=lambda *_: None)
    run(build_config("quick", {**TINY_RUN, "algorithms": "dqn"}), dqn, log=lambda *_: None)
    seal(ppo)
    seal(dqn)
    from arz_rl.merge import merge_runs

    merge_runs([ppo, dqn], tmp_path / "merged")
    assert (tmp_path / "merged" / "manifest.json").exists()  # the merge's own record, checked by the figures
    merged = json.loads((tmp_path / "merged" / "evaluation_results.json").read_text())
    whole = json.loads((tiny_run / "evaluation_results.json").read_text())
    for level in whole["levels"]:
        assert set(merged["levels"][level]["comparisons"]) == {"ppo", "dqn", "ppo_clone_only", "ppo_scratch"}
        for name in ("ppo", "dqn", "fixed_90", "max_pressure"):
            for metric in ("avg_travel_time_s", "throughput_veh_h"):
                assert merged["levels"][level]["controllers"][name]["summary"][metric]["mean"] == \
                    pytest.approx(whole["levels"][level]["controllers"][name]["summary"][metric]["mean"], rel=1e-9)
        a, b = (d["levels"][level]["comparisons"]["ppo"]["fixed_time"]["avg_delay_s"] for d in (merged, whole))
        assert a["p_holm"] == pytest.approx(b["p_holm"]) and a["n"] == b["n"] == 2
    train = json.loads((tmp_path / "merged" / "training_metrics.json").read_text())
    assert set(train["runs"]["over"]) == {"ppo", "dqn", "ppo_clone_only", "ppo_scratch"}
    assert merged["primary"]["agent"] == "ppo" and merged["primary"] == whole["primary"]


def test_an_edited_or_foreign_results_file_is_refused_naming_it(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    path = run / "evaluation_results.json"
    text = path.read_text()
    path.write_text(text.replace('"mean": ', '"mean": 1', 1))  # one number changed after the download
    with pytest.raises(ResultsError, match=r"evaluation_results.json does not match the sha256 in "
                                           r"session_summary.json \(changed after the download\): delete .* afresh"):
        comparison.controller_comparison(run)
    with pytest.raises(ResultsError, match="does not match the sha256"):
        tables.all_tables(run, tmp_path / "tables")
    (run / "extra.npz").write_bytes(b"not the run's")
    with pytest.raises(ResultsError, match="extra.npz: not listed in"):
        results.verified(run / "extra.npz")
    (run / "session_summary.json").unlink()
    with pytest.raises(ResultsError, match="not a verified download"):
        results.load_json(run / "training_metrics.json")


LONG_AGENT = "maskable_ppo_with_shared_policy_and_behaviour_cloning_warm_start"
LONG_BASELINE = "fixed_time_with_green_wave_offsets_and_pedestrian_phase"


@pytest.fixture(scope="module")
def worst_case(tiny_run, tmp_path_factory):
    """The tiny run stretched the way a thesis run can stretch the figures: three demand levels,
    twelve controllers (two of them the ablation's), names far longer than any built in (an extra
    agent, and fixed_120 renamed)."""
    run = tmp_path_factory.mktemp("worst") / "run"
    shutil.copytree(tiny_run, run)
    ev = json.loads((run / "evaluation_results.json").read_text())
    train = json.loads((run / "training_metrics.json").read_text())
    ev["levels"]["under"] = json.loads(json.dumps(ev["levels"]["near"]))
    ev["levels"]["under"]["demand_scale"] = 0.7
    train["runs"]["under"] = json.loads(json.dumps(train["runs"]["near"]))
    for npz in run.glob("spacetime_near_*.npz"):
        shutil.copy(npz, run / npz.name.replace("_near_", "_under_"))
    for level, data in ev["levels"].items():
        ctrls = data["controllers"]
        ctrls[LONG_AGENT] = json.loads(json.dumps(ctrls["ppo"]))
        ctrls[LONG_BASELINE] = ctrls.pop("fixed_120")
        for agent in list(data["comparisons"]):
            data["comparisons"][agent][LONG_BASELINE] = data["comparisons"][agent].pop("fixed_120")
        data["comparisons"][LONG_AGENT] = json.loads(json.dumps(data["comparisons"]["ppo"]))
        train["runs"][level][LONG_AGENT] = train["runs"][level]["ppo"]
        for algos in train["runs"].values():  # thesis-sized budgets: tick labels in the hundreds of thousands
            for records in algos.values():
                for rec in records.values():
                    if rec["learning_curve"]["timesteps"] and rec["learning_curve"]["timesteps"][-1] < 10_000:
                        rec["learning_curve"]["timesteps"] = [t * 1000 for t in rec["learning_curve"]["timesteps"]]
                        for point in [*rec["validation_curve"], rec["chosen_checkpoint"]]:
                            point["timesteps"] *= 1000
        shutil.copy(run / f"spacetime_{level}_ppo.npz", run / f"spacetime_{level}_{LONG_AGENT}.npz")
        (run / f"spacetime_{level}_fixed_120.npz").rename(run / f"spacetime_{level}_{LONG_BASELINE}.npz")
    assert all(len(d["controllers"]) == 12 for d in ev["levels"].values()) and len(ev["levels"]) == 3
    (run / "evaluation_results.json").write_text(json.dumps(ev))
    (run / "training_metrics.json").write_text(json.dumps(train))
    seal(run)
    return run


@pytest.mark.parametrize("name", FIGS)
@pytest.mark.parametrize("case", ["quick", "worst"])
def test_no_text_overlaps_or_leaves_the_figure(name, case, tiny_run, worst_case):
    """matplotlib's own boxes of every title, label, tick label, legend entry, annotation and the
    footer: no two overlap, none leaves the canvas (on the tiny run and the stretched one)."""
    from thesis_figures import style

    fig = catalog.build(name, tiny_run if case == "quick" else worst_case)
    try:
        assert style.text_problems(fig) == []
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_the_overlap_check_sees_an_overlap():
    import matplotlib.pyplot as plt

    from thesis_figures import style

    fig, axes = style.figure(1, 2, width=2.0, height=1.5)
    axes[0, 0].set_xticks([0, 1], ["a very long tick label", "another very long one"])
    axes[0, 1].add_artist(axes[0, 1].legend(handles=axes[0, 1].plot([0, 1], label="x"), loc="center"))
    axes[0, 1].legend(handles=axes[0, 1].plot([0, 1], label="y"), loc="center")
    problems = style.text_problems(fig)
    plt.close(fig)
    assert any("overlaps" in p and "tick" in p for p in problems)
    assert any("legend 'x'" in p and "legend 'y'" in p for p in problems)


def test_every_pdf_embeds_its_fonts(tiny_run, tmp_path):
    pdffonts = shutil.which("pdffonts")
    if pdffonts is None:
        if os.environ.get("CI"):
            pytest.fail("pdffonts is missing: .ci/run installs Debian's poppler-utils")
        pytest.skip("pdffonts (poppler-utils) is not installed")
    draw_all(tiny_run, tmp_path)
    for name in FIGS:
        listing = subprocess.run([pdffonts, str(tmp_path / f"{name}.pdf")], capture_output=True, text=True,
                                 check=True).stdout.splitlines()[2:]
        assert listing, f"{name}.pdf lists no font"
        for line in listing:
            # columns: name type encoding emb sub uni object ID; "emb" must be yes for every font
            fields = line.split()
            assert fields[-5] == "yes", f"{name}.pdf does not embed {fields[0]}: {line}"
            assert "Type 3" not in line, f"{name}.pdf uses a Type 3 font: {line}"


def test_results_carry_their_schema_version_and_readers_refuse_another(tiny_run, tmp_path):
    import shutil

    from arz_rl.results import EVALUATION, SCHEMA_VERSION, TRAINING

    for name in (TRAINING, EVALUATION):
        assert json.loads((tiny_run / name).read_text())["schema_version"] == SCHEMA_VERSION
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    data = json.loads((old / EVALUATION).read_text())
    data["schema_version"] = SCHEMA_VERSION - 1
    (old / EVALUATION).chmod(0o644)
    (old / EVALUATION).write_text(json.dumps(data))
    seal(old)
    with pytest.raises(ResultsError, match=rf"results of schema {SCHEMA_VERSION - 1}; this code reads schema "
                                           rf"{SCHEMA_VERSION}: run the experiment again"):
        results.evaluation(old / EVALUATION)


def test_the_chapter_check_names_an_overfull_table_and_an_unreferenced_label(tmp_path):
    from thesis_figures.chapter import overfull_boxes, unreferenced_labels

    log = ("(./chapter.tex (./numbers.tex) [1] (/r/tables/rl_vs_baselines.tex\n"
           "Overfull \\hbox (131.74915pt too wide) in alignment at lines 9--22\n []\n)"
           "\nOverfull \\hbox (0.5pt too wide) in paragraph at lines 40--45\n")
    assert overfull_boxes(log) == ["rl_vs_baselines.tex (in alignment at lines 9--22): 131.7 pt too wide"]
    (tmp_path / "chapter.tex").write_text("See Figure~\\ref{fig:a} and Table~\\ref{tab:b}.")
    aux = tmp_path / "chapter.aux"
    aux.write_text("\\newlabel{fig:a}{{5.1}{3}}\n\\newlabel{tab:b}{{5.1}{4}}\n\\newlabel{fig:c}{{5.2}{5}}\n"
                   "\\newlabel{ch:x}{{5}{1}}\n")
    assert unreferenced_labels(aux, tmp_path) == ["fig:c"]


def test_tables_print_settings_in_words_and_align_numbers_with_a_real_minus(tiny_run, tmp_path):
    tables.all_tables(tiny_run, tmp_path)
    tuned = (tmp_path / "tuned_baselines.tex").read_text()
    assert "green\\_wave" not in tuned and "cycle " in tuned and "s/lane" in tuned
    rl = (tmp_path / "rl_vs_baselines.tex").read_text()
    assert "D{.}{.}{-1}" in rl and "\\raggedright" in rl
    assert tables.setting_text({"min_green": 15.0, "gap": 2.5, "step": 2.5, "green_wave": True}) == \
        "min. green 15 s, gap 2.5 s/lane, green wave"


@pytest.mark.parametrize("name", FIGS)
@pytest.mark.parametrize("case", ["quick", "worst"])
def test_no_figure_has_a_defect_a_reader_would_circle(name, case, tiny_run, worst_case, tmp_path):
    """Log axes labelled inside their data, no marker on an axis line, a key for every kind of
    mark, a provenance line of at least 6 pt at the printed size (style.figure_problems)."""
    import matplotlib.pyplot as plt

    from thesis_figures import style

    fig = catalog.build(name, tiny_run if case == "quick" else worst_case)
    try:
        fig.savefig(tmp_path / "f.png", dpi=50)
        from PIL import Image

        width_in = Image.open(tmp_path / "f.png").size[0] / 50
        assert style.figure_problems(fig, width_in) == []
    finally:
        plt.close(fig)


def test_the_figure_checks_catch_each_defect():
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from thesis_figures import style

    style.apply()
    fig, axes = style.figure(1, 3)
    log, edge, keyless = axes[0]
    log.plot([12, 13, 14], [12.0, 13.0, 14.0])
    log.set_yscale("log")  # 12-14 on a log axis: matplotlib labels no tick inside it
    edge.scatter([0.0, 1.0], [0.5, 0.5], s=40)
    edge.set_xlim(0.0, 1.0)  # the first point sits on the left axis line
    keyless.add_collection(LineCollection([[(0, 0), (0, 1)]], colors="#FF33FF"))
    keyless.plot([0, 1], [0, 1])
    style.add_footer(fig, "run x · commit y")
    fig._supxlabel.set_fontsize(5)
    problems = style.figure_problems(fig)
    plt.close(fig)
    assert any("log y axis has" in p for p in problems), problems
    assert any("touches the left axis line" in p for p in problems), problems
    assert any("no key" in p for p in problems), problems
    assert any("provenance line prints at 5.0 pt" in p for p in problems), problems
