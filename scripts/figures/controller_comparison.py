from thesis_figures.figures import controller_comparison
from thesis_figures.results import provenance

run = snakemake.input.run  # noqa: F821
controller_comparison(f"{run}/evaluation_results.json", snakemake.output.pdf, snakemake.output.png,  # noqa: F821
                      provenance(run))
