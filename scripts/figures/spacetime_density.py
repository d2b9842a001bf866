from thesis_figures.results import provenance
from thesis_figures.spacetime import hovmoller

run = snakemake.input.run  # noqa: F821
hovmoller(run, "rho", snakemake.output.pdf, snakemake.output.png, provenance(run))  # noqa: F821
