import optuna
import pytest

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError, SearchParam, SweepConfig
from rnnaudio.sweep.space import check_trials, grid, grid_size, suggest, to_overrides


def space() -> dict[str, SearchParam]:
    return {
        "model.cell": SearchParam(type="categorical", choices=["rnn", "lstm", "gru"]),
        "model.hidden_size": SearchParam(type="int", low=16, high=256, log=True),
        "trainer.lr": SearchParam(type="float", low=1e-4, high=1e-2, log=True),
        "model.bidirectional": SearchParam(type="categorical", choices=[False, True]),
    }


def test_suggestions_stay_inside_the_space():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        choice = suggest(trial, space())
        assert choice["model.cell"] in ("rnn", "lstm", "gru")
        assert 16 <= choice["model.hidden_size"] <= 256
        assert isinstance(choice["model.hidden_size"], int)
        assert 1e-4 <= choice["trainer.lr"] <= 1e-2
        study.tell(trial, 0.0)


def test_choices_become_overrides_that_compose():
    choice = {"model.cell": "gru", "model.hidden_size": 48, "trainer.lr": 0.00123,
              "model.bidirectional": True}
    cfg = compose_config(to_overrides(choice))
    assert (cfg.model.cell, cfg.model.hidden_size, cfg.trainer.lr, cfg.model.bidirectional) == (
        "gru", 48, 0.00123, True)


def test_grid_enumerates_categorical_and_stepped_int_dimensions():
    g = {"model.cell": SearchParam(choices=["rnn", "gru"]),
         "model.hidden_size": SearchParam(type="int", low=32, high=96, step=32)}
    assert grid(g) == {"model.cell": ["rnn", "gru"], "model.hidden_size": [32, 64, 96]}
    assert grid_size(g) == 6


def test_grid_refuses_a_continuous_dimension():
    with pytest.raises(ConfigError, match=r"sweep.space.trainer.lr: sweep.sampler=grid needs"):
        grid({"trainer.lr": SearchParam(type="float", low=1e-4, high=1e-2)})


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (SearchParam(type="categorical"), "sweep.space.k.choices is empty"),
        (SearchParam(type="int", low=5, high=5),
         "low=5, high=5; an int dimension needs numbers with low < high"),
        (SearchParam(type="float", low=0.5, high=None),
         "low=0.5, high=null; a float dimension needs numbers with low < high"),
        (SearchParam(type="float", low=0, high=1, log=True), "a log scale needs low > 0"),
        (SearchParam(type="normal"), "sweep.space.k.type='normal' is not one of"),
    ],
)
def test_bad_dimensions_are_one_line_errors(param, message):
    with pytest.raises(ConfigError, match=message):
        SweepConfig(space={"k": param})


def test_the_shipped_specs_compose():
    for name in ("hidden_size", "demo"):
        cfg = compose_config([f"+sweep={name}"])
        assert cfg.sweep is not None and cfg.sweep.study_name == name
        assert set(cfg.sweep.space) == {"model.cell", "model.hidden_size"}


def test_a_spec_needs_trials_or_a_timeout():
    with pytest.raises(ConfigError, match=r"sweep.n_trials=null and sweep.timeout=null"):
        compose_config(["+sweep=demo", "sweep.n_trials=null"])


def test_a_storage_that_is_not_a_url_is_refused_before_anything_starts():
    with pytest.raises(ConfigError, match=r"sweep.storage='optuna.db' is not a database URL"):
        compose_config(["+sweep=demo", "sweep.storage=optuna.db"])


def sweep_spec(space: dict[str, SearchParam]) -> SweepConfig:
    return SweepConfig(study_name="s", space=space)


@pytest.mark.parametrize(("param", "message"), [
    (("model.hiden_size", SearchParam(type="int", low=8, high=16)),
     "sweep.space.model.hiden_size: 8 gives no valid config: model.hiden_size is not a config"),
    (("model.cell", SearchParam(choices=["rnn", "lstn", "gru"])),
     "sweep.space.model.cell: 'lstn' gives no valid config: model.cell='lstn' is not one of"),
    (("model.hidden_size", SearchParam(type="int", low=0, high=16)),
     "sweep.space.model.hidden_size: 0 gives no valid config: model.hidden_size=0 is out of"),
])
def test_a_key_or_value_no_trial_could_run_is_refused_before_any_trial(param, message):
    key, bad = param
    spec = sweep_spec({"trainer.lr": SearchParam(type="float", low=1e-3, high=1e-2), key: bad})
    with pytest.raises(ConfigError) as error:
        check_trials(spec, ["+sweep=demo"])
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_spec_and_command_line_overrides_are_checked_under_each_value():
    spec = sweep_spec({"model.attention": SearchParam(choices=["none", "additive"])})
    check_trials(spec, [])
    with pytest.raises(ConfigError, match=r"sweep\.space\.model\.attention: 'additive' gives no"):
        check_trials(spec, ["dataset=jsb"])


def test_values_that_fail_only_together_are_left_to_the_trials():
    spec = sweep_spec({"dataset": SearchParam(choices=["synth_commands", "jsb"]),
                       "model.attention": SearchParam(choices=["none", "additive"])})
    check_trials(spec, [])  # jsb with additive attention fails, but each runs with the other


def test_the_shipped_sweeps_pass_the_check():
    for name in ("demo", "hidden_size", "hidden_units"):
        cfg = compose_config([f"+sweep={name}"])
        check_trials(cfg.sweep, [f"+sweep={name}"])


def test_a_refit_on_a_corpus_without_a_test_split_is_refused_before_any_trial():
    spec = sweep_spec({"model.cell": SearchParam(choices=["rnn", "gru"])})
    esc50 = ["dataset=esc50", "dataset.root=/corpora/ESC-50-master"]
    with pytest.raises(ConfigError) as error:
        check_trials(spec, esc50)
    assert str(error.value) == (
        "sweep.refit=true scores on the test split, and dataset=esc50 has none with "
        "dataset.test_folds=[]; hold a predefined fold out, e.g. dataset.test_folds=[5], or "
        "set sweep.refit=false")
    check_trials(spec, [*esc50, "dataset.test_folds=[5]"])
    check_trials(SweepConfig(study_name="s", space=spec.space, refit=False), esc50)


@pytest.mark.parametrize("mels", [[80, 40], [40, 80]])
def test_a_value_valid_beside_another_value_of_the_space_is_kept_in_either_order(mels):
    # n_mfcc=64 needs n_mels=80: with the default 40 alone it would be refused.
    check_trials(sweep_spec({"features.n_mels": SearchParam(choices=mels),
                             "features.n_mfcc": SearchParam(type="int", low=13, high=64)}), [])


def test_a_stepped_range_is_checked_at_the_last_value_optuna_draws():
    # 0.0, 0.3, 0.6, 0.9: the high of 1.0 is never drawn, and 0.95 is dropout's limit.
    check_trials(sweep_spec({"model.dropout": SearchParam(type="float", low=0.0, high=1.0,
                                                          step=0.3)}), [])
    with pytest.raises(ConfigError, match=r"sweep\.space\.model\.dropout: 0\.96 gives no"):
        check_trials(sweep_spec({"model.dropout": SearchParam(type="float", low=0.0,
                                                              high=0.96)}), [])
