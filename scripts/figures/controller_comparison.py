from thesis_figures.figures import controller_comparison

controller_comparison(f"{snakemake.input.run}/evaluation_results.json",  # noqa: F821
                      snakemake.output.pdf, snakemake.output.png)  # noqa: F821
