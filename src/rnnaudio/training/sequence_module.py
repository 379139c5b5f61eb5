"""The LightningModule for next-step prediction of piano rolls: NLL per time step, AdamW."""

from __future__ import annotations

import torch

from rnnaudio.data.rolls import RollBatch
from rnnaudio.models.sequence import NextStepModel, next_step_nll
from rnnaudio.training.manual_step import ManualStepModule


def predicted_steps(lengths: torch.Tensor) -> int:
    """Time steps scored in a batch: each roll of length ``L`` predicts ``L - 1`` frames."""
    return int((lengths - 1).clamp(min=0).sum())


class NextStepModule(ManualStepModule):
    """Trains a :class:`NextStepModel` on batches ``(rolls (B, T, K) float, lengths (B,))``.

    The task's loss is the NLL in nats per time step, logged as ``train_loss``, ``val_loss``
    and ``test_loss`` (the names every fit monitors); each batch is weighted by its number
    of predicted steps, so the epoch value is the NLL per step over the whole split.
    """

    def __init__(
        self, model: NextStepModel, lr: float, weight_decay: float,
        gradient_clip_val: float | None = None,
    ) -> None:
        super().__init__(gradient_clip_val)
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay

    def forward(self, rolls: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(rolls, lengths)

    def batch_loss(self, batch: RollBatch) -> tuple[torch.Tensor, int]:
        rolls, lengths = batch
        return next_step_nll(self.model(rolls, lengths), rolls, lengths), predicted_steps(lengths)

    def validation_step(self, batch: RollBatch, _: int) -> None:
        nll, steps = self.batch_loss(batch)
        self.log("val_loss", nll, on_epoch=True, batch_size=max(steps, 1))

    def test_step(self, batch: RollBatch, _: int) -> None:
        nll, steps = self.batch_loss(batch)
        self.log("test_loss", nll, on_epoch=True, batch_size=max(steps, 1))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
