"""A trial: compose the config with the trial's choices, cross-validate, return the mean loss.

After each fold the running mean of the fold losses is reported at step = folds done, so
the pruner compares trials fold by fold; every fold's loss is kept on the trial as a user attribute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna

from rnnaudio.compose import compose_config
from rnnaudio.config import SweepConfig
from rnnaudio.config.checks import first_line, without_password
from rnnaudio.interrupt import interrupted
from rnnaudio.sweep.space import suggest, trial_overrides
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.crossval import FoldResult
from rnnaudio.training.refit import epochs_to_best
from rnnaudio.training.run import train

STUDY_TAG, TRIAL_TAG, STATE_TAG = "optuna.study", "optuna.trial", "optuna.state"
FAIL_REASON = "fail_reason"  # user attr of a failed trial: the exception, one line


def trial_tags(study_name: str, number: int) -> dict[str, str]:
    return {STUDY_TAG: study_name, TRIAL_TAG: str(number)}


class CVObjective:
    """``objective(trial) -> mean validation loss over folds`` for ``study.optimize``."""

    def __init__(self, spec: SweepConfig, overrides: Sequence[str], sweep_run_id: str) -> None:
        self.spec = spec
        self.overrides = list(overrides)
        self.sweep_run_id = sweep_run_id
        self.trial_number: int | None = None  # the trial running, or run last

    def __call__(self, trial: optuna.Trial) -> float:
        self.trial_number = trial.number
        choices = suggest(trial, self.spec.space)
        tags = trial_tags(self.spec.study_name, trial.number)
        tracker: RunTracker | None = None
        try:
            cfg = compose_config(trial_overrides(self.spec, self.overrides, choices))
            cfg.tracking.run_name = f"{self.spec.study_name}-trial{trial.number}"
            tracker = RunTracker(cfg.tracking)
            result = train(cfg, parent_run_id=self.sweep_run_id, tags=tags,
                           after_fold=lambda fold, folds: self._report(trial, fold, folds))
        except BaseException as error:
            trial.set_user_attr(FAIL_REASON, fail_reason(error))
            if tracker is not None:
                _tag_state(tracker, tags, "FAIL")
            raise
        summary = result.summary
        trial.set_user_attr("mlflow_run_id", result.parent_run_id)
        trial.set_user_attr("cv_val_loss_std", summary["cv_val_loss_std"])
        if "cv_val_acc_mean" in summary:  # a sequence model has no accuracy
            trial.set_user_attr("cv_val_acc_mean", summary["cv_val_acc_mean"])
        trial.set_user_attr("n_params", result.folds[0].n_params)
        trial.set_user_attr("epochs_to_best", epochs_to_best([f.best_epoch for f in result.folds]))
        state = "PRUNED" if result.stopped_early else "COMPLETE"
        tracker.set_tags(result.parent_run_id, {STATE_TAG: state})
        if result.stopped_early:
            raise optuna.TrialPruned(f"pruned after {len(result.folds)} folds")
        return summary["cv_val_loss_mean"]

    @staticmethod
    def _report(trial: optuna.Trial, fold: FoldResult, folds: list[FoldResult]) -> bool:
        trial.set_user_attr(f"fold{fold.fold}_val_loss", fold.evaluation.loss)
        # The step is the count of folds done (from 1): successive halving and Hyperband
        # first compare trials at step min_resource=1, which is then after one fold.
        trial.report(float(np.mean([f.evaluation.loss for f in folds])), step=len(folds))
        return trial.should_prune()


def _tag_state(tracker: RunTracker, tags: dict[str, str], state: str) -> None:
    """Tags the trial's runs (found by their tags: the failure may precede any return value)."""
    for run in trial_runs(tracker, tags):
        tracker.set_tags(run.info.run_id, {STATE_TAG: state})


def trial_runs(tracker: RunTracker, tags: dict[str, str]) -> list:
    query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    return tracker.client.search_runs([tracker.experiment_id], filter_string=query)


def fail_reason(error: BaseException) -> str:
    """What a failed trial's ``fail_reason`` says: one line, any password masked, since the
    study's storage is shared and shown by ``optuna-dashboard``."""
    if interrupted(error):
        return "interrupted"
    line = first_line(error, "")
    return without_password(f"{type(error).__name__}: {line}" if line else type(error).__name__)
