"""The ``sequence`` task's fold fit and refit: next-step prediction of piano rolls.

The same k-fold protocol as the classifiers (:func:`rnnaudio.training.crossval.fit_early_stopped`,
:func:`rnnaudio.training.refit.fit_all`); only the data, the model and the evaluation differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl

from rnnaudio.config import Config, ModelConfig
from rnnaudio.data.rolls import PianoRolls, RollDataModule, piano_rolls, roll_loader
from rnnaudio.models.classifier import count_parameters
from rnnaudio.models.sequence import NextStepModel, matched_hidden_size
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.crossval import FoldResult, fit_early_stopped, log_fold
from rnnaudio.training.evaluate import Evaluation, evaluate_sequence
from rnnaudio.training.refit import fit_all
from rnnaudio.training.sequence_module import NextStepModule


def sequence_hidden_size(cfg: ModelConfig, n_keys: int) -> int:
    """``model.hidden_size``, or with ``auto`` the size closest to ``model.param_budget``
    (Chung et al. compared the cells at matched parameter counts)."""
    if cfg.hidden_size != "auto":
        return int(cfg.hidden_size)
    assert cfg.param_budget is not None  # ModelConfig refuses auto without a budget
    return matched_hidden_size(cfg.cell, cfg.param_budget, n_keys, cfg.num_layers)


def build_sequence_model(cfg: Config, n_keys: int) -> NextStepModel:
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    hidden = sequence_hidden_size(cfg.model, n_keys)
    return NextStepModel(n_keys, cfg.model.cell, hidden, cfg.model.num_layers, cfg.model.dropout)


def _module(cfg: Config, model: NextStepModel) -> NextStepModule:
    return NextStepModule(model, lr=cfg.trainer.lr, weight_decay=cfg.trainer.weight_decay,
                          gradient_clip_val=cfg.trainer.gradient_clip_val)


def fit_sequence_fold(
    cfg: Config,
    data: PianoRolls,
    rows: tuple[np.ndarray, np.ndarray],
    fold: int,
    tracker: RunTracker,
    run_id: str,
    fold_dir: Path,
) -> FoldResult:
    """Trains on the chorales ``rows[0]``, early-stops on ``rows[1]``, logs to ``run_id``."""
    model = build_sequence_model(cfg, data.n_keys)
    module = _module(cfg, model)
    datamodule = RollDataModule(data, rows[0], rows[1], cfg.trainer.batch_size, cfg.seed,
                                cfg.trainer.steps_per_execution)
    fit = fit_early_stopped(cfg, module, datamodule, tracker, run_id, fold_dir)
    evaluation = evaluate_sequence(model, datamodule.val_dataloader())
    result = FoldResult(fold, run_id, evaluation, fit.best_epoch, len(fit.epochs),
                        fit.checkpoint, count_parameters(model), model.encoder.hidden_size)
    log_fold(tracker, result, fit.epochs, classes=None)
    return result


def refit_sequence_and_test(
    cfg: Config, epochs: int, tracker: RunTracker, run_id: str, work_dir: Path
) -> Evaluation:
    """Refits on the train+validation chorales and logs the test NLL per time step as
    ``test_loss`` and ``test_nll``."""
    data = piano_rolls(cfg.dataset)
    train_rows, test_rows = data.rows("train", "validation"), data.rows("test")
    model = build_sequence_model(cfg, data.n_keys)
    module = _module(cfg, model)
    datamodule = RollDataModule(data, train_rows, train_rows[:0], cfg.trainer.batch_size,
                                cfg.seed, cfg.trainer.steps_per_execution)
    fit_all(cfg, epochs, module, datamodule, tracker, run_id, work_dir)
    result = evaluate_sequence(model, roll_loader(data, test_rows, cfg.trainer.batch_size))
    tracker.log_metrics(run_id, {**result.metrics("test"), "test_nll": result.loss,
                                 "test_sequences": len(test_rows)})
    return result
