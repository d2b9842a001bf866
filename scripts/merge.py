import _project  # noqa: F401  (this repository's src/ first on sys.path)

from arz_rl.merge import merge_runs
from thesis_figures.logs import logged

parts, out = list(snakemake.input.parts), snakemake.output[0]  # noqa: F821
with logged(snakemake.log[0], f"merge of {len(parts)} runs into {out}"):  # noqa: F821
    merge_runs(parts, out)
    print(f"merged {len(parts)} runs into {out}")
