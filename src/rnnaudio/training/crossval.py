"""k-fold cross-validation: one tracked fit per speaker-disjoint fold of train+validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from rnnaudio.config import Config
from rnnaudio.data.datamodule import FoldDataModule
from rnnaudio.data.prepare import LabelledFeatures
from rnnaudio.models.classifier import AudioClassifier, count_parameters
from rnnaudio.models.sizing import resolve_hidden_size
from rnnaudio.tracking.run_logger import RunLogger
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.callbacks import EpochHistory
from rnnaudio.training.diagnostics import GradFlowProbe, classify_with_attention, log_grad_flow
from rnnaudio.training.evaluate import Evaluation, evaluate
from rnnaudio.training.figures import attention_figure, confusion_figure, learning_curves_figure
from rnnaudio.training.module import ClassificationModule
from rnnaudio.training.trainer import build_trainer


@dataclass(frozen=True)
class FoldResult:
    """The best checkpoint of one fold, evaluated on that fold's validation clips."""

    fold: int
    run_id: str
    evaluation: Evaluation
    best_epoch: int
    epochs_run: int
    checkpoint: Path
    n_params: int
    hidden_size: int


def build_model(cfg: Config, data: LabelledFeatures, train_rows: np.ndarray) -> AudioClassifier:
    """A fresh classifier whose normalisation comes from the training rows alone.

    ``model.hidden_size=auto`` is resolved here, where the feature and class counts are known.
    """
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    model_cfg = resolve_hidden_size(cfg.model, data.n_features, len(data.classes))
    model = AudioClassifier(data.n_features, len(data.classes), model_cfg)
    model.set_normalization(*data.statistics(train_rows))
    return model


@dataclass(frozen=True)
class Fit:
    """What a fit leaves: each epoch's logged metrics and its best checkpoint."""

    epochs: list[dict[str, float]]
    checkpoint: Path
    best_epoch: int


def fit_early_stopped(
    cfg: Config,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    tracker: RunTracker,
    run_id: str,
    fold_dir: Path,
    extra_callbacks: Sequence[pl.Callback] = (),
) -> Fit:
    """Fits until ``val_loss`` stops improving, logging to run ``run_id``, then loads the
    best checkpoint back into ``module``. Every task's module logs its loss as ``val_loss``."""
    history = EpochHistory()
    best = ModelCheckpoint(dirpath=fold_dir, filename="best", monitor="val_loss", mode="min")
    stop = EarlyStopping(monitor="val_loss", patience=cfg.trainer.early_stopping_patience)
    logger = RunLogger(tracker, run_id)
    trainer = build_trainer(cfg.trainer, logger, [history, best, stop, *extra_callbacks],
                            fold_dir)
    trainer.fit(module, datamodule=datamodule)
    module.load_state_dict(torch.load(best.best_model_path, weights_only=False)["state_dict"])
    best_epoch = int(min(history.epochs, key=lambda row: row["val_loss"])["epoch"])
    return Fit(history.epochs, Path(best.best_model_path), best_epoch)


def fit_fold(
    cfg: Config,
    data: LabelledFeatures,
    rows: tuple[np.ndarray, np.ndarray],
    fold: int,
    tracker: RunTracker,
    run_id: str,
    fold_dir: Path,
) -> FoldResult:
    """Trains on ``rows[0]``, early-stops on ``rows[1]``, logs everything to run ``run_id``."""
    train_rows, val_rows = rows
    model = build_model(cfg, data, train_rows)
    module = ClassificationModule(
        model, len(data.classes), lr=cfg.trainer.lr, weight_decay=cfg.trainer.weight_decay,
        gradient_clip_val=cfg.trainer.gradient_clip_val,
    )
    datamodule = FoldDataModule(
        data.features, data.labels, train_rows, val_rows, cfg.trainer.batch_size, cfg.seed,
        lengths=data.lengths, augment=data.augment,
        steps_per_execution=cfg.trainer.steps_per_execution,
    )
    probe = _grad_flow_probe(cfg, data, val_rows)
    fit = fit_early_stopped(cfg, module, datamodule, tracker, run_id, fold_dir,
                            [] if probe is None else [probe])
    evaluation = evaluate(module.model, datamodule.val_dataloader(), len(data.classes))
    result = FoldResult(fold, run_id, evaluation, fit.best_epoch, len(fit.epochs),
                        fit.checkpoint, count_parameters(model), model.encoder.hidden_size)
    log_fold(tracker, result, fit.epochs, data.classes)
    if probe is not None:
        log_grad_flow(tracker, run_id, probe.norms, f"fold {fold}")
    _log_attention(cfg, tracker, result, module.model, data, val_rows)
    return result


def _grad_flow_probe(
    cfg: Config, data: LabelledFeatures, val_rows: np.ndarray
) -> GradFlowProbe | None:
    if not cfg.diagnostics.grad_flow:
        return None
    rows = spread(val_rows, cfg.diagnostics.batch_size)  # the same clips at every point
    lengths = None if data.lengths is None else data.lengths[rows]
    return GradFlowProbe(data.features[rows].float(), data.labels[rows], cfg.diagnostics.epochs,
                         lengths)


def _log_attention(
    cfg: Config, tracker: RunTracker, result: FoldResult, model: AudioClassifier,
    data: LabelledFeatures, val_rows: np.ndarray,
) -> None:
    """Attention weights of the best checkpoint on a few of the fold's validation clips."""
    rows = spread(val_rows, cfg.diagnostics.attention_clips)
    if cfg.model.attention == "none" or len(rows) == 0:
        return
    features = data.features[rows].float()
    lengths = None if data.lengths is None else data.lengths[rows]
    logits, weights = classify_with_attention(model, features, lengths)
    assert weights is not None  # every attention but "none" has weights
    paths = data.manifest["path"].to_numpy()
    names = [
        f"{data.classes[int(data.labels[row])]}, predicted {data.classes[int(predicted)]}: "
        f"{Path(paths[row]).parent.name}/{Path(paths[row]).name}"
        for row, predicted in zip(rows, logits.argmax(dim=-1), strict=True)
    ]
    normalized = (features - model.feature_mean.cpu()) / model.feature_std.cpu()
    figure = attention_figure(normalized, weights, names,
                              f"fold {result.fold}, {cfg.model.attention}")
    tracker.log_figure(result.run_id, figure, "figures/attention.png")


def spread(rows: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows evenly spaced over ``rows`` (all of them if fewer): clips are listed by
    class, so this samples across classes, and the same rows come every time."""
    if n >= len(rows):
        return rows
    return rows[np.linspace(0, len(rows) - 1, n).round().astype(int)]


def log_fold(
    tracker: RunTracker, result: FoldResult, epochs: list[dict[str, float]],
    classes: list[str] | None,
) -> None:
    """The fold's best-checkpoint metrics, size, curves, checkpoint (and confusion matrix,
    for a classifier: ``classes`` is None for a sequence model)."""
    ev = result.evaluation
    tracker.log_metrics(result.run_id, {
        **ev.metrics("best_val"),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
    })
    tracker.log_params(result.run_id, {"n_params": result.n_params,
                                       "model.hidden_size_resolved": result.hidden_size})
    title = f"fold {result.fold}"
    if ev.confusion is not None and classes is not None:
        tracker.log_figure(result.run_id, confusion_figure(ev.confusion, classes, title),
                           "figures/confusion_matrix.png")
    tracker.log_figure(result.run_id, learning_curves_figure(epochs, title),
                       "figures/learning_curves.png")
    tracker.log_file(result.run_id, result.checkpoint, "checkpoints")
