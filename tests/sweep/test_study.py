"""The global trial budget, on a real SQLite-backed study."""

import optuna
from optuna.trial import TrialState

from rnnaudio.config import SearchParam, SweepConfig
from rnnaudio.sweep.study import make_pruner, make_sampler, open_study, trial_budget
from rnnaudio.sweep.worker import budget_met, others_will_meet_it


def spec(tmp_path, **kwargs) -> SweepConfig:
    return SweepConfig(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}",
                       space={"model.cell": SearchParam(choices=["rnn", "gru"])}, **kwargs)


def test_reopening_the_study_continues_it(tmp_path):
    first = open_study(spec(tmp_path), folds=3)
    first.tell(first.ask(), 1.0)
    again = open_study(spec(tmp_path), folds=3)
    assert len(again.trials) == 1


def test_budget_counts_finished_trials_across_processes(tmp_path):
    s = spec(tmp_path, n_trials=2)
    study = open_study(s, folds=3)
    study.tell(study.ask(), 1.0)
    running = study.ask()
    assert not budget_met(study, 2)
    assert others_will_meet_it(study, 2), "one finished + one running elsewhere meets 2"
    study.tell(running, state=TrialState.PRUNED)
    assert budget_met(study, 2)


def test_a_queued_retry_is_not_left_to_others(tmp_path):
    study = open_study(spec(tmp_path, n_trials=2), folds=3)
    study.tell(study.ask(), 1.0)
    study.ask()
    study.enqueue_trial({"model.cell": "rnn"})
    assert not others_will_meet_it(study, 2)


def test_grid_budget_never_exceeds_the_grid(tmp_path):
    assert trial_budget(spec(tmp_path, n_trials=50, sampler="grid")) == 2
    assert trial_budget(spec(tmp_path, n_trials=5, sampler="tpe")) == 5


def test_samplers_and_pruners_by_name(tmp_path):
    assert isinstance(make_sampler(spec(tmp_path)), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(spec(tmp_path, sampler="grid")), optuna.samplers.GridSampler)
    assert isinstance(make_pruner(spec(tmp_path, pruner="hyperband"), 5),
                      optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(spec(tmp_path, pruner="none"), 5), optuna.pruners.NopPruner)
