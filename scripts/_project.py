"""Imported first by every rule's script: this repository's ``src/`` goes first on ``sys.path``, so
the rules run this project's packages in any environment (the .venv, a conda env of envs/) without
installing them there.  Snakemake puts this folder on the path of every script it runs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
