"""The training loss of an epoch, summed in the module and logged once per epoch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class EpochTrainLoss(pl.LightningModule):
    """Logs ``train_loss`` as the weighted mean over the epoch, on its last batch only.

    ``self.log`` on every step costs Lightning 0.5-0.8 ms of CPU (its result collection
    walks the metric's state each call): 5-10 % of a small model's step
    (``bench/overhead.py``). A running sum in a tensor costs one add and no host sync.
    """

    def on_train_epoch_start(self) -> None:
        self._loss_sum = torch.zeros((), device=self.device)
        self._weight = 0

    def add_train_loss(self, loss: torch.Tensor, weight: int) -> None:
        """Adds ``loss`` (a mean over ``weight`` clips or steps) to the epoch's mean."""
        self._loss_sum.add_(loss.detach(), alpha=weight)  # in place: no Module.__setattr__
        self._weight += weight

    def log_train_loss(self) -> None:
        """Logs the epoch's mean once its last batch is in; call it after every training
        step (a batch, or a group of them)."""
        if self.trainer.is_last_batch:
            self.log("train_loss", self._loss_sum / max(self._weight, 1), on_step=False,
                     on_epoch=True, batch_size=1)
