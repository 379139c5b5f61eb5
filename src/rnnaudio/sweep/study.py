"""The Optuna study behind a sweep: storage with heartbeats, sampler, pruner, trial budget.

Workers on one machine or many share one study through its storage URL. A worker that
dies stops beating; after ``grace_period`` its trial is failed and re-queued
(``RetryHeartbeatStaleTrialCallback``). ``n_trials`` counts finished trials across every worker
and every restart, not per process: a worker claims a trial under a lock in the storage
(sweep/budget.py), so parallel workers never start one trial too many.
"""

from __future__ import annotations

import hashlib
import socket

import numpy as np
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from rnnaudio.config import ConfigError, SweepConfig
from rnnaudio.config.checks import INSTALL_DRIVER, first_line, shown_setting
from rnnaudio.sweep.budget import BudgetedStorage
from rnnaudio.sweep.space import grid, grid_size
from rnnaudio.tracking.database import connect_args

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def open_storage(spec: SweepConfig) -> BudgetedStorage:
    """An RDB storage (SQLite file, PostgreSQL, MySQL) with heartbeats, retries and the
    sweep's trial budget. A URL that cannot be opened (an unknown dialect, a missing
    driver, a folder that does not exist, a server that refuses) is a one-line ConfigError."""
    # Local workers share a SQLite file: wait for its write lock rather than fail at once.
    # A database host that drops packets fails in seconds, not the kernel's two minutes.
    sqlite = spec.storage.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 120} if sqlite else connect_args(spec.storage)}
    try:
        return BudgetedStorage(
            spec.storage,
            trial_budget(spec),
            engine_kwargs=engine_kwargs,
            heartbeat_interval=spec.heartbeat_interval,
            grace_period=spec.grace_period,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                max_retry=spec.max_retry),
        )
    except SQLAlchemyError as error:
        raise _unopenable(spec, first_line(error, type(error).__name__)) from error
    except ImportError as error:
        driver = error.__cause__  # Optuna wraps the dialect's missing driver module
        if not isinstance(driver, ImportError):
            raise
        raise _unopenable(spec, f"{driver}; {INSTALL_DRIVER}") from error


def _unopenable(spec: SweepConfig, reason: str) -> ConfigError:
    return ConfigError(
        f"{shown_setting('sweep.storage', spec.storage)} cannot be opened ({reason}); "
        "give e.g. sqlite:///optuna.db or postgresql://user@host/db"
    )


def make_sampler(spec: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler(grid(spec.space), seed=seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Optuna 5's defaults: multivariate TPE with the constant liar for parallel workers.
    return optuna.samplers.TPESampler(seed=seed)


def sampler_seed(spec: SweepConfig, worker: int, trials: int) -> int:
    """``sweep.seed`` for the first worker of a new study, as written. Every other process
    (another worker, a resumed run, a worker on another machine) draws a stream of its own,
    fixed by the seed, its worker number, the study's trial count and the machine's name:
    samplers seeded alike propose the same points, so two workers would train each one twice
    and a resumed study would start over with the trials it has. A grid is the exception:
    every process must shuffle it alike, since trial ``n`` takes its ``n``-th point. (Two
    machines that create one study at the same moment both start from ``sweep.seed``.)"""
    if spec.sampler == "grid" or (worker == 0 and trials == 0):
        return spec.seed
    machine = int.from_bytes(hashlib.sha256(socket.gethostname().encode()).digest()[:4], "big")
    entropy = [spec.seed, worker, trials, machine]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def make_pruner(spec: SweepConfig, folds: int) -> optuna.pruners.BasePruner:
    """Pruners see one step per fold: the running mean of the folds so far."""
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.pruner_startup_trials,
                                           n_warmup_steps=spec.pruner_warmup_folds)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=folds)
    if spec.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def open_study(spec: SweepConfig, folds: int, worker: int = 0) -> optuna.Study:
    """Creates the study, or loads it when it exists: running again resumes it. ``worker``
    numbers the processes that draw trials for it at once."""
    study = optuna.create_study(
        storage=open_storage(spec),
        study_name=spec.study_name,
        pruner=make_pruner(spec, folds),
        direction="minimize",
        load_if_exists=True,
    )
    trials = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(spec, sampler_seed(spec, worker, trials))
    return study


def trial_budget(spec: SweepConfig) -> int | None:
    """Finished trials the sweep asks for; a grid never asks for more than its points."""
    if spec.sampler == "grid":
        size = grid_size(spec.space)
        return size if spec.n_trials is None else min(spec.n_trials, size)
    return spec.n_trials


def count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))
