"""End-to-end: the real snakemake on a temporary git copy of this repository (local backend)."""

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_helpers import (
    REPO,
    git,
    launches,
    make_repo,
    planned_rules,
    runs,
    snakemake,
    snakemake_cmd,
    start_snakemake,
    wait_until_polling,
)

pytestmark = pytest.mark.slow
FIGURES = ("learning_curves", "controller_comparison", "sensitivity", "ablation", "spacetime_density",
           "spacetime_speed", "queues", "riemann")
FIGURE_RULES = sorted([*FIGURES, "tables", "plots"])
CHAIN = sorted(["sync", "render", "push", "poll", "download", *FIGURE_RULES])
PLOTS = "results/quick/plots"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    r = make_repo(tmp_path_factory.mktemp("wf"))
    out = snakemake(r, PLOTS)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return r


def test_chain_produces_plots_from_one_verified_launch(repo):
    names = sorted(p.name for p in (repo / PLOTS).iterdir() if not p.name.startswith("."))
    assert names == sorted(f"{f}.{e}" for f in FIGURES for e in ("pdf", "png"))
    assert all((repo / PLOTS / n).stat().st_size > 1000 for n in names)
    tables = sorted(p.name for p in (repo / "results" / "quick" / "tables").iterdir() if not p.name.startswith("."))
    assert {"controller_performance.csv", "controller_performance.tex", "rl_vs_baselines.csv", "hyperparameters.tex",
            "riemann_validation.csv", "sanity_checks.csv"} <= set(tables)
    (run,) = runs(repo)
    assert len(launches(run)) == 1
    sync = json.loads((run / "sync.json").read_text())
    summary = json.loads((run / "output" / "session_summary.json").read_text())
    nonce = json.loads((run / "launch.json").read_text())["nonce"]
    assert summary["commit"] == sync["sha"]
    assert summary["head"] == sync["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-list", "--count", sync["sha"]).strip() == "1"  # the snapshot carries no history
    assert summary["nonce"] == nonce and summary["status"] == "complete"
    assert summary["parameters"]["timesteps"] == {"ppo": 128, "dqn": 150}  # echoed back
    kernel_log = (run / "logs" / "kernel.log").read_text()
    assert f"SESSION_COMPLETE {nonce}" in kernel_log
    assert "Invalid value for environment variable" not in kernel_log  # no OMP_NUM_THREADS=0 from the rule
    raw = json.loads((run / "output" / "kernel.log.json").read_text())
    assert {"stream_name", "time", "data"} <= set(raw[0])
    # every log a rule declares says at least what it did
    logs = sorted((repo / "results").rglob("*.log"))
    assert len(logs) >= 10 and not [p for p in logs if p.stat().st_size == 0], [p for p in logs if not p.stat().st_size]


def test_the_download_carries_results_and_leaves_the_resume_state_behind(repo):
    """A quick run's download is its results (<= 10 MB); the checkpoints and replay buffers (one
    DQN buffer alone is ~110 MB) are listed in the manifest and stay in the kernel's folder."""
    (run,) = runs(repo)
    output = run / "output"
    files = [p for p in output.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert size <= 10e6, f"{size / 1e6:.1f} MB downloaded"
    assert not (output / "state").exists()
    listed = json.loads((output / "session_summary.json").read_text())["files"]
    state = {name: meta for name, meta in listed.items() if name.startswith("state/")}
    assert any("replay_buffer" in name for name in state) and any(n.startswith("state/checkpoints/") for n in state)
    assert sum(meta["bytes"] for meta in state.values()) > 10 * size  # what stayed behind is the bulk
    assert {"training_metrics.json", "evaluation_results.json"} <= set(listed) and len(files) > len(listed) - len(state)
    assert "the resume state (state/) stayed behind" in (run / "logs" / "download.log").read_text()


def test_second_invocation_does_nothing(repo):
    t0 = time.perf_counter()
    assert planned_rules(repo, PLOTS) == []
    assert time.perf_counter() - t0 < 10


def test_figure_or_readme_edits_rerun_only_figures(repo):
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nedited\n")
    assert planned_rules(repo, PLOTS) == []
    with (repo / "src" / "thesis_figures" / "learning_curves.py").open("a") as fh:
        fh.write("# restyled\n")
    assert planned_rules(repo, PLOTS) == ["learning_curves", "plots"]
    with (repo / "src" / "thesis_figures" / "style.py").open("a") as fh:
        fh.write("# restyled\n")
    assert planned_rules(repo, PLOTS) == FIGURE_RULES
    out = snakemake(repo, PLOTS)
    assert out.returncode == 0, out.stderr[-2000:]
    assert planned_rules(repo, PLOTS) == []


def test_experiment_edit_reruns_the_chain_once_without_moving_the_branch(repo):
    head = git(repo, "rev-parse", "HEAD").strip()
    (old,) = runs(repo)
    old_summary = (old / "output" / "session_summary.json").read_bytes()
    with (repo / "src" / "arz_rl" / "run.py").open("a") as fh:
        fh.write("# an experiment change\n")
    assert planned_rules(repo, PLOTS) == CHAIN
    out = snakemake(repo, PLOTS)
    assert out.returncode == 0, out.stderr[-3000:]
    assert planned_rules(repo, PLOTS) == []
    new = [r for r in runs(repo) if r != old]
    assert len(new) == 1 and len(launches(new[0])) == 1
    sync = json.loads((new[0] / "sync.json").read_text())
    assert git(repo, "rev-parse", "HEAD").strip() == head  # no auto-commit on the branch
    assert sync["head"] == head and sync["snapshotted_changes"] == ["src/arz_rl/run.py"]
    assert "an experiment change" in git(repo, "show", f"{sync['sha']}:src/arz_rl/run.py")
    assert (old / "output" / "session_summary.json").read_bytes() == old_summary


def test_device_switch_keeps_both_results(repo):
    before = set(runs(repo))
    assert planned_rules(repo, PLOTS, "--config", "device=cpu") == CHAIN
    out = snakemake(repo, PLOTS, "--config", "device=cpu")
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(set(runs(repo)) - before) == 1
    # back to the default device: its results are reused, only the figures are redrawn
    assert planned_rules(repo, PLOTS) == FIGURE_RULES


def test_bad_config_value_fails_before_anything_runs(repo):
    out = snakemake(repo, PLOTS, "--config", "device=tpu")
    assert out.returncode != 0
    assert "device" in out.stderr and "tpu" in out.stderr


def test_failing_experiment_fails_the_workflow_and_keeps_earlier_results(repo):
    plots_before = {p.name: p.read_bytes() for p in (repo / PLOTS).glob("*.p*")}
    run_py = repo / "src" / "arz_rl" / "run.py"
    original = run_py.read_text()
    broken = "    started = time.time()\n    raise RuntimeError('broken experiment 42')\n"
    run_py.write_text(original.replace("    started = time.time()\n", broken, 1))
    try:
        out = snakemake(repo, PLOTS)
    finally:
        run_py.write_text(original)
    assert out.returncode != 0
    assert "broken experiment 42" in out.stderr
    assert "failed" in out.stderr
    failed = [r for r in runs(repo) if not (r / "complete.json").exists()]
    assert len(failed) == 1
    assert not (failed[0] / "output").exists()
    assert "SESSION_COMPLETE" not in (failed[0] / "logs" / "kernel.log").read_text()
    assert {p.name: p.read_bytes() for p in (repo / PLOTS).glob("*.p*")} == plots_before


def test_sigint_during_poll_resumes_the_same_launch(tmp_path):
    repo = make_repo(tmp_path)
    proc = start_snakemake(repo, PLOTS)
    wait_until_polling(repo)
    os.killpg(proc.pid, signal.SIGINT)
    text = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode != 0, text[-4000:]
    assert "run the same snakemake command again to resume" in text
    (run,) = runs(repo)
    assert not (run / "complete.json").exists()
    out = snakemake(repo, PLOTS)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(launches(run)) == 1
    assert (repo / PLOTS / "learning_curves.pdf").exists()


def test_lint_and_format_are_clean():
    lint = subprocess.run(snakemake_cmd("--lint", config=None), cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    fmt = subprocess.run([str(Path(os.sys.executable).parent / "snakefmt"), "--check", "."], cwd=REPO,
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stderr


# appended to a copy of the report: opens the figure named in the URL's fragment the way a click on
# it does (its caption in the side panel, the image in the main one) and, once the image has
# loaded, writes its pixel size on <body> for --dump-dom to read
OPEN_FIGURE = """<style>* { transition: none !important; }</style>  <!-- colours as they end, not mid-fade -->
<script>
// WCAG's contrast ratio of an element's text against what lies behind it: its own and its
// ancestors' backgrounds composited, translucent ones included, over the white page
function rgba(css) {
  var v = css.match(/[\\d.]+/g).map(Number);
  return v.length < 4 ? v.concat([1]) : v;
}
function luminance(c) {
  var lin = c.slice(0, 3).map(function (x) {
    x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}
function contrast(el) {
  var layers = [];
  for (var node = el; node; node = node.parentElement) layers.push(rgba(getComputedStyle(node).backgroundColor));
  var back = [255, 255, 255];
  for (var i = layers.length - 1; i >= 0; i--) {
    var a = layers[i][3];
    back = [0, 1, 2].map(function (k) { return layers[i][k] * a + back[k] * (1 - a); });
  }
  var text = luminance(rgba(getComputedStyle(el).color)), ground = luminance(back);
  return ((Math.max(text, ground) + 0.05) / (Math.min(text, ground) + 0.05)).toFixed(2);
}
var opening = setInterval(function () {
  if (typeof app === "undefined") return;  // React has not mounted the app yet
  clearInterval(opening);
  var path = decodeURIComponent(location.hash.slice(1));
  app.setView({navbarMode: "resultinfo", content: "img", contentPath: results[path].data_uri, resultPath: path});
  var loading = setInterval(function () {
    var img = document.querySelector("#app img[src^='data:image/png']");
    if (img && img.complete) {
      clearInterval(loading);
      document.body.setAttribute("data-figure", img.naturalWidth + "x" + img.naturalHeight);
      document.body.setAttribute("data-caption-contrast", contrast(document.querySelector("#app .prose")));
    }
  }, 50);
}, 50);
</script>"""


def test_report_renders_in_headless_chromium(repo, tmp_path):
    """Every figure's page of the HTML report, opened in headless Chromium: the image loaded and is
    not blank on the screenshot, and the caption states the run, its commit, n and the test."""
    from matplotlib.image import imread

    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    out = snakemake(repo, "--report", "results/quick/report.html")
    assert out.returncode == 0, out.stderr[-2000:]
    report = repo / "results" / "quick" / "report.html"
    assert report.stat().st_size > 100_000  # self-contained: the figures are embedded
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    for category in ("Training", "Evaluation", "Traffic dynamics", "Validation", "Tables"):
        assert category in dom, category  # the app rendered its menu from the embedded data
    harness = tmp_path / "report.html"
    head, tail = report.read_text().rsplit("</body>", 1)  # the last: a script of the report holds one too
    harness.write_text(head + OPEN_FIGURE + "</body>" + tail)
    # earlier tests leave other runs (a cpu run, an edited experiment, a failed one): the caption
    # names the commit of one that completed
    summaries = [json.loads(p.read_text())
                 for p in (repo / "results" / "quick" / "runs").glob("*/output/session_summary.json")]
    run_of_commit = {s["commit"][:10]: s["run_id"] for s in summaries}
    shots = {}
    for figure in FIGURES:
        page = f"{harness.as_uri()}#results/quick/figures/{figure}.png"
        dom = subprocess.run([chromium, *flags, "--dump-dom", page], capture_output=True, text=True,
                             timeout=120).stdout
        size = re.search(r'data-figure="(\d+)x(\d+)"', dom)
        assert size and int(size[1]) > 500 and int(size[2]) > 200, f"{figure}: the image did not load"
        caption = re.sub(r"<[^>]+>", " ", dom)
        ratio = re.search(r'data-caption-contrast="([\d.]+)"', dom)
        # WCAG's enhanced level for body text (7:1); Snakemake's own grey on grey is 4.5:1
        assert ratio and float(ratio[1]) >= 7, f"{figure}: caption contrast {ratio and ratio[1]}:1, under WCAG's 7:1"
        params = re.search(r"Job parameters(.{0,600}?)/\*\*", caption, re.S)  # up to the next script
        assert params and re.search(r"draws=\d+", params[1]) and "{" not in params[1], \
            f"{figure}: the job parameters are not plain values: {params and params[1]}"
        named = re.search(r"commit ([0-9a-f]{10})", caption)
        assert named and named[1] in run_of_commit, f"{figure}: the caption names no commit of a run"
        assert run_of_commit[named[1]] in caption, figure
        if figure != "riemann":  # the solver's validation has no seeds or draws
            assert re.search(r"\b1 (training seeds|test draws)", caption), f"{figure}: the caption states no n"
        if figure in ("controller_comparison", "sensitivity"):
            assert "paired t-test at seed level" in caption and "Holm" in caption, figure
        shot = tmp_path / f"{figure}.png"
        subprocess.run([chromium, *flags, "--window-size=1400,1000", f"--screenshot={shot}", page],
                       capture_output=True, timeout=120)
        pixels = imread(shot)[:, 560:, :3]  # the main panel, right of the side panel with the caption
        inked = (pixels.mean(axis=2) < 0.8).mean()
        assert inked > 0.01 and pixels.std() > 0.05, f"{figure}: the screenshot of its page is blank ({inked:.3%} ink)"
        shots[figure] = pixels
    for a, b in itertools.combinations(FIGURES, 2):  # each page shows its own figure
        assert np.abs(shots[a] - shots[b]).mean() > 0.005, f"the pages of {a} and {b} look the same"


def test_an_optuna_study_of_two_parallel_kernels_feeds_the_runs_that_ask_for_it(repo):
    """`results/tune/best.yaml`: two local kernels run one trial each on one Optuna journal; the
    verdict is the better of the two; a mode in tune.apply_to then runs with those settings."""
    workers = "tune={workers: 2, apply_to: [quick]}"
    assert planned_rules(repo, "results/tune/best.yaml", "--config", workers) == sorted(
        [*["sync", "render", "push", "poll", "download"] * 2, "tune_best"])
    out = snakemake(repo, "results/tune/best.yaml", "--config", workers)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (journal,) = (repo / "results" / "tune" / "studies").glob("*.journal")
    records = [json.loads((r / "output" / "tuning.json").read_text()) for r in runs(repo, "tune")]
    assert len(records) == 2 and {r["journal"] for r in records} == {str(journal)}
    trials = {t["number"]: t for r in records for t in r["trials"] if t["state"] == "COMPLETE"}
    assert set(trials) == {0, 1}
    best = yaml.safe_load((repo / "results" / "tune" / "best.yaml").read_text())
    assert best["value"] == min(t["value"] for t in trials.values()) and best["completed_trials"] == 2
    assert best["scored_on"].startswith("validation draws") and "never the cloned one" in best["scored_on"]
    # quick takes the study's settings: a new run, whose parameters say where they came from
    assert planned_rules(repo, PLOTS, "--config", workers) == CHAIN
    assert not {"sync", "render", "push", "poll", "download"} & set(planned_rules(repo, PLOTS))  # without apply_to,
    # the runs so far stand
    dry = snakemake(repo, PLOTS, "-n", "--config", workers)
    (run,) = set(re.findall(r"results/quick/runs/([a-z]+-[a-z]+-[0-9a-f]{12})/kernel/run\.json", dry.stdout))
    target = f"results/quick/runs/{run}/kernel/run.json"
    out = snakemake(repo, target, "--config", workers)  # rendered, not launched
    assert out.returncode == 0, out.stderr[-3000:]
    parameters = json.loads((repo / target).read_text())["parameters"]
    assert parameters["tuned_from"]["file"] == "results/tune/best.yaml"
    assert parameters["tuned_from"]["trial"] == best["trial"]
    assert parameters["decision_interval"] == best["parameters"]["decision_interval"]
    assert parameters["timesteps"] == {"ppo": 128, "dqn": 150}  # what the mode's own config says still wins,
    assert parameters["ppo"]["n_steps"] == 64 and parameters["ppo"]["n_epochs"] == 2  # key by key:
    assert parameters["ppo"]["learning_rate"] == best["parameters"]["ppo"]["learning_rate"]  # the rest is tuned


TOY_BACKEND = '''"""A toy backend for the extension test: the local backend under another name."""

from .local import LocalBackend


class ToyBackend(LocalBackend):
    name = "toy"
    settings_schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def launch(self, kernel_dir, run_dir):
        return {**super().launch(kernel_dir, run_dir), "backend": self.name}


BACKEND = ToyBackend
'''


@pytest.mark.slow
def test_a_new_backend_is_one_file_and_one_registry_line(tmp_path):
    """The README's promise: a backend is a module and a line in the registry; no rule, profile or
    schema names it.  A copy of the repository gets a toy backend that way and runs the chain."""
    repo = make_repo(tmp_path / "repo")
    (repo / "src" / "kernel_runner" / "backends" / "toy.py").write_text(TOY_BACKEND)
    registry = repo / "src" / "kernel_runner" / "backends" / "__init__.py"
    text = registry.read_text()
    line = '    "slurm": "kernel_runner.backends.slurm",\n'
    assert line in text
    registry.write_text(text.replace(line, line + '    "toy": "kernel_runner.backends.toy",\n'))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a toy backend")
    for folder in ("rules", "profiles"):  # and nothing there names a backend
        for path in (repo / folder).rglob("*"):
            if path.is_file():
                assert not re.search(r"\b(kaggle|slurm_jobs|kaggle_gpu)\b", path.read_text()), path
    out = snakemake(repo, PLOTS, "--config", "backend=toy")
    assert out.returncode == 0, out.stderr[-3000:]
    (run,) = [r for r in runs(repo) if r.name.startswith("toy-")]
    assert launches(run)[0]["backend"] == "toy" and (repo / PLOTS).is_dir()
