"""The error that stops a sweep: its trials keep failing."""


class SweepFailedError(RuntimeError):
    """Trials keep failing: the setup, not the trial's point of the space, is broken."""
