import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.results import merge_runs

merge_runs(list(snakemake.input.parts), snakemake.output[0], log=snakemake.log[0])  # noqa: F821
