# Reinforcement-learning signal control on a two-class ARZ corridor, run as a kernel
# (this machine, Kaggle or SLURM) and turned into thesis figures.  See README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/sync.smk"
include: "rules/kernel.smk"
include: "rules/figures.smk"


rule all:
    input:
        f"results/{config['mode']}/plots",
