import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.catalog import draw

draw(snakemake.rule, snakemake.input.run, snakemake.output.pdf, snakemake.output.png, snakemake.log[0])  # noqa: F821
