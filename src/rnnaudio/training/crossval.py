"""k-fold cross-validation: one tracked fit per speaker-disjoint fold of train+validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger

from rnnaudio.config import Config
from rnnaudio.data.datamodule import FoldDataModule
from rnnaudio.data.features import feature_statistics
from rnnaudio.data.prepare import LabelledFeatures
from rnnaudio.models.classifier import AudioClassifier, count_parameters
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.callbacks import EpochHistory
from rnnaudio.training.evaluate import Evaluation, evaluate
from rnnaudio.training.figures import confusion_figure, learning_curves_figure
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


def build_model(cfg: Config, data: LabelledFeatures, train_rows: np.ndarray) -> AudioClassifier:
    """A fresh classifier whose normalisation comes from the training rows alone."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    model = AudioClassifier(data.n_features, len(data.classes), cfg.model)
    model.set_normalization(*feature_statistics(data.features[train_rows]))
    return model


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
        model, len(data.classes), lr=cfg.trainer.lr, weight_decay=cfg.trainer.weight_decay
    )
    datamodule = FoldDataModule(
        data.features, data.labels, train_rows, val_rows, cfg.trainer.batch_size, cfg.seed
    )
    history = EpochHistory()
    best = ModelCheckpoint(dirpath=fold_dir, filename="best", monitor="val_loss", mode="min")
    stop = EarlyStopping(monitor="val_loss", patience=cfg.trainer.early_stopping_patience)
    logger = MLFlowLogger(tracking_uri=tracker.uri, run_id=run_id)
    trainer = build_trainer(cfg.trainer, logger, [history, best, stop], fold_dir)
    trainer.fit(module, datamodule=datamodule)

    module.load_state_dict(torch.load(best.best_model_path, weights_only=False)["state_dict"])
    evaluation = evaluate(module.model, datamodule.val_dataloader(), len(data.classes))
    epochs = history.epochs
    best_epoch = int(min(epochs, key=lambda row: row["val_loss"])["epoch"])
    result = FoldResult(fold, run_id, evaluation, best_epoch, len(epochs),
                        Path(best.best_model_path), count_parameters(model))
    _log_fold(tracker, result, epochs, data.classes)
    return result


def _log_fold(
    tracker: RunTracker, result: FoldResult, epochs: list[dict[str, float]], classes: list[str]
) -> None:
    ev = result.evaluation
    tracker.log_metrics(result.run_id, {
        "best_val_loss": ev.loss,
        "best_val_acc": ev.accuracy,
        "best_val_f1": ev.macro_f1,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
    })
    tracker.log_params(result.run_id, {"n_params": result.n_params})
    title = f"fold {result.fold}"
    tracker.log_figure(result.run_id, confusion_figure(ev.confusion, classes, title),
                       "figures/confusion_matrix.png")
    tracker.log_figure(result.run_id, learning_curves_figure(epochs, title),
                       "figures/learning_curves.png")
    tracker.log_file(result.run_id, result.checkpoint, "checkpoints")
