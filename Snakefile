# Reinforcement-learning signal control on a two-class ARZ corridor, run as a kernel
# (this machine, Kaggle or SLURM) and turned into thesis figures.  See README.md.
import sys
from pathlib import Path

from snakemake.utils import min_version

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from kernel_runner import KernelRunnerError
from kernel_runner.config import check_config

min_version("9.0")


configfile: "config/config.yaml"


# nested --config overrides arrive as strings: typed by the schema (config/config.schema.yaml, and
# each backend's section from the backend itself) before it checks them; a refusal is one line
try:
    config.update(
        check_config(
            config,
            Path(workflow.basedir) / "config" / "config.schema.yaml",
            ["config/config.yaml", *workflow.overwrite_configfiles],
        )
    )
except KernelRunnerError as exc:
    sys.exit(f"error: {exc}")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/sync.smk"
include: "rules/kernel.smk"
include: "rules/figures.smk"
include: "rules/thesis.smk"
include: "rules/tune.smk"


# The kernel chain talks to git and to the backend (and waits): it never becomes a cluster job
# itself, even under an executor profile such as profiles/slurm.
localrules:
    all,
    sync,
    render,
    push,
    poll,
    download,
    plots,
    thesis,
    archive,


rule all:
    input:
        f"results/{config['mode']}/plots",
