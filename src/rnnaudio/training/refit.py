"""The last step of model selection: refit the chosen config on all of train+validation
for a fixed number of epochs, then evaluate it once on the held-out test split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytorch_lightning as pl

from rnnaudio.config import Config
from rnnaudio.data.datamodule import FoldDataModule, batch_loader
from rnnaudio.data.prepare import labelled_features
from rnnaudio.tracking.run_logger import RunLogger
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.crossval import build_model
from rnnaudio.training.evaluate import Evaluation, evaluate
from rnnaudio.training.figures import confusion_figure
from rnnaudio.training.module import ClassificationModule
from rnnaudio.training.trainer import build_trainer


def epochs_to_best(best_epochs: list[int]) -> int:
    """Epochs for the refit: the mean over folds of the epochs their best checkpoints took."""
    return max(1, round(sum(epoch + 1 for epoch in best_epochs) / len(best_epochs)))


def refit_and_test(
    cfg: Config, epochs: int, tracker: RunTracker, run_id: str, work_dir: Path
) -> Evaluation:
    """Trains on every non-test clip (or chorale) for ``epochs`` epochs (no early stopping:
    there is no validation data left), logs to ``run_id``, and returns the test-split
    evaluation, whose metrics are logged as ``test_*``."""
    if cfg.dataset.is_sequence:
        from rnnaudio.training.sequence_fit import refit_sequence_and_test

        return refit_sequence_and_test(cfg, epochs, tracker, run_id, work_dir)
    cfg.dataset.check_test_split("the refit")  # callers check first; this before its epochs
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=cfg.trainer.progress,
                             augment=cfg.augment)
    split = data.manifest["split"].to_numpy()
    train_rows, test_rows = np.flatnonzero(split != "test"), np.flatnonzero(split == "test")
    model = build_model(cfg, data, train_rows)
    module = ClassificationModule(model, len(data.classes), lr=cfg.trainer.lr,
                                  weight_decay=cfg.trainer.weight_decay,
                                  gradient_clip_val=cfg.trainer.gradient_clip_val)
    datamodule = FoldDataModule(data.features, data.labels, train_rows, train_rows[:0],
                                cfg.trainer.batch_size, cfg.seed, lengths=data.lengths,
                                augment=data.augment,
                                steps_per_execution=cfg.trainer.steps_per_execution)
    fit_all(cfg, epochs, module, datamodule, tracker, run_id, work_dir)
    test_loader = batch_loader(data.features, data.labels, test_rows, cfg.trainer.batch_size,
                               lengths=data.lengths)
    result = evaluate(module.model, test_loader, len(data.classes))
    tracker.log_metrics(run_id, {**result.metrics("test"), "test_clips": len(test_rows)})
    assert result.confusion is not None  # a classifier's evaluation has one
    tracker.log_figure(run_id, confusion_figure(result.confusion, data.classes, "test split"),
                       "figures/test_confusion_matrix.png")
    return result


def fit_all(
    cfg: Config, epochs: int, module: pl.LightningModule, datamodule: pl.LightningDataModule,
    tracker: RunTracker, run_id: str, work_dir: Path,
) -> None:
    """Exactly ``epochs`` epochs with no validation loop; the checkpoint goes to the run."""
    trainer_cfg = dataclasses.replace(cfg.trainer, max_epochs=epochs)
    logger = RunLogger(tracker, run_id)
    trainer = build_trainer(trainer_cfg, logger, [], work_dir, validate=False)
    trainer.fit(module, datamodule)
    trainer.save_checkpoint(work_dir / "refit.ckpt")
    tracker.log_file(run_id, work_dir / "refit.ckpt", "checkpoints")
