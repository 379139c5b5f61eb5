"""``rnnaudio sweep``: one MLflow run for the study, its workers, then the refit on test.

MLflow nests sweep -> trial -> fold. The sweep run's id is kept on the study, so running
the same command again (after a crash, or on another machine) continues both. Ctrl-C
or SIGTERM stops the workers too, rather than leaving them to finish their trials.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
import pandas as pd
from mlflow.exceptions import MlflowException

from rnnaudio.compose import compose_config
from rnnaudio.config import Config, SweepConfig
from rnnaudio.interrupt import INTERRUPTED_EXIT_CODE
from rnnaudio.report.sweep import loss_by_hidden_size, optuna_figures, trials_frame
from rnnaudio.sweep.early_start import fork_context, start_worker, started_early
from rnnaudio.sweep.errors import SweepFailedError
from rnnaudio.sweep.settings import check_settings, trial_settings
from rnnaudio.sweep.space import check_trials, trial_overrides
from rnnaudio.sweep.study import open_study
from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.tracking.server import LocalServer

if TYPE_CHECKING:
    from rnnaudio.training.evaluate import Evaluation

SWEEP_RUN_ATTR = "mlflow_sweep_run_id"
STOP_GRACE_S = 30.0  # for interrupted workers to close their MLflow runs


@dataclass(frozen=True)
class SweepResult:
    study: optuna.Study
    frame: pd.DataFrame
    keys: list[str]
    best: optuna.trial.FrozenTrial | None
    test: Evaluation | None
    sweep_run_id: str
    ui_command: str
    storage: str


def run_sweep(overrides: Sequence[str], output_dir: Path,
              server: LocalServer | None = None) -> SweepResult:
    """Runs (or resumes) the study composed from ``overrides`` to its budget.

    ``server``: what :func:`~rnnaudio.sweep.early_start.started_early` yielded, when the
    caller started the sweep's processes before its own imports; without it, they are
    started here.
    """
    cfg = compose_config(overrides)
    assert cfg.sweep is not None
    check_trials(cfg.sweep, overrides)
    if server is None:
        with started_early(cfg) as started:  # idempotent: the CLI may have found none needed
            return _sweep(cfg, overrides, output_dir, started)
    return _sweep(cfg, overrides, output_dir, server)


def _sweep(cfg: Config, overrides: Sequence[str], output_dir: Path,
           server: LocalServer | None) -> SweepResult:
    spec = cfg.sweep
    assert spec is not None
    study = open_study(spec, cfg.cv.folds)
    check_settings(study, spec, trial_settings(spec, overrides))
    if server is not None:
        # The server creates a new store's tables before it answers; this process must
        # not race it to the same file.
        server.wait_healthy()
    tracker = RunTracker(cfg.tracking)
    name = f"sweep-{spec.study_name}"
    resume = _existing_run(tracker, study.user_attrs.get(SWEEP_RUN_ATTR))
    with tracker.run(name, tags={"rnnaudio.sweep": spec.study_name}, resume_id=resume) as run_id:
        study.set_user_attr(SWEEP_RUN_ATTR, run_id)
        if resume is None:
            tracker.log_params(run_id, flatten({"sweep": dataclasses.asdict(spec)}))
        _run_workers(cfg, list(overrides), run_id, server)
        keys = list(spec.space)
        frame = trials_frame(study, keys)
        _log_results(tracker, run_id, study, frame)
        best = _best_trial(study)
        test = None
        if best is not None and spec.refit:
            test = _refit_best(cfg, spec, overrides, best, tracker, run_id, output_dir)
    return SweepResult(study, frame, keys, best, test, run_id, tracker.ui_command(), spec.storage)


def _existing_run(tracker: RunTracker, run_id: str | None) -> str | None:
    if run_id is None:
        return None
    try:
        tracker.client.get_run(run_id)
    except MlflowException:
        return None  # the study is shared, but this machine logs to another store
    return run_id


def _run_workers(cfg: Config, overrides: list[str], sweep_run_id: str,
                 server: LocalServer | None) -> None:
    spec = cfg.sweep
    assert spec is not None
    if spec.workers == 1:
        # torch and Lightning load only where this process trains (one worker; the refit,
        # after the workers): a driver of several workers imports in 2 s instead of 6.5.
        from rnnaudio.sweep.worker import run_worker

        run_worker(overrides, sweep_run_id)
        return
    threads = max(1, (os.cpu_count() or 1) // spec.workers)
    quiet = [*overrides, "trainer.progress=false"]  # N progress bars on one terminal: noise
    if server is not None:  # several workers over a local store log through it
        quiet.append(f"tracking.uri={server.uri}")
    _spawn(quiet, sweep_run_id, spec.workers, threads)


def _spawn(overrides: list[str], sweep_run_id: str, workers: int, threads: int) -> None:
    # Forks of one process that has imported torch, Lightning and MLflow once: spawned
    # workers paid 5-6 s of CPU each for it, on the cores the trials need.
    context = fork_context()
    processes = [context.Process(target=start_worker,
                                 args=(overrides, sweep_run_id, threads, worker))
                 for worker in range(workers)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except BaseException:
        # Without this, Python's exit would wait for the workers to finish their trials.
        _stop(processes)
        raise
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed and all(code == INTERRUPTED_EXIT_CODE for code in failed):
        # The workers were interrupted and the driver was not: it ignores SIGINT when
        # started with `&` from a script, while each worker handles it.
        raise KeyboardInterrupt("the sweep's workers were interrupted")
    if failed:
        raise SweepFailedError(
            f"{len(failed)} of {workers} sweep workers stopped with an error (exit codes "
            f"{failed}); their reasons are in the log above. Rerun the same command to resume"
        )


def _stop(processes: list[BaseProcess], grace_s: float = STOP_GRACE_S) -> None:
    """Interrupts the workers as Ctrl-C would (their runs end KILLED, their trials are
    retried on resume); kills any still running after ``grace_s``."""
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():  # stuck in a call that a signal does not interrupt
            process.kill()
            process.join()


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no complete trial
        return None


def _log_results(tracker: RunTracker, run_id: str, study: optuna.Study,
                 frame: pd.DataFrame) -> None:
    tracker.log_text(run_id, frame.to_csv(index=False), "trials.csv")
    for name, figure in optuna_figures(study).items():
        tracker.log_figure(run_id, figure, f"figures/{name}.png")
    by_size = loss_by_hidden_size(frame)
    if by_size is not None:
        tracker.log_figure(run_id, by_size, "figures/cv_loss_by_hidden_size.png")
    best = _best_trial(study)
    if best is not None:
        tracker.set_tags(run_id, {"best_trial": str(best.number),
                                  "best_params": str(best.params)})
        tracker.log_metrics(run_id, {"best_cv_val_loss": best.value})


def _refit_best(cfg: Config, spec: SweepConfig, overrides: Sequence[str],
                best: optuna.trial.FrozenTrial, tracker: RunTracker, sweep_run_id: str,
                output_dir: Path) -> Evaluation:
    from rnnaudio.training.refit import refit_and_test  # imports torch: see _run_workers

    best_cfg = compose_config(trial_overrides(spec, overrides, best.params))
    epochs = int(best.user_attrs.get("epochs_to_best", best_cfg.trainer.max_epochs))
    name = f"{spec.study_name}-refit-trial{best.number}"
    with tracker.run(name, parent_id=sweep_run_id,
                     tags={"rnnaudio.sweep": spec.study_name, "rnnaudio.refit": "true"}) as run_id:
        tracker.log_params(run_id, {**flatten(dataclasses.asdict(best_cfg)),
                                    "refit.epochs": epochs, "refit.trial": best.number})
        test = refit_and_test(best_cfg, epochs, tracker, run_id, output_dir / "refit")
    tracker.log_metrics(sweep_run_id, test.metrics("test"))
    return test
