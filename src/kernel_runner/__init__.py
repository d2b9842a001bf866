"""Runs the experiment's kernel somewhere (this machine, Kaggle, a SLURM cluster) and brings its
outputs back verified.  Knows git, templates and backends; knows nothing of traffic: it reaches
the experiment only through the command line written into the rendered kernel."""

__version__ = "0.1.0"


class KernelRunnerError(RuntimeError):
    """A failure the user can act on; its message says what happened and what to do.  ``outcome``
    says how a run's wait ended when it did (failed, cancelled, deadline), else None."""

    def __init__(self, message: str, outcome: str | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
