"""Diagnostics of a fit: how the loss gradient reaches each frame, where attention looks.

The origin document's central problem is the vanishing gradient: through a tanh recurrence,
dLoss/dx_t shrinks geometrically with the distance from t to where the loss reads the
states. :func:`input_gradient_norms` measures that decay on real clips, :class:`GradFlowProbe`
measures it during a fit, and :func:`log_grad_flow` records it so that runs compare.
"""

from __future__ import annotations

import copy
import math
import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from mlflow.entities import Metric

from rnnaudio.models.classifier import AudioClassifier, Classified
from rnnaudio.models.pooling import time_mask
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.figures import grad_flow_figure


def input_gradient_norms(
    model: AudioClassifier,
    features: torch.Tensor,
    labels: torch.Tensor,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-frame gradient norms ``(time,)``: the mean over clips of ||dl_i/dx_{i,t}||.

    ``features`` ``(batch, time, n_features)`` are raw; x is the normalised features (what
    the front end and the recurrence read) and l_i is clip i's cross-entropy for ``labels``
    ``(batch,)``. With ``lengths`` ``(batch,)`` each frame's mean is over the clips it lies
    within, and the series ends at the longest clip. The model is copied, put in eval mode
    (no dropout) and promoted to float64: a tanh RNN loses some 70 decades over 300 frames,
    which float32 would flush to zero. The model itself is untouched.
    """
    probe = copy.deepcopy(model).double().eval()
    device = next(probe.parameters()).device
    features, labels = features.to(device, torch.float64), labels.to(device)
    lengths = None if lengths is None else lengths.to(device)
    # cuDNN refuses the backward pass of an RNN in eval mode; the native kernels do not.
    with torch.enable_grad(), torch.autocast(device.type, enabled=False), \
            torch.backends.cudnn.flags(enabled=False):
        x = probe.normalize(features).detach().requires_grad_(True)
        logits = probe.classify(x, lengths).logits
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, labels, reduction="sum"), x)
    norms = grad.norm(dim=-1)
    if lengths is None:
        return norms.mean(dim=0).cpu()
    frames = int(lengths.max())  # past the longest clip no frame is valid: no value to give
    norms = norms[:, :frames]
    valid = time_mask(lengths, frames).to(norms.dtype)
    return ((norms * valid).sum(dim=0) / valid.sum(dim=0)).cpu()


def decay_log10(norms: torch.Tensor) -> float:
    """log10 of the mean norm over the first tenth of the frames over that of the last tenth.

    About 0 when the gradient reaches early frames as strongly as late ones; -k when it
    arrives k decades weaker (a vanishing gradient under last-state pooling).
    """
    window = max(1, len(norms) // 10)
    early, late = norms[:window].mean().item(), norms[-window:].mean().item()
    if late == 0.0:
        return math.nan
    return math.log10(early / late) if early > 0.0 else -math.inf


class GradFlowProbe(pl.Callback):
    """Measures :func:`input_gradient_norms` on fixed clips at chosen points of a fit.

    ``epochs`` counts completed training epochs: 0 is the untrained model (measured as the
    first epoch starts), ``e`` the model after ``e`` epochs, and -1 the model at the end of
    the fit, however many epochs early stopping allowed; a point the fit never reaches is
    skipped. ``norms`` maps ``epoch<e>`` (and ``final``) to a ``(time,)`` tensor.
    ``features`` ``(batch, time, n_features)``, ``labels`` and ``lengths`` ``(batch,)``.
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        epochs: list[int],
        lengths: torch.Tensor | None = None,
    ) -> None:
        self.features = features
        self.labels = labels
        self.lengths = lengths
        self.epochs = set(epochs)
        self.norms: dict[str, torch.Tensor] = {}

    def _measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, label: str) -> None:
        if trainer.is_global_zero and label not in self.norms:
            self.norms[label] = input_gradient_norms(
                pl_module.model, self.features, self.labels, self.lengths
            )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch in self.epochs:
            self._measure(trainer, pl_module, f"epoch{trainer.current_epoch}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # current_epoch now counts every completed epoch, which no epoch start has seen.
        completed = trainer.current_epoch
        if completed in self.epochs:
            self._measure(trainer, pl_module, f"epoch{completed}")
        if -1 in self.epochs:
            self._measure(trainer, pl_module, "final")


def log_grad_flow(tracker: RunTracker, run_id: str, norms: dict[str, torch.Tensor],
                  title: str) -> None:
    """Metric series ``grad_flow/<point>`` (step = frame), the summaries
    ``grad_flow_log10_ratio/<point>`` (:func:`decay_log10`), and ``figures/grad_flow.png``."""
    if not norms:
        return
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(f"grad_flow/{label}", float(value), stamp, step)
        for label, series in norms.items()
        for step, value in enumerate(series.tolist())
    ]
    metrics += [
        Metric(f"grad_flow_log10_ratio/{label}", decay_log10(series), stamp, 0)
        for label, series in norms.items()
    ]
    tracker.log_metric_points(run_id, metrics)
    tracker.log_figure(run_id, grad_flow_figure(norms, title), "figures/grad_flow.png")


@torch.no_grad()
def classify_with_attention(
    model: AudioClassifier, features: torch.Tensor, lengths: torch.Tensor | None = None
) -> Classified:
    """Logits ``(batch, n_classes)`` and attention weights over time ``(batch, time)`` (None
    without attention) for raw ``features`` ``(batch, time, n_features)``, in eval mode,
    as float32 on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        normalized = model.normalize(features.to(device))
        lengths = None if lengths is None else lengths.to(device)
        logits, weights = model.classify(normalized, lengths, need_weights=True)
    finally:
        model.train(was_training)
    return Classified(logits.float().cpu(), None if weights is None else weights.float().cpu())
