"""The LightningModule: cross-entropy, AdamW, accuracy and macro-F1 from torchmetrics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from rnnaudio.data.datamodule import Batch, unpack_batch
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.manual_step import ManualStepModule


class ClassificationModule(ManualStepModule):
    """Trains an :class:`AudioClassifier` on batches ``(features (B, time, F), labels (B,))``
    or ``(features, labels, lengths (B,))``; with lengths, padding never reaches the logits."""

    def __init__(
        self, model: AudioClassifier, n_classes: int, lr: float, weight_decay: float,
        gradient_clip_val: float | None = None,
    ) -> None:
        super().__init__(gradient_clip_val)
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.val_acc = MulticlassAccuracy(num_classes=n_classes, average="micro")
        self.val_f1 = MulticlassF1Score(num_classes=n_classes, average="macro")

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(features, lengths)

    def batch_loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        features, labels, lengths = unpack_batch(batch)
        return F.cross_entropy(self.model(features, lengths), labels), len(labels)

    def validation_step(self, batch: Batch, _: int) -> None:
        features, labels, lengths = unpack_batch(batch)
        logits = self.model(features, lengths)
        self.val_acc(logits, labels)
        self.val_f1(logits, labels)
        batch_size = len(labels)
        self.log("val_loss", F.cross_entropy(logits, labels), on_epoch=True, batch_size=batch_size)
        self.log("val_acc", self.val_acc, on_epoch=True, batch_size=batch_size)
        self.log("val_f1", self.val_f1, on_epoch=True, batch_size=batch_size)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
