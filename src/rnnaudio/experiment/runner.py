"""``rnnaudio run experiment=<name>``: every row of a table, every seed, each a tracked run.

A row x seed is one ``train`` (k-fold CV on train+validation) followed by a refit on all of
train+validation and one evaluation on the test split, logged into the same MLflow run.
Runs are tagged with the experiment, row and seed, and with a fingerprint of the row's
settings; a row x seed whose run finished with its metric under the same settings is
skipped, so running the command again resumes a crashed experiment, and an edited row (or a
changed command-line override) runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnaudio.compose import compose_config, merge_overrides
from rnnaudio.config import Config, ExperimentConfig, ExperimentRow
from rnnaudio.experiment.rows import (
    COMPARABLE_TAG,
    SETTINGS_TAG,
    check_rows,
    file_settings,
    row_overrides,
    row_settings,
    sweep_overrides,
    sweep_study,
    user_overrides,
)
from rnnaudio.sweep.space import to_overrides
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.refit import epochs_to_best, refit_and_test
from rnnaudio.training.run import train

log = logging.getLogger(__name__)

EXPERIMENT_TAG, ROW_TAG, SEED_TAG = "rnnaudio.experiment", "rnnaudio.row", "rnnaudio.seed"
SWEEP_STUDY_TAG = "rnnaudio.sweep_study"  # the study whose best trial chose the row's rest


@dataclass(frozen=True)
class RowRun:
    row: str
    seed: int
    run_id: str
    skipped: bool


def row_tags(experiment: str, row: str, seed: int) -> dict[str, str]:
    return {EXPERIMENT_TAG: experiment, ROW_TAG: row, SEED_TAG: str(seed)}


def finished_run(tracker: RunTracker, tags: dict[str, str], metric: str,
                 settings: str) -> str | None:
    """The id of a FINISHED run with these tags that recorded ``metric`` under ``settings``,
    if any."""
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    for run in tracker.client.search_runs([tracker.experiment_id],
                                          filter_string=f"{query} and attributes.status = "
                                          "'FINISHED'"):
        if metric in run.data.metrics and run.data.tags.get(SETTINGS_TAG) == settings:
            return run.info.run_id
    return None


def run_experiment(overrides: Sequence[str], output_dir: Path) -> list[RowRun]:
    """Runs every missing row x seed of the experiment composed from ``overrides``."""
    check_rows(overrides)  # again, for callers without the command line
    cfg = compose_config(overrides)
    experiment = cfg.experiment
    assert experiment is not None
    user = user_overrides(overrides)
    written = file_settings(experiment)  # check_rows refused command-line edits of it
    tracker = RunTracker(cfg.tracking)
    runs: list[RowRun] = []
    for row in experiment.rows:
        base = row_overrides(experiment, row, user)
        settings = row_settings(base, row.sweep, experiment.sweep_overrides)
        pending = []
        for seed in experiment.seeds:
            done = finished_run(tracker, row_tags(experiment.name, row.name, seed),
                                experiment.metric, settings)
            if done is None:
                pending.append(seed)
            else:
                log.info("%s seed %d: finished earlier (run %s), skipped", row.name, seed, done)
                runs.append(RowRun(row.name, seed, done, skipped=True))
        if not pending:
            continue
        choices = _row_choices(experiment, row, base, settings, output_dir)
        for seed in pending:
            row_cfg = compose_config(merge_overrides(base, choices, [f"seed={seed}"]))
            row_cfg.tracking.run_name = f"{experiment.name}-{row.name}-seed{seed}"
            tags = {**row_tags(experiment.name, row.name, seed), SETTINGS_TAG: settings,
                    COMPARABLE_TAG: str(experiment.comparable
                                        and written.get(row.name) == settings)}
            if row.sweep is not None:
                tags[SWEEP_STUDY_TAG] = sweep_study(experiment.name, row.name, settings)
            run_id = _run_row(row_cfg, tags, tracker, output_dir / row.name / f"seed{seed}")
            runs.append(RowRun(row.name, seed, run_id, skipped=False))
    return runs


def _run_row(cfg: Config, tags: dict[str, str], tracker: RunTracker, work: Path) -> str:
    result = train(cfg, work / "cv", tags=tags)
    epochs = epochs_to_best([fold.best_epoch for fold in result.folds])
    # The refit logs into the row's run; it only counts as finished with its test metrics.
    with tracker.run("", resume_id=result.parent_run_id) as run_id:
        tracker.log_params(run_id, {"refit.epochs": epochs})
        refit_and_test(cfg, epochs, tracker, run_id, work / "refit")
    return result.parent_run_id


def _row_choices(experiment: ExperimentConfig, row: ExperimentRow, base: list[str], settings: str,
                 output_dir: Path) -> list[str]:
    """The row's remaining choices from the best trial of its sweep (none without one)."""
    if row.sweep is None:
        return []
    from rnnaudio.sweep.driver import run_sweep  # a sweep per row is the exception

    result = run_sweep(sweep_overrides(experiment, row, base, settings),
                       output_dir / row.name / "sweep")
    if result.best is None:
        raise RuntimeError(f"the sweep of row {row.name!r} completed no trial")
    return to_overrides(result.best.params)
