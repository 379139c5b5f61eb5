"""``rnnaudio train``: compose -> data -> k tracked fold fits -> summary. Returns the metrics.

This is the one function a sweep calls for a trial, so it takes a validated config and
returns numbers; printing is the command line's business.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnaudio.config import Config
from rnnaudio.data.folds import cv_folds, fold_names, fold_scheme, predefined_folds
from rnnaudio.data.prepare import LabelledFeatures, labelled_features
from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.crossval import FoldResult, fit_fold


@dataclass(frozen=True)
class TrainResult:
    """Every fold's result, their summary, and where the runs were recorded.

    ``stopped_early`` is True when the fold hook ended the CV before the last fold (a
    pruned sweep trial): ``summary`` then covers the folds that ran.
    """

    parent_run_id: str
    folds: list[FoldResult]
    summary: dict[str, float]
    ui_command: str
    stopped_early: bool = False


def summarize(folds: list[FoldResult]) -> dict[str, float]:
    """Mean and standard deviation over folds of each validation metric the task has
    (``cv_val_loss_*``; for a classifier also ``cv_val_acc_*``, ``cv_val_f1_*``).

    The std is the population one (ddof=0), as scikit-learn's ``cv_results_``: the k folds
    are the whole of the data, not a sample, and a pruned trial's single fold gets 0, not NaN."""
    per_fold = [f.evaluation.metrics("val") for f in folds]
    summary: dict[str, float] = {}
    for name in per_fold[0]:
        values = [metrics[name] for metrics in per_fold]
        summary[f"cv_{name}_mean"] = float(np.mean(values))
        summary[f"cv_{name}_std"] = float(np.std(values))
    return summary


def data_summary(data: LabelledFeatures) -> dict[str, int | str]:
    """Clip counts per split, the bad files skipped and how the folds were made, logged
    beside the config so a run says what it saw."""
    counts = data.manifest["split"].value_counts()
    predefined = predefined_folds(data.manifest)
    return {
        "data.clips": len(data.manifest),
        **{f"data.{split}_clips": int(n) for split, n in counts.items()},
        "data.classes": len(data.classes),
        "data.speakers": int(data.manifest["speaker"].nunique()),
        **data.report.params(),
        "cv.scheme": fold_scheme(data.manifest),
        **({"cv.predefined_folds": ",".join(map(str, predefined))} if predefined else {}),
    }


# Called after each fold with that fold and all so far; returning True stops the CV early.
FoldHook = Callable[[FoldResult, list[FoldResult]], bool]
FitFold = Callable[..., FoldResult]


@dataclass(frozen=True)
class TaskData:
    """What the CV loop needs from a task: its data, folds and their names, the counts to
    log, and the function that fits one fold (``fit_fold``'s signature)."""

    data: Any
    folds: list[tuple[np.ndarray, np.ndarray]]
    fold_names: list[str]
    params: dict[str, int | str]
    fit_fold: FitFold
    data_report: str | None = None  # the skipped-files report, as JSON (audio corpora)


def task_data(cfg: Config) -> TaskData:
    """Classification reads clips into features; the sequence task reads piano rolls."""
    if cfg.dataset.is_sequence:
        from rnnaudio.data.rolls import piano_rolls, roll_folds
        from rnnaudio.training.sequence_fit import fit_sequence_fold

        rolls = piano_rolls(cfg.dataset)
        folds = roll_folds(rolls, cfg.cv.folds, cfg.seed)
        return TaskData(rolls, folds, [str(i) for i in range(len(folds))], rolls.summary(),
                        fit_sequence_fold)
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=cfg.trainer.progress,
                             augment=cfg.augment)
    folds = cv_folds(data.manifest, cfg.cv.folds, cfg.seed)
    return TaskData(data, folds, fold_names(data.manifest, len(folds)), data_summary(data),
                    fit_fold, data.report.to_json())


class DivergedError(RuntimeError):
    """A fold's loss went NaN or infinite: the run is marked FAILED, a sweep moves on."""


def train(
    cfg: Config,
    output_dir: Path | None = None,
    *,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    after_fold: FoldHook | None = None,
) -> TrainResult:
    """Cross-validates ``cfg`` and records one run with a child run per fold.

    ``parent_run_id`` nests that run (a sweep's trial under its sweep); ``after_fold`` is
    called with each finished fold and all folds so far, and stops the CV by returning True
    (a pruned trial). An exception ends every open run as FAILED, never RUNNING.
    """
    cfg.trainer.check_device()
    tracker = RunTracker(cfg.tracking)  # a store that cannot be opened fails before the data
    task = task_data(cfg)
    folds, names = task.folds, task.fold_names
    params = flatten(dataclasses.asdict(cfg))
    name = cfg.tracking.run_name or f"{cfg.model.cell}-h{cfg.model.hidden_size}-cv{cfg.cv.folds}"
    with _work_dir(output_dir) as work, tracker.run(name, parent_run_id, tags) as run_id:
        tracker.log_params(run_id, {**params, **task.params})
        tracker.log_yaml(run_id, dataclasses.asdict(cfg), "config.yaml")
        if task.data_report is not None:
            tracker.log_text(run_id, task.data_report, "data_report.json")
        results: list[FoldResult] = []
        for fold, rows in enumerate(folds):
            with tracker.run(f"{name}-fold{fold}", run_id, tags) as fold_run_id:
                tracker.log_params(fold_run_id, {
                    **params, "cv.fold": fold, "cv.val_fold": names[fold],
                    "data.fold_train_clips": len(rows[0]), "data.fold_val_clips": len(rows[1]),
                })
                result = task.fit_fold(cfg, task.data, rows, fold, tracker, fold_run_id,
                                       work / f"fold{fold}")
                _check_finite(result)
            results.append(result)
            if after_fold is not None and after_fold(result, results):
                break
        stopped_early = len(results) < len(folds)
        summary = summarize(results)
        tracker.log_metrics(run_id, summary)
        # The units a run trained, where the config says "auto" or a sweep chose them.
        tracker.log_params(run_id, {"n_params": results[0].n_params,
                                    "model.hidden_size_resolved": results[0].hidden_size})
        tracker.set_tags(run_id, {"rnnaudio.folds_run": str(len(results))})
    return TrainResult(run_id, results, summary, tracker.ui_command(), stopped_early)


def _check_finite(result: FoldResult) -> None:
    if not math.isfinite(result.evaluation.loss):
        raise DivergedError(f"fold {result.fold}: validation loss is {result.evaluation.loss}")


@contextmanager
def _work_dir(output_dir: Path | None) -> Iterator[Path]:
    """Checkpoints go under Hydra's output folder; without one, into a temporary folder."""
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        yield output_dir
        return
    with tempfile.TemporaryDirectory(prefix="rnnaudio-") as scratch:
        yield Path(scratch)
