"""The global trial budget, on a real SQLite-backed study."""

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import optuna
import pytest
from budget_claims import BUDGET, claim_until_refused, claims
from optuna.trial import TrialState

from rnnaudio.config import ConfigError, SearchParam, SweepConfig
from rnnaudio.sweep.budget import BudgetClaimed
from rnnaudio.sweep.study import (
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    sampler_seed,
    trial_budget,
)
from rnnaudio.sweep.worker import budget_met, wait_for_budget


def spec(tmp_path, **kwargs) -> SweepConfig:
    return SweepConfig(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}",
                       space={"model.cell": SearchParam(choices=["rnn", "gru"])}, **kwargs)


def test_reopening_the_study_continues_it(tmp_path):
    first = open_study(spec(tmp_path), folds=3)
    first.tell(first.ask(), 1.0)
    again = open_study(spec(tmp_path), folds=3)
    assert len(again.trials) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("foo://host/db", "Can't load plugin: sqlalchemy.dialects:foo"),
        ("sqlite:///{tmp}/missing/o.db", "unable to open database file"),
        ("postgresql://nobody@127.0.0.1:1/db", "Connection refused"),  # nothing listens on 1
    ],
)
def test_a_storage_that_cannot_be_opened_is_one_line_naming_the_field(tmp_path, url, reason):
    url = url.format(tmp=tmp_path)
    with pytest.raises(ConfigError) as error:
        open_storage(SweepConfig(storage=url, space={"k": SearchParam(choices=[1])}))
    message = str(error.value)
    assert message.startswith(f"sweep.storage={url!r} cannot be opened (")
    assert reason in message
    assert "\n" not in message


def test_a_database_host_that_drops_connections_is_one_line_in_seconds(full_backlog):
    url = f"postgresql://nobody@{full_backlog}/db"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot be opened \(.*timeout expired"):
        open_storage(SweepConfig(storage=url, space={"k": SearchParam(choices=[1])}))
    assert time.monotonic() - start < 30  # not the kernel's two minutes of SYN retries


def test_a_missing_driver_is_named_and_the_password_hidden():
    # mysqlclient, SQLAlchemy's default MySQL driver, is none of the project's dependencies.
    url = "mysql://researcher:s3cret@127.0.0.1/optuna"
    with pytest.raises(ConfigError) as error:
        open_storage(SweepConfig(storage=url, space={"k": SearchParam(choices=[1])}))
    assert str(error.value) == (
        "sweep.storage='mysql://researcher:***@127.0.0.1/optuna' cannot be opened (No module "
        "named 'MySQLdb'; install the database's driver, e.g. pip install -e '.[postgres]' "
        "for PostgreSQL); give e.g. sqlite:///optuna.db or postgresql://user@host/db")


def test_budget_counts_finished_trials_across_processes(tmp_path):
    s = spec(tmp_path, n_trials=2)
    study = open_study(s, folds=3)
    study.tell(study.ask(), 1.0)
    running = study.ask()
    assert not budget_met(study, 2)
    with pytest.raises(BudgetClaimed):
        study.ask()  # one finished + one running elsewhere hold both slots
    study.tell(running, state=TrialState.PRUNED)
    assert budget_met(study, 2)


def test_a_waiting_worker_returns_when_the_last_trial_elsewhere_ends(tmp_path):
    s = spec(tmp_path, n_trials=2)
    study = open_study(s, folds=3)
    study.tell(study.ask(), 1.0)
    running = study.ask()
    wait_for_budget(study, 2, seconds=0.2)  # nothing ends: the wait runs out
    assert not budget_met(study, 2)
    elsewhere = open_study(s, folds=3)  # another worker's connection
    told: list[float] = []
    finish = threading.Timer(0.5, lambda: (elsewhere.tell(running.number, 2.0),
                                           told.append(time.monotonic())))
    finish.start()
    wait_for_budget(study, 2, seconds=120)
    returned = time.monotonic()
    finish.join()
    # Within a few polls of the trial's end, not at the end of a longer sleep (it slept 5 s).
    assert budget_met(study, 2) and returned - told[0] < 3


def test_a_failed_trial_gives_its_slot_back(tmp_path):
    study = open_study(spec(tmp_path, n_trials=1), folds=3)
    study.tell(study.ask(), state=TrialState.FAIL)
    study.tell(study.ask(), 1.0)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]


def test_a_queued_retry_is_popped_when_the_budget_is_held(tmp_path):
    study = open_study(spec(tmp_path, n_trials=2), folds=3)
    study.tell(study.ask(), 1.0)
    study.enqueue_trial({"model.cell": "rnn"})  # what a dead worker's retry looks like
    retry = study.ask()
    assert retry.params == {} and retry.number == 1
    with pytest.raises(BudgetClaimed):
        study.ask()


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_processes_that_ask_at_once_claim_exactly_the_budget(tmp_path, storage, request):
    url = (request.getfixturevalue("postgres_url") if storage == "postgresql"
           else spec(tmp_path).storage)
    open_study(claims(url), folds=3)
    start = time.time() + 5
    with ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("spawn")) as pool:
        claimed = list(pool.map(claim_until_refused, [url] * 6, [start] * 6))
    assert sum(claimed) == BUDGET
    assert len(optuna.load_study(study_name="claims", storage=url).trials) == BUDGET


def test_grid_budget_never_exceeds_the_grid(tmp_path):
    assert trial_budget(spec(tmp_path, n_trials=50, sampler="grid")) == 2
    assert trial_budget(spec(tmp_path, n_trials=5, sampler="tpe")) == 5


def test_samplers_and_pruners_by_name(tmp_path):
    assert isinstance(make_sampler(spec(tmp_path), 0), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(spec(tmp_path, sampler="grid"), 0),
                      optuna.samplers.GridSampler)
    assert isinstance(make_pruner(spec(tmp_path, pruner="hyperband"), 5),
                      optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(spec(tmp_path, pruner="none"), 5), optuna.pruners.NopPruner)


def wide(tmp_path, **kwargs) -> SweepConfig:
    return SweepConfig(study_name="w", storage=f"sqlite:///{tmp_path / 'w.db'}", seed=7,
                       space={"model.hidden_size": SearchParam(type="int", low=8, high=512)},
                       **kwargs)


def first_points(study: optuna.Study, n: int = 3) -> list[int]:
    return [study.ask().suggest_int("model.hidden_size", 8, 512) for _ in range(n)]


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_workers_and_a_resumed_run_draw_their_own_points_from_the_seed(tmp_path, sampler):
    s = wide(tmp_path, sampler=sampler)
    assert sampler_seed(s, worker=0, trials=0) == 7  # a new study, as sweep.seed says
    one, two = open_study(s, folds=3, worker=0), open_study(s, folds=3, worker=1)
    assert first_points(one) != first_points(two)  # seeded alike, both drew the same
    resumed = open_study(s, folds=3)
    alone = optuna.create_study(sampler=make_sampler(s, 7))
    assert first_points(resumed) != first_points(alone)
    # Still fixed by sweep.seed: the same process in the same study state draws the same.
    assert sampler_seed(s, 1, 6) == sampler_seed(s, 1, 6) != sampler_seed(s, 0, 6)
    # A grid's trial n takes the n-th point of its shuffle: every process shuffles alike.
    assert sampler_seed(wide(tmp_path, sampler="grid"), worker=1, trials=6) == 7
