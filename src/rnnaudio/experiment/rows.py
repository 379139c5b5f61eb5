"""What each row of an experiment runs, and the checks that hold before the first row.

Light on imports (configs and Optuna, no torch), so the command line checks every row before
Hydra creates anything, as it checks a sweep's space.
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnaudio.compose import compose_config, merge_overrides
from rnnaudio.config import ConfigError, ExperimentConfig, ExperimentRow
from rnnaudio.sweep.space import check_trials


def user_overrides(overrides: Sequence[str]) -> list[str]:
    """The command line's overrides for every row: all but the experiment's own."""
    return [o for o in overrides if not o.lstrip("+~").startswith("experiment")]


def row_overrides(experiment: ExperimentConfig, row: ExperimentRow,
                  user: Sequence[str]) -> list[str]:
    return merge_overrides(experiment.overrides, row.overrides, user)


def sweep_overrides(experiment: ExperimentConfig, row: ExperimentRow,
                    base: Sequence[str]) -> list[str]:
    """The row's sweep, as its own study; the experiment refits and tests each seed itself."""
    study = f"{experiment.name}-{row.name}"
    return [f"+sweep={row.sweep}", f"sweep.study_name={study}", "sweep.refit=false", *base]


def check_rows(overrides: Sequence[str]) -> None:
    """Each row's config composes, its corpus is where it says, with the test split the row
    ends scored on, and every trial of its sweep composes: row 3 cannot fail after hours of
    rows 1 and 2, nor row 1 after MLflow has opened its run."""
    experiment = compose_config(overrides).experiment
    assert experiment is not None
    user = user_overrides(overrides)
    for row in experiment.rows:
        try:
            _check_row(experiment, row, row_overrides(experiment, row, user))
        except ConfigError as error:
            raise ConfigError(f"experiment={experiment.name} row {row.name!r}: {error}") from None


def _check_row(experiment: ExperimentConfig, row: ExperimentRow, base: list[str]) -> None:
    cfg = compose_config(base)
    cfg.dataset.check_root()
    cfg.dataset.check_test_split("every row")
    cfg.trainer.check_device()
    cfg.augment.check_noise_folder(cfg.dataset)
    if row.sweep is not None:
        swept = sweep_overrides(experiment, row, base)
        spec = compose_config(swept).sweep
        assert spec is not None
        check_trials(spec, swept)
