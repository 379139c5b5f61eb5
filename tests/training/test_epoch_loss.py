"""train_loss is logged once per epoch and equals the clip-weighted mean of the batch losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rnnaudio.config import ModelConfig, TrainerConfig
from rnnaudio.data.datamodule import FoldDataModule
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.module import ClassificationModule
from rnnaudio.training.trainer import build_trainer


class BatchLosses(pl.Callback):
    """Each training batch's loss and size, as the loop saw them, per epoch."""

    def __init__(self) -> None:
        self.epochs: list[list[tuple[float, int]]] = []
        self.logged: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append([])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.epochs[-1].append((float(outputs["loss"]), len(batch[1])))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.logged.append(float(trainer.callback_metrics["train_loss"]))


def test_train_loss_is_the_epochs_clip_weighted_mean(tmp_path: Path) -> None:
    torch.manual_seed(0)
    features, labels = torch.randn(10, 7, 3).half(), torch.arange(10) % 2
    rows = np.arange(10)
    data = FoldDataModule(features, labels, rows, rows[:4], batch_size=4, seed=0)
    module = ClassificationModule(AudioClassifier(3, 2, ModelConfig(hidden_size=6)), 2,
                                  lr=1e-2, weight_decay=0.0)
    losses = BatchLosses()
    trainer = build_trainer(TrainerConfig(accelerator="cpu", max_epochs=3, progress=False),
                            None, [losses], tmp_path)
    trainer.fit(module, datamodule=data)
    assert [len(epoch) for epoch in losses.epochs] == [3, 3, 3]  # batches of 4, 4 and 2
    for epoch, logged in zip(losses.epochs, losses.logged, strict=True):
        expected = sum(loss * n for loss, n in epoch) / sum(n for _, n in epoch)
        assert logged == np.float32(expected) or abs(logged - expected) < 1e-6
    assert losses.logged[0] != losses.logged[-1]  # a fresh sum each epoch
