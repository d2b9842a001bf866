from pathlib import Path

import _project  # noqa: F401  (this repository's src/ first on sys.path)

from kernel_runner.steps import render

render(sync_file=Path(snakemake.input.sync), template_dir=Path(snakemake.params.templates),  # noqa: F821
       out_dir=Path(snakemake.output.script).parent, run=snakemake.params.run,  # noqa: F821
       metadata=snakemake.params.metadata, check=snakemake.params.check, log=snakemake.log[0])  # noqa: F821
