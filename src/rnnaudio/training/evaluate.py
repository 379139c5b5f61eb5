"""One pass of a trained model over a loader: loss, accuracy, macro-F1, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

from rnnaudio.data.datamodule import unpack_batch


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one set of clips; ``confusion`` is ``(true, predicted)``."""

    loss: float
    accuracy: float
    macro_f1: float
    confusion: torch.Tensor


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, n_classes: int) -> Evaluation:
    """Mean cross-entropy and the classification metrics over every batch of ``loader``.

    Batches are ``(features, labels)`` or ``(features, labels, lengths)``.
    """
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    for batch in loader:
        features, batch_labels, lengths = unpack_batch(batch)
        lengths = None if lengths is None else lengths.to(device)
        logits.append(model(features.to(device), lengths).float().cpu())
        labels.append(batch_labels)
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)
    return Evaluation(
        loss=F.cross_entropy(all_logits, all_labels).item(),
        accuracy=multiclass_accuracy(all_logits, all_labels, n_classes, average="micro").item(),
        macro_f1=multiclass_f1_score(all_logits, all_labels, n_classes, average="macro").item(),
        confusion=multiclass_confusion_matrix(all_logits, all_labels, n_classes),
    )
