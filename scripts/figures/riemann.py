from thesis_figures.results import provenance
from thesis_figures.spacetime import riemann

run = snakemake.input.run  # noqa: F821
riemann(f"{run}/validation", snakemake.output.pdf, snakemake.output.png, provenance(run))  # noqa: F821
