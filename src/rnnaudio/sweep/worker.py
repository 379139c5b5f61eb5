"""One sweep worker: run trials until the study's global budget or the deadline is reached.

Every worker, on this machine or another, runs this same loop against the same storage.
Trials are claimed one at a time, under the storage's budget lock, so that a worker never
starts a trial the budget no longer needs; a worker whose budget is held by trials still
running elsewhere waits for them, so a trial of a dead worker is failed by its stale
heartbeat, re-queued, and run.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Sequence

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from rnnaudio.compose import compose_config
from rnnaudio.interrupt import INTERRUPTED_EXIT_CODE, interrupted, terminate_as_interrupt
from rnnaudio.quiet import quiet_third_party
from rnnaudio.sweep.budget import BudgetClaimed
from rnnaudio.sweep.errors import SweepFailedError
from rnnaudio.sweep.objective import FAIL_REASON, STATE_TAG, STUDY_TAG, TRIAL_TAG, CVObjective
from rnnaudio.sweep.study import FINISHED, count, open_study, trial_budget
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.tracking.server import is_server, wait_healthy

log = logging.getLogger(__name__)


BUDGET_POLL_S = 0.5


def budget_met(study: optuna.Study, budget: int | None) -> bool:
    return budget is not None and count(study, *FINISHED) >= budget


def wait_for_budget(study: optuna.Study, budget: int | None, seconds: float) -> None:
    """Returns once ``budget`` trials are finished, or after ``seconds``.

    A worker whose last trial ends first would otherwise sleep out the whole wait after
    the sweep's last trial, and the driver, which waits for every worker, with it.
    """
    deadline = time.monotonic() + seconds
    while not budget_met(study, budget) and time.monotonic() < deadline:
        time.sleep(min(BUDGET_POLL_S, max(0.0, deadline - time.monotonic())))


def run_worker(overrides: Sequence[str], sweep_run_id: str, threads: int | None = None,
               worker: int = 0) -> None:
    """Runs trials of the sweep composed from ``overrides`` (which select ``+sweep=``), as
    the ``worker``-th of the processes that run them at once."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    cfg = compose_config(overrides)
    spec = cfg.sweep
    assert spec is not None
    if is_server(cfg.tracking.uri):
        wait_healthy(cfg.tracking.uri)  # a server started beside the workers, or a remote one
    study = open_study(spec, cfg.cv.folds, worker)
    tracker = RunTracker(cfg.tracking)
    budget = trial_budget(spec)
    deadline = time.monotonic() + spec.timeout if spec.timeout is not None else float("inf")
    objective = CVObjective(spec, overrides, sweep_run_id)
    failures = FailureStreak(spec.max_failures)
    while not budget_met(study, budget) and time.monotonic() < deadline:
        fail_stale_trials(study)
        close_orphan_runs(study, tracker)
        objective.trial_number = None
        try:
            # An exception fails this trial only, and the sweep goes on (a NaN loss, say),
            # unless it is one of too many failures in a row.
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[failures])
        except BudgetClaimed:
            # Trials running elsewhere hold the last slots; wait in case one of them dies.
            wait_for_budget(study, budget, min(spec.heartbeat_interval, 5))
        except BaseException as error:
            if interrupted(error) and objective.trial_number is not None:
                requeue(study, objective.trial_number, spec.max_retry)
                # An interrupt inside the request that creates a run leaves one that no
                # context holds; its trial has just failed, so it is an orphan like a dead
                # worker's.
                close_orphan_runs(study, tracker)
            raise
    close_orphan_runs(study, tracker)


def requeue(study: optuna.Study, number: int, max_retry: int) -> None:
    """Fails an interrupted trial and queues it again at once, as its stale heartbeat would
    once ``grace_period`` had passed: the next run of the sweep starts with it."""
    trial = study.get_trials(deepcopy=False)[number]
    if trial.state == TrialState.RUNNING:
        # What optuna.storages.fail_stale_trials does: through the storage, since
        # study.tell outside optimize() breaks a grid sampler that sees its grid done.
        with contextlib.suppress(UpdateFinishedTrialError):  # failed by another worker
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        trial = study.get_trials(deepcopy=False)[number]
    # A trial that failed on its own (a NaN loss) is not run again.
    if trial.state == TrialState.FAIL and trial.user_attrs.get(FAIL_REASON) == "interrupted":
        RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, trial)


class FailureStreak:
    """An ``optimize`` callback that raises once ``limit`` trials in a row have failed.

    The error names the last trial's failure, so a sweep over a missing corpus stops at once
    with the reason instead of failing trial after trial.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.streak = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.limit:
            reason = trial.user_attrs.get(FAIL_REASON, "see the log above")
            raise SweepFailedError(
                f"{self.streak} trials in a row failed (sweep.max_failures={self.limit}); "
                f"the last, trial {trial.number}: {reason}"
            )


def close_orphan_runs(study: optuna.Study, tracker: RunTracker) -> None:
    """Ends MLflow runs left RUNNING by a killed or interrupted worker once Optuna has failed
    their trial."""
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    query = f"tags.`{STUDY_TAG}` = '{study.study_name}' and attributes.status = 'RUNNING'"
    for run in tracker.client.search_runs([tracker.experiment_id], filter_string=query):
        if TRIAL_TAG not in run.data.tags:
            continue
        number = int(run.data.tags[TRIAL_TAG])
        if states.get(number) == TrialState.FAIL:
            tracker.set_tags(run.info.run_id, {STATE_TAG: "FAIL"})
            tracker.client.set_terminated(run.info.run_id, "KILLED")
            log.warning("run %s of trial %s ended as KILLED (its worker died or stopped)",
                        run.info.run_id, number)


def worker_process(overrides: list[str], sweep_run_id: str, threads: int, worker: int) -> None:
    """Entry point of a local worker process, forked by the driver's fork server."""
    quiet_third_party()
    terminate_as_interrupt(once=True)
    try:
        run_worker(overrides, sweep_run_id, threads, worker)
    except BaseException as error:
        if interrupted(error):  # the driver stopped us; it says so once
            sys.exit(INTERRUPTED_EXIT_CODE)
        raise
