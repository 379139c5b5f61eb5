"""One pass of a trained model over a loader: its loss, and for a classifier accuracy,
macro-F1 and the confusion matrix."""

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
from rnnaudio.models.sequence import next_step_nll
from rnnaudio.training.sequence_module import predicted_steps


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one split. ``loss`` is the task's loss (cross-entropy, or
    NLL per time step for a sequence model, which has no accuracy, F1 or confusion);
    ``confusion`` is ``(true, predicted)``."""

    loss: float
    accuracy: float | None = None
    macro_f1: float | None = None
    confusion: torch.Tensor | None = None

    def metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix}_loss``, and ``{prefix}_acc`` / ``{prefix}_f1`` when the task has them."""
        named = {"loss": self.loss, "acc": self.accuracy, "f1": self.macro_f1}
        return {f"{prefix}_{name}": value for name, value in named.items() if value is not None}


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
    if not logits:  # the data step refuses an empty split; this names a caller that did not
        raise ValueError("evaluate() got a loader with no batch: the split has no clip")
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)
    return Evaluation(
        loss=F.cross_entropy(all_logits, all_labels).item(),
        accuracy=multiclass_accuracy(all_logits, all_labels, n_classes, average="micro").item(),
        macro_f1=multiclass_f1_score(all_logits, all_labels, n_classes, average="macro").item(),
        confusion=multiclass_confusion_matrix(all_logits, all_labels, n_classes),
    )


@torch.no_grad()
def evaluate_sequence(model: torch.nn.Module, loader: DataLoader) -> Evaluation:
    """NLL per predicted time step over every roll of ``loader`` (batches weighted by steps)."""
    model.eval()
    device = next(model.parameters()).device
    total, steps = 0.0, 0
    for rolls, lengths in loader:
        rolls = rolls.to(device)
        batch_steps = predicted_steps(lengths)
        total += next_step_nll(model(rolls, lengths).float(), rolls, lengths).item() * batch_steps
        steps += batch_steps
    return Evaluation(loss=total / max(steps, 1))
