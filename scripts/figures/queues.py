from thesis_figures.results import provenance
from thesis_figures.spacetime import queues

run = snakemake.input.run  # noqa: F821
queues(run, snakemake.output.pdf, snakemake.output.png, provenance(run))  # noqa: F821
