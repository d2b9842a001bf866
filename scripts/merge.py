from thesis_figures.results import merge_runs

merge_runs(list(snakemake.input), snakemake.output[0])  # noqa: F821
