"""Lightning's metrics into a run the harness opened: one MLflow request per epoch.

Lightning's ``MLFlowLogger`` sends every ``log_metrics`` call as its own request, and an
epoch with validation makes two at the same step: the validation metrics when validation
ends, then the training metrics when the epoch ends. It also fetches the run when a fit
starts, and fetches and ends it (FINISHED or FAILED) when the fit ends, though the
harness's own run context ends the run, after the fold's figures and checkpoint. Each
request costs a multi-worker sweep's loopback server 5-10 ms of CPU beside the trials,
and a remote tracking server a round trip inside the training loop.

:class:`RunLogger` gathers the calls of one step and sends them as one batch, stamped
with the time of the first: when the next epoch starts
(:class:`~rnnaudio.training.callbacks.FlushEachEpoch`, which ``build_trainer`` adds), when
a call comes at another step, and when the fit ends or fails. It never changes the run's
status.
"""

from __future__ import annotations

import logging
import time
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from mlflow.tracking import MlflowClient
from pytorch_lightning.loggers import Logger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker

log = logging.getLogger(__name__)


class RunLogger(Logger):
    """Logs a fit's metrics and hyperparameters to ``run_id``, one batch per step."""

    def __init__(self, tracker: RunTracker, run_id: str) -> None:
        super().__init__()
        self.tracker = tracker
        self.run_id = run_id
        self._pending: dict[str, float] = {}
        self._step = 0
        self._logged_at = 0  # ms: when the pending step's first call came

    @property
    def name(self) -> str:
        return self.tracker.experiment_id

    @property
    def version(self) -> str:
        return self.run_id

    @property
    @rank_zero_experiment
    def experiment(self) -> MlflowClient:
        return self.tracker.client

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        values = vars(params) if isinstance(params, Namespace) else params
        if values:
            self.tracker.log_params(self.run_id, flatten(values))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        step = step or 0
        if self._pending and step != self._step:
            self.flush()
        if not self._pending:
            self._logged_at = int(time.time() * 1000)
        self._pending.update(metrics)
        self._step = step

    @rank_zero_only
    def flush(self) -> None:
        """Sends what was logged since the last flush, as one batch."""
        # Taken before sending: a batch is sent once, even if Ctrl-C lands during the send.
        pending, self._pending = self._pending, {}
        if pending:
            self.tracker.log_metrics(self.run_id, pending, self._step, self._logged_at)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if status == "success":
            self.flush()
            return
        # Lightning finalizes a failed or interrupted fit inside its own except block: the
        # last epoch's metrics help explain it, but a failure to send them must not replace
        # the error (or the Ctrl-C) that ended the fit.
        try:
            self.flush()
        except Exception as error:
            log.warning("metrics of run %s's last epoch were not sent: %s", self.run_id, error)
