"""Every command of the README's ``bash`` blocks, run as written (or as a dry run, ``-n``, where a
real run is a full thesis run), on a copy of this repository: a command the README shows works."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, TINY, make_repo

from arz_rl.config import build_config


def readme_commands() -> list[str]:
    """The commands of every ```bash block, without comments, in the README's order."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", text, re.S | re.M):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(re.sub(r"\s+#.*$", "", line))
    return commands


def readme_files() -> list[tuple[str | None, str]]:
    """(path, text) of every ```yaml block of the README; path: the block's first line when it is a
    comment naming a file (``# /tmp/medium.yaml``), which the README's commands then use."""
    text = (REPO / "README.md").read_text()
    out = []
    for block in re.findall(r"^ *```yaml\n(.*?)^ *```", text, re.S | re.M):
        first = block.splitlines()[0].strip() if block.strip() else ""
        path = first[1:].strip() if first.startswith("#") and first[1:].strip().endswith((".yaml", ".yml")) else None
        out.append((path, block))
    return out


def test_every_readme_yaml_block_parses():
    blocks = readme_files()
    assert any(path for path, _ in blocks), "the README names no config file it shows"
    for path, block in blocks:
        try:
            data = yaml.safe_load(block)
        except yaml.YAMLError as exc:
            pytest.fail(f"README yaml block {path or block[:60]!r} is not valid YAML: {exc}")
        assert isinstance(data, dict), path
        if "mode" in data:  # a file of run parameters (python -m arz_rl.run --config): a valid run
            build_config(data["mode"], {k: v for k, v in data.items() if k != "mode"})


def test_the_readme_opens_with_the_two_set_up_commands():
    commands = readme_commands()
    assert commands[:2] == ["make quick", "make test"]
    assert len(commands) >= 8


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    for path, block in readme_files():  # the files the README's commands name
        if path:
            Path(path).write_text(block)
    """A copy whose config has the tests' sizes (the commands stay as written), run once, so that
    the commands that read results (the report) have them."""
    r = make_repo(tmp_path_factory.mktemp("readme"))
    config = yaml.safe_load((r / "config" / "config.yaml").read_text())
    for key, value in yaml.safe_load(TINY.read_text()).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    (r / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    snake = [sys.executable, "-m", "snakemake"]
    out = subprocess.run([*snake, "--cores", "1", "results/quick/plots"], cwd=r, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return r


def _environment(tmp_path):
    """A newcomer's: no Kaggle credentials anywhere (a dry run plans a Kaggle run without them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    return {**env, "KAGGLE_CONFIG_DIR": str(tmp_path / "no-kaggle-config")}


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_works_as_written(repo, tmp_path, request, command):
    args = shlex.split(command)
    if args[0] == "make":  # the set-up commands: what they would run (they install and run it all)
        out = subprocess.run(["make", "-n", *args[1:]], cwd=repo, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        expected = {"quick": "snakemake --cores 1 results/quick/plots", "test": "python -m pytest -q",
                    "install-mlflow": "requirements-mlflow.txt"}[args[1]]
        assert expected in out.stdout
        return
    assert args[0] == "snakemake", f"the README shows a command this test does not know how to run: {command}"
    if "--profile" in args and "profiles/slurm" in args:
        if os.environ.get("ARZ_REQUIRE_SLURM") != "1":
            pytest.importorskip("snakemake_executor_plugin_slurm", reason="make install-slurm")
        request.getfixturevalue("slurm_cluster")  # the executor plugin asks the controller at start
    dry = "--report" not in args  # the report is built for real, from the results above
    if not dry and "results/full/" in command:
        pytest.fail(f"{command}: the README shows a report of a full run, which this test cannot build")
    if "mlflow='{enabled: true}'" in command:  # a real run: MLflow logs the quick run
        if os.environ.get("ARZ_REQUIRE_MLFLOW") != "1":
            pytest.importorskip("mlflow", reason="MLflow is an optional install: make install-mlflow")
        dry = False
    cmd = [sys.executable, "-m", "snakemake", *args[1:], *(["-n"] if dry else [])]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900, env=_environment(tmp_path))
    assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    if dry:
        assert "This was a dry-run" in out.stdout + out.stderr or "Nothing to be done" in out.stdout + out.stderr
    if "backend=kaggle" in command:  # planned without credentials, and said what a real run needs
        assert "note: a real run on Kaggle needs your Kaggle credentials" in out.stderr, out.stderr[-2000:]
