from thesis_figures.figures import learning_curves

learning_curves(f"{snakemake.input.run}/training_metrics.json", snakemake.output.pdf, snakemake.output.png)  # noqa: F821
