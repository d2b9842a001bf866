from thesis_figures.tables import all_tables

all_tables(snakemake.input.run, snakemake.output[0])  # noqa: F821
