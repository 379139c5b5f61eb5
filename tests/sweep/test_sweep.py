"""Tiny sweeps on the small generated corpus, through the command line, read back through
Optuna's storage and MLflow's client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

pytestmark = pytest.mark.slow

TINY = """\
study_name: {name}
n_trials: {n_trials}
sampler: {sampler}
pruner: {pruner}
pruner_startup_trials: 2
heartbeat_interval: 1
grace_period: 3
refit: {refit}
overrides: [cv.folds={folds}, trainer.max_epochs=1, model.hidden_size=12]
space:
{space}
"""
CELLS = "  model.cell: {type: categorical, choices: [rnn, gru]}"
CELLS_SIZES = CELLS + "\n  model.hidden_size: {type: categorical, choices: [12]}"
SLOW_FOLDS = ("trainer.max_epochs=40", "trainer.early_stopping_patience=40")
LRS = "  trainer.lr: {type: categorical, choices: [0.003, 1.0e-7, 1.0e+30]}"


def tiny(bench, name, n_trials=2, sampler="grid", pruner="none", refit="false", folds=2,
         space=CELLS) -> str:
    return bench.spec(name, TINY.format(name=name, n_trials=n_trials, sampler=sampler,
                                        pruner=pruner, refit=refit, folds=folds, space=space))


def load(bench, name) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{bench.work / 'optuna.db'}")


def client(bench) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{bench.work / 'mlflow.db'}")


def all_runs(bench) -> list:
    c = client(bench)
    experiment = c.get_experiment_by_name("rnnaudio")
    return c.search_runs([experiment.experiment_id], max_results=1000)


def states(study) -> list[TrialState]:
    return [t.state for t in study.trials]


def test_a_sweep_nests_sweep_trial_fold_in_mlflow_and_refits_the_best(bench):
    name = tiny(bench, "nest", refit="true", space=CELLS_SIZES)
    result = bench.run(name)
    assert "open optuna-dashboard" in result.stdout and "test split: accuracy" in result.stdout

    study = load(bench, name)
    assert states(study) == [TrialState.COMPLETE] * 2
    assert {t.params["model.cell"] for t in study.trials} == {"rnn", "gru"}
    for trial in study.trials:
        assert {"fold0_val_loss", "fold1_val_loss", "mlflow_run_id"} <= set(trial.user_attrs)

    runs = all_runs(bench)
    by_id = {r.info.run_id: r for r in runs}
    parent_of = {r.info.run_id: r.data.tags.get("mlflow.parentRunId") for r in runs}
    sweeps = [r for r in runs if parent_of[r.info.run_id] is None]
    assert len(sweeps) == 1
    sweep = sweeps[0]
    trials = [r for r in runs if parent_of[r.info.run_id] == sweep.info.run_id
              and "optuna.trial" in r.data.tags]
    assert sorted(r.data.tags["optuna.trial"] for r in trials) == ["0", "1"]
    assert {r.data.tags["optuna.state"] for r in trials} == {"COMPLETE"}
    for trial in trials:
        folds = [r for r in runs if parent_of[r.info.run_id] == trial.info.run_id]
        assert len(folds) == 2
    refits = [r for r in runs if r.data.tags.get("rnnaudio.refit") == "true"]
    assert len(refits) == 1 and parent_of[refits[0].info.run_id] == sweep.info.run_id
    assert "test_acc" in refits[0].data.metrics
    assert sweep.data.tags["best_trial"] == str(study.best_trial.number)
    assert "test_acc" in by_id[sweep.info.run_id].data.metrics
    artifacts = {a.path for a in client(bench).list_artifacts(sweep.info.run_id, "figures")}
    assert {"figures/optimization_history.png", "figures/cv_loss_by_hidden_size.png"} <= artifacts
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_running_again_continues_the_same_study(bench):
    name = tiny(bench, "again", n_trials=1)
    bench.run(name)
    bench.run(name, "sweep.n_trials=2")
    study = load(bench, name)
    assert states(study) == [TrialState.COMPLETE] * 2
    sweeps = [r for r in all_runs(bench) if "mlflow.parentRunId" not in r.data.tags]
    assert len(sweeps) == 1, "the resumed sweep keeps its MLflow run"


def test_a_killed_worker_is_retried_and_the_study_ends_with_exactly_n_complete(bench):
    name = tiny(bench, "kill", n_trials=3, sampler="random",
                space="  model.hidden_size: {type: int, low: 8, high: 32}")
    # Longer folds in the run that is killed, so that the moment to kill it (one trial done,
    # the next inside its folds) lasts seconds, not the one poll a fast machine might miss.
    worker = subprocess.Popen(bench.command(name, *SLOW_FOLDS), cwd=bench.work, env=bench.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: _running_after_one_complete(bench, name, n_trials=3), timeout=300)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    assert TrialState.RUNNING in states(load(bench, name))

    bench.run(name, *SLOW_FOLDS)  # the same settings: the study refuses others
    study = load(bench, name)
    assert states(study).count(TrialState.COMPLETE) == 3
    assert TrialState.FAIL in states(study)
    retried = [t for t in study.trials
               if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) is not None]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    runs = all_runs(bench)
    assert "RUNNING" not in {r.info.status for r in runs}
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert killed and {r.data.tags["optuna.state"] for r in killed} == {"FAIL"}


def test_run_sweep_called_from_python_starts_the_server_its_workers_log_through(bench):
    """Without the CLI's early start (an experiment's sweep row calls run_sweep itself):
    two workers over the local SQLite store, through a server run_sweep starts."""
    name = tiny(bench, "library")
    overrides = [f"+sweep={name}", *bench.base, "sweep.workers=2"]
    code = ("import sys; from pathlib import Path; from rnnaudio.compose import register_all; "
            "from rnnaudio.sweep.driver import run_sweep; register_all(); "
            "run_sweep(sys.argv[1:], Path('out'))")
    done = subprocess.run([sys.executable, "-c", code, *overrides], cwd=bench.work,
                          env=bench.env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    assert states(load(bench, name)).count(TrialState.COMPLETE) == 2
    runs = all_runs(bench)
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sum("cv.fold" in r.data.params for r in runs) == 4  # 2 trials x 2 folds


@pytest.mark.parametrize(("workers", "signum", "to_group", "sigint"), [
    (2, signal.SIGINT, True, signal.SIG_DFL),  # Ctrl-C at a terminal: the whole group
    # The same to a sweep started with `&` from a script: it ignores SIGINT, its workers not.
    (2, signal.SIGINT, True, signal.SIG_IGN),
    (2, signal.SIGTERM, False, signal.SIG_DFL),  # `kill`: the sweep's process alone
    (1, signal.SIGTERM, False, signal.SIG_DFL),
])
def test_an_interrupt_stops_every_worker_and_the_next_run_retries_its_trial(
    bench, workers, signum, to_group, sigint
):
    name = tiny(bench, f"stop{workers}{signum}", n_trials=2)
    log = bench.work / "stderr.txt"
    with log.open("w") as stderr:
        # A session of its own, so that a signal to its group reaches this sweep alone.
        sweep = subprocess.Popen(
            bench.command(name, f"sweep.workers={workers}", "trainer.max_epochs=500",
                          "trainer.early_stopping_patience=500"),
            cwd=bench.work, env=bench.env, stdout=subprocess.DEVNULL, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
        try:
            _wait_for(lambda: _a_fold_is_running(bench, name), timeout=300)
            children = _descendants(sweep.pid)  # the workers are the fork server's
            if to_group:
                os.killpg(sweep.pid, signum)
            else:
                sweep.send_signal(signum)
            sweep.wait(timeout=120)
        finally:
            if sweep.poll() is None:
                os.killpg(sweep.pid, signal.SIGKILL)
                sweep.wait()
    assert sweep.returncode == 130
    assert log.read_text().strip().splitlines()[-1].startswith("rnnaudio: interrupted")
    _wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in children), timeout=15)
    assert {r.info.status for r in all_runs(bench)} == {"KILLED"}
    interrupted = [t for t in load(bench, name).trials if t.state == TrialState.FAIL]
    assert interrupted and {t.user_attrs["fail_reason"] for t in interrupted} == {"interrupted"}

    bench.run(name)
    study = load(bench, name)
    assert states(study).count(TrialState.COMPLETE) == 2
    assert sorted(t.params["model.cell"] for t in study.trials
                  if t.state == TrialState.COMPLETE) == ["gru", "rnn"]


def _a_fold_is_running(bench, name) -> bool:
    try:
        # A running trial first: the MLflow store is not opened here before the sweep's
        # server has created its tables, which a client opening a new store would race.
        if TrialState.RUNNING not in states(load(bench, name)):
            return False
        return any(r.info.status == "RUNNING" and "cv.fold" in r.data.params
                   for r in all_runs(bench))
    except Exception:  # the study does not exist yet
        return False


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _descendants(pid: int) -> list[int]:
    children = _children(pid)
    return children + [d for child in children for d in _descendants(child)]


def _running_after_one_complete(bench, name, n_trials: int) -> bool:
    """One trial done and the next one inside its folds: its MLflow runs are open."""
    try:
        s = states(load(bench, name))
    except KeyError:  # the study does not exist yet
        return False
    assert s.count(TrialState.COMPLETE) < n_trials, "the sweep ended before it could be killed"
    if s.count(TrialState.COMPLETE) < 1 or TrialState.RUNNING not in s:
        return False
    return any(r.info.status == "RUNNING" and "cv.fold" in r.data.params
               for r in all_runs(bench))


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def _enqueue(bench, name, lrs: list[float]) -> None:
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{bench.work / 'optuna.db'}",
                                direction="minimize")
    for lr in lrs:
        study.enqueue_trial({"trainer.lr": lr})


def test_the_pruner_stops_a_clearly_worse_trial_after_its_first_fold(bench):
    name = tiny(bench, "prune", n_trials=3, sampler="random", pruner="median", folds=3,
                space=LRS)
    _enqueue(bench, name, [0.003, 0.003, 1e-7])
    bench.run(name, "trainer.max_epochs=3")
    study = load(bench, name)
    assert states(study) == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    pruned = study.trials[2]
    assert [k for k in pruned.user_attrs if k.startswith("fold")] == ["fold0_val_loss"]
    pruned_runs = [r for r in all_runs(bench) if r.data.tags.get("optuna.state") == "PRUNED"]
    assert len(pruned_runs) == 1 and pruned_runs[0].info.status == "FINISHED"


def test_a_diverging_trial_fails_and_the_sweep_goes_on(bench):
    name = tiny(bench, "diverge", n_trials=2, sampler="random", space=LRS)
    _enqueue(bench, name, [1e30, 0.003, 0.003])
    bench.run(name)
    study = load(bench, name)
    assert states(study) == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    failed = [r for r in all_runs(bench) if r.data.tags.get("optuna.state") == "FAIL"]
    assert failed and {r.info.status for r in failed} == {"FAILED"}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_sweep_whose_trials_keep_failing_stops_with_the_reason(bench, workers):
    name = tiny(bench, f"broken{workers}", n_trials=4, sampler="random",
                space="  trainer.lr: {type: categorical, choices: [1.0e+30]}")
    command = bench.command(name, "sweep.max_failures=2", f"sweep.workers={workers}")
    result = subprocess.run(command, cwd=bench.work, env=bench.env, capture_output=True,
                            text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnaudio: error: ")
    if workers == 1:
        assert "2 trials in a row failed (sweep.max_failures=2)" in last
        assert "DivergedError" in last
    study = load(bench, name)
    assert TrialState.COMPLETE not in states(study)
    assert 2 <= len(study.trials) <= 2 * workers  # not one trial after another until killed
    sweep_runs = [r for r in all_runs(bench) if r.data.tags.get("rnnaudio.sweep") == name]
    assert [r.info.status for r in sweep_runs] == ["FAILED"]


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_two_workers_share_one_study_without_duplicates(bench, storage, request):
    name = tiny(bench, f"par_{storage}", n_trials=4,
                space="  model.hidden_size: {type: categorical, choices: [8, 12, 16, 20]}")
    url = (request.getfixturevalue("postgres_url") if storage == "postgresql"
           else f"sqlite:///{bench.work / 'optuna.db'}")
    bench.run(name, "sweep.workers=2", f"sweep.storage={url}")
    study = optuna.load_study(study_name=name, storage=url)
    assert states(study) == [TrialState.COMPLETE] * 4
    assert sorted(t.params["model.hidden_size"] for t in study.trials) == [8, 12, 16, 20]
    trial_runs = [r for r in all_runs(bench)
                  if r.data.tags.get("optuna.study") == name and "cv.fold" not in r.data.params]
    assert sorted(r.data.tags["optuna.trial"] for r in trial_runs) == ["0", "1", "2", "3"]
