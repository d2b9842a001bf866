import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.study import write_best

write_best(snakemake.input.parts, snakemake.output[0], log=snakemake.log[0])  # noqa: F821
