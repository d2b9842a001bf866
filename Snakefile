# Reinforcement-learning signal control on a two-class ARZ corridor, run as a kernel
# (this machine, Kaggle or SLURM) and turned into thesis figures.  See README.md.
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from kernel_runner.overrides import coerce

min_version("9.0")


configfile: "config/config.yaml"


# nested --config overrides arrive as strings: typed by the schema before it checks them
config.update(
    coerce(
        config,
        yaml.safe_load(
            (Path(workflow.basedir) / "config" / "config.schema.yaml").read_text()
        ),
    )
)


validate(config, "config/config.schema.yaml")


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
