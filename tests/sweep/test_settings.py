"""A study keeps the settings its trials ran under; resuming it under others is refused."""

import optuna
import pytest

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.sweep.settings import SETTINGS_ATTR, check_settings, trial_settings
from rnnaudio.sweep.study import open_study


def opened(tmp_path, *more: str) -> tuple[optuna.Study, object, dict[str, str]]:
    overrides = ["+sweep=hidden_units", f"sweep.storage=sqlite:///{tmp_path / 'o.db'}", *more]
    spec = compose_config(overrides).sweep
    return open_study(spec, folds=3), spec, trial_settings(spec, overrides)


def test_settings_are_the_trials_config_less_what_never_changes_a_loss(tmp_path):
    _, _, settings = opened(tmp_path, "trainer.max_epochs=3", "trainer.progress=false")
    assert settings["trainer.max_epochs"] == "3"  # the command line wins over the spec's 20
    assert settings["cv.folds"] == "3" and settings["model.cell"] == "lstm"
    assert "model.hidden_size" not in settings  # swept
    assert not any(key.startswith(("sweep.", "tracking.", "trainer.progress", "dataset.root"))
                   for key in settings)


def test_a_study_resumed_under_other_settings_is_refused_naming_them(tmp_path):
    study, spec, settings = opened(tmp_path, "trainer.max_epochs=2")
    check_settings(study, spec, settings)
    assert study.user_attrs[SETTINGS_ATTR] == settings
    study.tell(study.ask(), 1.0)
    # What the trials share is unchanged: a bigger budget, another root, a quieter terminal.
    again, spec, same = opened(tmp_path, "trainer.max_epochs=2", "sweep.n_trials=20",
                               "dataset.root=/elsewhere", "trainer.progress=false")
    check_settings(again, spec, same)
    again, spec, other = opened(tmp_path, "trainer.max_epochs=5", "model=gru")
    with pytest.raises(ConfigError) as error:
        check_settings(again, spec, other)
    assert str(error.value) == (
        f"sweep.study_name='hidden_units' in sweep.storage='sqlite:///{tmp_path / 'o.db'}' has "
        "trials run under other settings: model.cell=gru (its trials ran with lstm), "
        "trainer.max_epochs=5 (its trials ran with 2); their losses would not compare, so "
        "resume it with its settings, or start another study with sweep.study_name=<name>")


def test_a_field_one_side_lacks_is_no_difference(tmp_path):
    study, spec, settings = opened(tmp_path)
    study.tell(study.ask(), 1.0)
    study.set_user_attr(SETTINGS_ATTR, {"trainer.max_epochs": "20", "a.retired.field": "1"})
    check_settings(study, spec, settings)
    study.set_user_attr(SETTINGS_ATTR, {"trainer.max_epochs": "21", "a.retired.field": "1"})
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=20 \(its trials ran with 21\)"):
        check_settings(study, spec, settings)


def test_a_run_beside_a_running_trial_of_other_settings_is_refused(tmp_path):
    """Another machine's first trial is still running: its settings hold."""
    study, spec, slow = opened(tmp_path, "trainer.max_epochs=50")
    check_settings(study, spec, slow)
    study.ask()  # running elsewhere
    again, spec, quick = opened(tmp_path, "trainer.max_epochs=2")
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=2 \(its trials ran with 50\)"):
        check_settings(again, spec, quick)


def test_a_study_with_no_finished_trial_takes_the_settings_it_is_run_with(tmp_path):
    """Only failed or interrupted trials: no loss to compare with, so nothing is refused."""
    study, spec, slow = opened(tmp_path, "trainer.max_epochs=500")
    check_settings(study, spec, slow)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    again, spec, quick = opened(tmp_path, "trainer.max_epochs=2")
    check_settings(again, spec, quick)
    assert again.user_attrs[SETTINGS_ATTR]["trainer.max_epochs"] == "2"
