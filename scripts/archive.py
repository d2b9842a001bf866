import _project  # noqa: F401  (this repository's src/ first on sys.path)

from kernel_runner.steps import pack_archive

pack_archive(snakemake.wildcards.mode, snakemake.params.runs, snakemake.params.root,  # noqa: F821
             snakemake.output.archive, snakemake.output.checksum, snakemake.output.metadata,  # noqa: F821
             snakemake.params.settings, log=snakemake.log[0])  # noqa: F821
