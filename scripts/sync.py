from pathlib import Path

import _project  # noqa: F401  (this repository's src/ first on sys.path)

from kernel_runner.steps import sync

p = snakemake.params  # noqa: F821
sync(root=Path(p.root), output=Path(snakemake.output[0]), paths=p.paths, exclude=p.exclude, extra=p.extra,  # noqa: F821
     expected_hash=p.content_hash, remote=p.remote, push=p.push, log=snakemake.log[0])  # noqa: F821
