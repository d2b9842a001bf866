import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.numbers import write

write(snakemake.input.run, snakemake.output.tex, snakemake.output.json, log=snakemake.log[0])  # noqa: F821
