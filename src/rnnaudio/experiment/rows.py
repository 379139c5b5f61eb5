"""What each row of an experiment runs, and the checks that hold before the first row.

Light on imports (configs and Optuna, no torch), so the command line checks every row before
Hydra creates anything, as it checks a sweep's space.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from rnnaudio.compose import compose_config, merge_overrides
from rnnaudio.config import ConfigError, ExperimentConfig, ExperimentRow
from rnnaudio.sweep.space import check_trials
from rnnaudio.tracking.params import result_settings


def user_overrides(overrides: Sequence[str]) -> list[str]:
    """The command line's overrides for every row: all but the experiment's own."""
    return [o for o in overrides if not o.lstrip("+~").startswith("experiment")]


def as_written(overrides: Sequence[str]) -> ExperimentConfig:
    """The experiment the overrides select, as its file gives it (no ``experiment.*`` from
    the command line)."""
    experiment = compose_config([o for o in overrides if o.lstrip("+").startswith(
        "experiment=")]).experiment
    assert experiment is not None
    return experiment


def row_overrides(experiment: ExperimentConfig, row: ExperimentRow,
                  user: Sequence[str]) -> list[str]:
    return merge_overrides(experiment.overrides, row.overrides, user)


# Raised when the harness changes what a row's numbers mean, so earlier runs are run again
# rather than reported beside new ones. 2: one test split per corpus, not per run seed, and
# _silence_ cut from each split's own part of the noise (Speech Commands), each chorale once
# (JSB), and row sweeps in studies of their own. 3: the fingerprint holds every composed
# setting, not the overrides as typed.
PROTOCOL = 3


SETTINGS_TAG = "rnnaudio.row_settings"  # a row run's fingerprint, from row_settings
COMPARABLE_TAG = "rnnaudio.comparable"  # "False": a run under other settings than its file's

# Sweep fields that decide which hidden units a row's sweep picks; the rest say where the
# study lives and how its processes run.
SWEEP_SETTINGS = ("n_trials", "timeout", "sampler", "seed", "pruner", "pruner_warmup_folds",
                  "pruner_startup_trials", "overrides", "space")


def row_settings(overrides: Sequence[str], sweep: str | None,
                 sweep_changes: Sequence[str] = ()) -> str:
    """A fingerprint of what decides a row's result: every setting of its composed config
    (so ``trainer=gpu`` and ``trainer.accelerator=gpu``, which never changes a result, are
    alike, and a changed default counts), the sweep spec that picks the rest (its contents
    with ``sweep_changes``, so an edit to the spec file counts), and the harness's protocol."""
    # Where the corpus lies is no setting; a placeholder lets a file whose corpus needs a
    # root (Speech Commands) compose without one, as a report reads it.
    settings = result_settings(compose_config([*overrides, "dataset.root=."]))
    spec = None
    if sweep is not None:
        swept = dataclasses.asdict(compose_config([f"+sweep={sweep}", *sweep_changes]).sweep)
        spec = {key: swept[key] for key in SWEEP_SETTINGS}
    blob = json.dumps([settings, sweep, spec, PROTOCOL], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def file_settings(experiment: ExperimentConfig) -> dict[str, str]:
    """Each row's fingerprint as the experiment file gives it, with nothing from the command
    line (``sweep_overrides`` is only ever the command line's, :func:`check_rows`): a run
    under other settings is a variant, which a report marks not comparable."""
    return {row.name: row_settings(row_overrides(experiment, row, []), row.sweep)
            for row in experiment.rows}


def sweep_study(experiment: str, row: str, settings: str) -> str:
    """A row's sweep study, named by its settings: a row run again under others starts a
    study of its own instead of resuming one whose trials ran under the old."""
    return f"{experiment}-{row}-{settings}"


def sweep_overrides(experiment: ExperimentConfig, row: ExperimentRow, base: Sequence[str],
                    settings: str | None = None) -> list[str]:
    """The row's sweep, as its own study; the experiment refits and tests each seed itself.
    ``settings``: the row's fingerprint, where the caller has it already (it composes the
    sweep spec)."""
    settings = settings or row_settings(base, row.sweep, experiment.sweep_overrides)
    study = sweep_study(experiment.name, row.name, settings)
    return [f"+sweep={row.sweep}", *experiment.sweep_overrides, f"sweep.study_name={study}",
            "sweep.refit=false", *base]


def check_rows(overrides: Sequence[str]) -> None:
    """Each row's config composes, its corpus is where it says, with the test split the row
    ends scored on, and every trial of its sweep composes: row 3 cannot fail after hours of
    rows 1 and 2, nor row 1 after MLflow has opened its run."""
    experiment = compose_config(overrides).experiment
    assert experiment is not None
    user = user_overrides(overrides)
    _check_command_line(overrides, as_written(overrides))
    for row in experiment.rows:
        try:
            _check_row(experiment, row, row_overrides(experiment, row, user))
        except ConfigError as error:
            raise ConfigError(f"experiment={experiment.name} row {row.name!r}: {error}") from None


# The command line's experiment.* that leave a table the file's: which seeds run, and the
# rows' sweep changes the command line's sweep.* become.
COMMAND_LINE_KEYS = ("experiment", "experiment.seeds", "experiment.sweep_overrides")


def _check_command_line(overrides: Sequence[str], written: ExperimentConfig) -> None:
    """A table's rows and their settings come from its file; the command line changes them
    for every row with plain overrides (``cv.folds=2``), which mark the table a variant."""
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key == "seed":
            raise ConfigError(f"{override}: each row runs under the experiment's seeds; give "
                              "them as experiment.seeds=[...]")
        if key.startswith("experiment") and key not in COMMAND_LINE_KEYS:
            raise ConfigError(f"{override}: {key} is the experiment file's own; change "
                              "every row with plain overrides (e.g. cv.folds=2), or write a "
                              "file of your own")
    if written.sweep_overrides:
        raise ConfigError(f"experiment {written.name!r} sets sweep_overrides in its file; "
                          "name a sweep spec of sweeps/ in each row instead")


def _check_row(experiment: ExperimentConfig, row: ExperimentRow, base: list[str]) -> None:
    cfg = compose_config(base)
    cfg.dataset.check_test_split("every row")
    cfg.dataset.check_root()
    cfg.trainer.check_device()
    cfg.augment.check_noise_folder(cfg.dataset)
    if row.sweep is not None:
        swept = sweep_overrides(experiment, row, base)
        spec = compose_config(swept).sweep
        assert spec is not None
        check_trials(spec, swept)
