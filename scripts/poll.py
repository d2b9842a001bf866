from pathlib import Path

import _project  # noqa: F401  (this repository's src/ first on sys.path)

from kernel_runner.steps import poll

poll(launch_file=Path(snakemake.input.launch), output=Path(snakemake.output[0]),  # noqa: F821
     backend=snakemake.params.backend, settings=snakemake.params.settings,  # noqa: F821
     interval=snakemake.params.interval, deadline=snakemake.params.deadline,  # noqa: F821
     progress_log_s=snakemake.params.progress_log, notify_settings=snakemake.params.notify,  # noqa: F821
     root=Path(snakemake.params.root), continuation=snakemake.params.continuation,  # noqa: F821
     log=snakemake.log.status, kernel_log=snakemake.log.kernel)  # noqa: F821
