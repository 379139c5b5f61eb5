"""Lightning's metrics into a run the harness opened: one MLflow request per epoch.

Lightning's ``MLFlowLogger`` sends every ``log_metrics`` call as its own request, and an
epoch makes two at the same step: the validation metrics when validation ends, then the
training metrics when the epoch ends. It also asks for the run when it starts and marks it
FINISHED when the fit ends, though the harness's own run context ends the run, after the
fold's figures and checkpoint are logged. Each request costs a multi-worker sweep's
loopback server 5-10 ms of CPU beside the trials, and a remote tracking server a round
trip inside the training loop.

:class:`RunLogger` gathers the calls of one step and sends them as one batch when the
next epoch starts (:class:`FlushEachEpoch`), when a call comes at another step, and when
the fit ends or fails, so the UI shows each epoch as soon as it ends. It never changes the
run's status.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from mlflow.tracking import MlflowClient
from pytorch_lightning.loggers import Logger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker


class RunLogger(Logger):
    """Logs a fit's metrics and hyperparameters to ``run_id``, one batch per step."""

    def __init__(self, tracker: RunTracker, run_id: str) -> None:
        super().__init__()
        self.tracker = tracker
        self.run_id = run_id
        self._pending: dict[str, float] = {}
        self._step = 0

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
        self._pending.update(metrics)
        self._step = step

    @rank_zero_only
    def flush(self) -> None:
        """Sends what was logged since the last flush, as one batch."""
        if self._pending:
            self.tracker.log_metrics(self.run_id, self._pending, step=self._step)
            self._pending = {}

    @rank_zero_only
    def finalize(self, status: str) -> None:
        # Also on a failed or interrupted fit: its last epochs are what explains it.
        self.flush()


class FlushEachEpoch(pl.Callback):
    """Flushes every :class:`RunLogger` when an epoch starts: the last epoch's training
    metrics, which Lightning logs after every ``on_train_epoch_end`` hook, are then in."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, RunLogger):
                logger.flush()
