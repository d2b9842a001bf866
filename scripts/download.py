from pathlib import Path

import _project  # noqa: F401  (this repository's src/ first on sys.path)

from kernel_runner.steps import download

download(launch_file=Path(snakemake.input.launch), complete_file=Path(snakemake.input.complete),  # noqa: F821
         output=Path(snakemake.output[0]), backend=snakemake.params.backend,  # noqa: F821
         settings=snakemake.params.settings, state=snakemake.params.state, log=snakemake.log[0])  # noqa: F821
