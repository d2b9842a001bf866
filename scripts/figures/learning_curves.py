from thesis_figures.figures import learning_curves
from thesis_figures.results import provenance

run = snakemake.input.run  # noqa: F821
learning_curves(f"{run}/training_metrics.json", snakemake.output.pdf, snakemake.output.png, provenance(run))  # noqa: F821
