from thesis_figures.figures import learning_curves

learning_curves(f"{snakemake.input[0]}/training_metrics.json", snakemake.output.pdf, snakemake.output.png)  # noqa: F821
