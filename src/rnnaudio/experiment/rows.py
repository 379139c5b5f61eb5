"""What each row of an experiment runs, and the checks that hold before the first row.

Light on imports (configs and Optuna, no torch), so the command line checks every row before
Hydra creates anything, as it checks a sweep's space.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Sequence

from rnnaudio.compose import compose_config, merge_overrides
from rnnaudio.config import ConfigError, ExperimentConfig, ExperimentRow
from rnnaudio.sweep.space import check_trials
from rnnaudio.tracking.params import NOT_SETTINGS, flatten


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
# (JSB), and row sweeps in studies of their own.
PROTOCOL = 2


SETTINGS_TAG = "rnnaudio.row_settings"  # a row run's fingerprint, from row_settings
COMPARABLE_TAG = "rnnaudio.comparable"  # "False": a run under other settings than its file's

# Sweep fields that decide which hidden units a row's sweep picks; the rest say where the
# study lives and how its processes run.
SWEEP_SETTINGS = ("n_trials", "timeout", "sampler", "seed", "pruner", "pruner_warmup_folds",
                  "pruner_startup_trials", "overrides", "space")


def row_settings(overrides: Sequence[str], sweep: str | None,
                 sweep_changes: Sequence[str] = ()) -> str:
    """A fingerprint of what decides a row's result: the settings its composed config holds
    other than the defaults (so ``trainer=gpu`` and ``trainer.accelerator=gpu``, which never
    changes a result, are alike), the sweep spec that picks the rest (its contents with the
    experiment's ``sweep_changes``, so an edit to the spec file counts), and the harness's
    protocol."""
    defaults = _default_settings()
    chosen = {key: value for key, value in _settings(tuple(overrides)).items()
              if defaults.get(key) != value}
    spec = None
    if sweep is not None:
        swept = dataclasses.asdict(compose_config([f"+sweep={sweep}", *sweep_changes]).sweep)
        spec = {key: swept[key] for key in SWEEP_SETTINGS}
    blob = json.dumps([chosen, sweep, spec, PROTOCOL], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _settings(overrides: tuple[str, ...]) -> dict[str, str]:
    flat = flatten(dataclasses.asdict(compose_config(list(overrides))))
    return {key: value for key, value in flat.items() if not key.startswith(NOT_SETTINGS)}


@functools.cache
def _default_settings() -> dict[str, str]:
    return _settings(())


def file_settings(experiment: ExperimentConfig) -> dict[str, str]:
    """Each row's fingerprint as the experiment file gives it, with nothing from the command
    line (``sweep_overrides`` is the command line's): a run under other settings is a
    variant, which a report marks not comparable."""
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
    seeds = [o for o in user if o.lstrip("+~").split("=", 1)[0] == "seed"]
    if seeds:
        raise ConfigError(f"{seeds[0]}: each row runs under the experiment's seeds; give "
                          f"experiment.seeds=[{seeds[0].split('=', 1)[-1]}]")
    for row in experiment.rows:
        try:
            _check_row(experiment, row, row_overrides(experiment, row, user))
        except ConfigError as error:
            raise ConfigError(f"experiment={experiment.name} row {row.name!r}: {error}") from None


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
