import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.tracking import track_all

p = snakemake.params  # noqa: F821
track_all(list(snakemake.input.parts), list(snakemake.input.figures) + [snakemake.input.tables],  # noqa: F821
          p.settings["tracking_uri"], p.settings["experiment"], snakemake.output[0], log=snakemake.log[0])  # noqa: F821
