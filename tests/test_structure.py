"""The code's structure: no import circle anywhere in src/ (lazy imports inside functions included),
and the two packages each import in one direction only."""

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports, anywhere in the file (a parent package's own
    ``__init__``, which Python runs first anyway, is not counted unless named)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            # `from pkg import sub` imports the module pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(SRC.rglob("*.py"))
    modules = {module_name(p) for p in files}
    graph = {module_name(p): imports_of(p, modules) for p in files}
    # the backends' registry imports each backend's module by name, when it is used
    from kernel_runner.backends import REGISTRY

    graph["kernel_runner.backends"] |= set(REGISTRY.values())
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle_in_src():
    graph = import_graph()
    assert len(graph) > 30
    assert "arz_rl.sim.layout" in graph["arz_rl.sim.physics"]  # the walk sees relative imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_planted_circle():
    graph = import_graph()
    graph["arz_rl.sim.layout"] = graph["arz_rl.sim.layout"] | {"arz_rl.sim.simulator"}
    assert find_cycle(graph) is not None


def test_sim_kernels_import_downward_only():
    graph = import_graph()
    bottom = graph["arz_rl.sim.layout"]
    assert not {m for m in bottom if m.startswith("arz_rl.sim.")}, bottom
    for kernel in ("arz_rl.sim.scalar", "arz_rl.sim.lanes", "arz_rl.sim.torch_step"):
        assert "arz_rl.sim.simulator" not in graph[kernel], kernel


def test_the_figures_read_the_experiment_only_through_its_results_contract():
    for name, targets in import_graph().items():
        if name.startswith("thesis_figures"):
            reached = {t for t in targets if t.startswith("arz_rl")}
            assert reached <= {"arz_rl.results"}, f"{name} imports {reached - {'arz_rl.results'}}"
    contract = (SRC / "arz_rl" / "results.py").read_text()
    assert not [n for n in ast.walk(ast.parse(contract)) if isinstance(n, ast.ImportFrom) and n.level]


def test_the_experiment_and_the_runner_never_import_each_other():
    for name, targets in import_graph().items():
        if name.startswith("arz_rl"):
            assert not any(t.startswith("kernel_runner") for t in targets), name
        if name.startswith("kernel_runner"):
            assert not any(t.startswith(("arz_rl", "thesis_figures")) for t in targets), name


# -- the rules' environment ----------------------------------------------------------------------
ROOT = SRC.parent


def rule_scripts() -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Every rule with a ``script:``: the script it runs and the project modules it reaches only by
    name (a figure's drawing module, named in the figure table)."""
    import re

    scripts = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n(?=rule|    rule:|for )", text):
            name = re.match(r"(?:\s*rule:\s*name:\s*(\S+)|rule (\w+):)", block.strip("\n"))
            script = re.search(r'script:\s*"([^"]+)"', block)
            if name and script:
                path = (smk.parent / script.group(1)).resolve()
                if name.group(1) == "_figure.name":  # one rule per row of the figure table
                    from thesis_figures.catalog import FIGURES

                    scripts.update({f.name: (path, (f"thesis_figures.{f.draws.split(':')[0]}",)) for f in FIGURES})
                else:
                    scripts[name.group(1) or name.group(2)] = (path, ())
    return scripts


def third_party_imports(script: Path, by_name: tuple[str, ...] = ()) -> set[str]:
    """Top-level third-party modules the script can import: its own imports and, transitively,
    those of every project module it reaches (imports inside functions included)."""
    import sys

    graph = import_graph()
    modules = set(graph)
    todo = [*imports_of_file(script, modules), *by_name]
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(graph[mod])
    outside = set()
    for mod in seen | {None}:
        path = script if mod is None else module_path(mod)
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            outside.update(n.split(".")[0] for n in names)
    project = {m.split(".")[0] for m in modules} | {p.stem for p in script.parent.glob("*.py")}
    return {m for m in outside if m not in project and m not in sys.stdlib_module_names}


def module_path(name: str) -> Path:
    path = SRC.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports_of_file(path: Path, modules: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(t for t in (node.module, *(f"{node.module}.{a.name}" for a in node.names)) if t in modules)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    return found


def env_distributions() -> set[str]:
    import re

    import yaml

    deps = yaml.safe_load((ROOT / "envs" / "workflow.yaml").read_text())["dependencies"]
    pins = [d for d in deps if isinstance(d, str)] + [p for d in deps if isinstance(d, dict) for p in d["pip"]]
    return {re.split(r"[=<>]", p)[0].strip().lower().replace("_", "-") for p in pins}


def test_every_rule_runs_in_the_workflow_env_with_everything_it_imports():
    from importlib.metadata import packages_distributions

    scripts = rule_scripts()
    assert {"sync", "render", "push", "poll", "download", "merge", "tables", "learning_curves", "riemann"} <= set(
        scripts), sorted(scripts)
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        assert text.count("conda:") == text.count('"../envs/workflow.yaml"'), smk
    providers = packages_distributions()
    listed = env_distributions()
    for rule, (script, by_name) in scripts.items():
        for module in third_party_imports(script, by_name):
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
            if not dists:  # not installed here (an optional install): the distribution its install file names
                dists = {OPTIONAL_PROVIDERS.get(module, module)}
            assert dists & listed, f"rule {rule} imports {module} ({', '.join(sorted(dists))}): not in the env file"


#: modules of optional installs and the distribution that provides them, for a machine without them
#: (``make install`` alone): each must be pinned in its requirements file, which a test checks
OPTIONAL_PROVIDERS = {"mlflow": "mlflow-skinny"}


def test_the_optional_providers_are_the_optional_installs_pins():
    pins = (ROOT / "requirements-mlflow.txt").read_text().lower()
    for module, dist in OPTIONAL_PROVIDERS.items():
        assert re.search(rf"^{re.escape(dist)}==", pins, re.M), f"{module}: {dist} is not pinned"


def test_the_env_checker_sees_imports_behind_the_project_modules():
    scripts = rule_scripts()
    render = third_party_imports(*scripts["render"])
    assert "jinja2" in render and "torch" not in render
    assert {"kaggle", "requests"} <= third_party_imports(*scripts["push"])  # lazily, through the backends
    assert "matplotlib" in third_party_imports(*scripts["controller_comparison"])
    assert "scipy" in third_party_imports(*scripts["merge"])  # the merge's statistics, through arz_rl.stats
