"""Third-party notices that repeat once per fit or per run and drown what a user must read."""

from __future__ import annotations

import os
import warnings


def quiet_third_party() -> None:
    """Called by the command line and by every spawned sweep worker."""
    # Lightning 2.6 trips torch's own deprecation of its pytree API on every fit.
    warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")
    # Heartbeats and Optuna's matplotlib plots are stable in use but still flagged.
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    # MLflow prints a "View run ... at: http://..." line for every run it ends through a
    # server; the command prints the one UI command that matters at the end.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
