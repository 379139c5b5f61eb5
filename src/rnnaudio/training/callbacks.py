"""Lightning callbacks the harness adds to every fit."""

from __future__ import annotations

import pytorch_lightning as pl


class EpochHistory(pl.Callback):
    """Keeps each epoch's logged metrics (``train_loss``, ``val_loss``, ...) for the curves.

    Validation runs inside the training epoch, so at ``on_train_epoch_end`` both the
    training and the validation values of the epoch are in ``callback_metrics``.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = {name: float(value) for name, value in trainer.callback_metrics.items()}
        self.epochs.append({"epoch": float(trainer.current_epoch), **row})


class FlushEachEpoch(pl.Callback):
    """Sends what a buffering logger holds (:class:`~rnnaudio.tracking.run_logger.RunLogger`)
    when an epoch starts: by then Lightning has logged the last epoch's training metrics,
    which come after every ``on_train_epoch_end`` hook."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for logger in trainer.loggers:
            flush = getattr(logger, "flush", None)
            if callable(flush):
                flush()
