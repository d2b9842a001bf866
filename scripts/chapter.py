import _project  # noqa: F401  (this repository's src/ first on sys.path)

from thesis_figures.chapter import build

build(snakemake.params.sources, snakemake.input.numbers, snakemake.params.figures, snakemake.input.tables,  # noqa: F821
      snakemake.output[0], epoch=snakemake.params.epoch, log=snakemake.log[0])  # noqa: F821
