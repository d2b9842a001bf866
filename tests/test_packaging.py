"""What the project depends on, said once each: pyproject.toml declares the distributions the
project imports (ranges), requirements*.txt pin them (the lock), every pin is imported by the
project or says which dependency needs it, and the workflow's env pins the same versions."""

import ast
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-slurm.txt", "requirements-mlflow.txt")
#: distributions whose import name differs from theirs (when not installed here, e.g. optional ones)
IMPORT_NAMES = {"pyyaml": "yaml", "gitpython": "git", "jinja2": "jinja2", "detect-secrets": "detect_secrets",
                "stable-baselines3": "stable_baselines3", "sb3-contrib": "sb3_contrib", "mlflow-skinny": "mlflow",
                "pygments": "pygments", "scikit-learn": "sklearn"}


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ]", requirement.strip())[0].lower().replace("_", "-")


def pins(file: str) -> list[tuple[str, str, str]]:
    """(distribution, version, the comment lines right above it) of a requirements file."""
    out, comment = [], []
    for line in (ROOT / file).read_text().splitlines():
        line = line.strip()
        if line.startswith("#"):
            comment.append(line)
        elif line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            out.append((_name(name), version.strip(), " ".join(comment)))
            comment = []
        else:
            comment = []
    return out


def project_imports() -> set[str]:
    """Top-level modules imported anywhere in the project's Python (src, scripts, tests, bench)."""
    found = set()
    for folder in ("src", "scripts", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    for path in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]:  # not Python, but its imports are
        found.update(re.findall(r"^\s*(?:from|import) (\w+)", path.read_text(), re.M))
    return found


def import_names(dist: str) -> set[str]:
    from importlib.metadata import packages_distributions

    names = {mod for mod, dists in packages_distributions().items()
             if dist in {d.lower().replace("_", "-") for d in dists}}
    return names or {IMPORT_NAMES.get(dist, dist.replace("-", "_"))}


def test_every_pin_is_imported_or_says_who_needs_it():
    imported = project_imports()
    for file in LOCKS:
        for dist, version, comment in pins(file):
            assert version, f"{file}: {dist} is not pinned (==)"
            if import_names(dist) & imported:
                continue
            assert "needed by:" in comment, (f"{file}: {dist} is imported nowhere in the project: say above it "
                                             "'# needed by: <who>' or drop it")


def test_pyproject_declares_what_the_lock_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(d) for d in project["dependencies"]}
    locked = {d for d, _, _ in pins("requirements.txt")}
    assert declared == locked | {"torch"}, (declared ^ (locked | {"torch"}))
    optional = project["optional-dependencies"]
    for extra, file in (("slurm", "requirements-slurm.txt"), ("mlflow", "requirements-mlflow.txt")):
        assert {_name(d) for d in optional[extra]} == {d for d, _, _ in pins(file)}, extra


def test_the_workflow_env_pins_the_same_versions():
    deps = yaml.safe_load((ROOT / "envs" / "workflow.yaml").read_text())["dependencies"]
    env = dict(p.split("==") for d in deps if isinstance(d, dict) for p in d["pip"])
    env = {_name(k): v for k, v in env.items()}
    lock = {d: v for file in LOCKS for d, v, _ in pins(file)}
    for dist, version in env.items():
        assert lock.get(dist) == version, f"envs/workflow.yaml pins {dist}=={version}, the lock {lock.get(dist)}"


def test_seaborn_draws_a_figure():
    """seaborn is pinned because a figure uses it (the per-seed points of the comparison)."""
    users = [p for p in (ROOT / "src" / "thesis_figures").glob("*.py") if re.search(r"^import seaborn",
                                                                                     p.read_text(), re.M)]
    assert users, "seaborn is pinned but no figure module imports it"
