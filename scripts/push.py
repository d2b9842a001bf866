from pathlib import Path

import _project  # noqa: F401  (this repository's src/ first on sys.path)

from kernel_runner.steps import push

push(kernel_dir=Path(snakemake.input.script).parent, run_file=Path(snakemake.input.run),  # noqa: F821
     output=Path(snakemake.output[0]), backend=snakemake.params.backend,  # noqa: F821
     settings=snakemake.params.settings, log=snakemake.log[0])  # noqa: F821
