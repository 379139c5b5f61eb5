"""The LightningModule for next-step prediction of piano rolls: NLL per time step, AdamW."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch

from rnnaudio.models.sequence import NextStepModel, next_step_nll

RollBatch = tuple[torch.Tensor, torch.Tensor]


def pad_rolls(rolls: list[np.ndarray]) -> RollBatch:
    """Rolls ``(T_i, K)`` to a zero-padded float batch ``(B, T_max, K)`` and ``lengths (B,)``.

    Usable as a ``DataLoader`` ``collate_fn`` over a list of rolls.
    """
    if not rolls:
        raise ValueError("pad_rolls needs at least one roll")
    lengths = torch.tensor([len(roll) for roll in rolls], dtype=torch.long)
    batch = torch.zeros(len(rolls), int(lengths.max()), rolls[0].shape[1])
    for i, roll in enumerate(rolls):
        batch[i, : len(roll)] = torch.as_tensor(roll, dtype=torch.float32)
    return batch, lengths


def predicted_steps(lengths: torch.Tensor) -> int:
    """Time steps scored in a batch: each roll of length ``L`` predicts ``L - 1`` frames."""
    return int((lengths - 1).clamp(min=0).sum())


class NextStepModule(pl.LightningModule):
    """Trains a :class:`NextStepModel` on batches ``(rolls (B, T, K) float, lengths (B,))``.

    ``train_nll`` and ``val_nll`` are nats per time step; each batch is weighted by its
    number of predicted steps, so the epoch value is the NLL per step over the whole split.
    """

    def __init__(self, model: NextStepModel, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay

    def forward(self, rolls: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(rolls, lengths)

    def _nll(self, batch: RollBatch) -> tuple[torch.Tensor, int]:
        rolls, lengths = batch
        return next_step_nll(self.model(rolls, lengths), rolls, lengths), predicted_steps(lengths)

    def training_step(self, batch: RollBatch, _: int) -> torch.Tensor:
        nll, steps = self._nll(batch)
        self.log("train_nll", nll, on_step=False, on_epoch=True, batch_size=max(steps, 1))
        return nll

    def validation_step(self, batch: RollBatch, _: int) -> None:
        nll, steps = self._nll(batch)
        self.log("val_nll", nll, on_epoch=True, batch_size=max(steps, 1))

    def test_step(self, batch: RollBatch, _: int) -> None:
        nll, steps = self._nll(batch)
        self.log("test_nll", nll, on_epoch=True, batch_size=max(steps, 1))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
