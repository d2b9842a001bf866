"""Thesis figures and tables from a run's downloaded results (never from a kernel directly)."""

__version__ = "0.1.0"


class ResultsError(ValueError):
    """A results file is missing, malformed or implausible; the message names the file and the field."""
