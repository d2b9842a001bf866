import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.tables import all_tables

all_tables(snakemake.input.run, snakemake.output[0], log=snakemake.log[0])  # noqa: F821
