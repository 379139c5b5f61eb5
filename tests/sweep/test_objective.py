"""A trial that fails before it trains still records why, on a real Optuna study."""

import optuna
from optuna.trial import TrialState

from rnnaudio.config import SearchParam, SweepConfig
from rnnaudio.sweep.objective import FAIL_REASON, CVObjective, fail_reason
from rnnaudio.tracking.server import free_port


def _fail_reason(spec_overrides: list[str], overrides: list[str]) -> str:
    spec = SweepConfig(overrides=spec_overrides, space={
        "model.hidden_size": SearchParam(type="int", low=16, high=32)})
    study = optuna.create_study()
    study.optimize(CVObjective(spec, overrides, sweep_run_id="unused"), n_trials=1,
                   catch=(Exception,))
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    return trial.user_attrs[FAIL_REASON]


def test_a_point_that_does_not_compose_fails_its_trial_with_the_reason():
    assert _fail_reason(["cv.folds=1"], []) == (
        "ConfigError: cv.folds=1 is out of range; valid values are >= 2")


def test_a_tracking_server_that_does_not_answer_fails_its_trial_with_the_reason():
    uri = f"http://127.0.0.1:{free_port()}"
    assert _fail_reason([], [f"tracking.uri={uri}"]).startswith(
        f"ConfigError: tracking.uri='{uri}': no MLflow server answers")


def test_a_fail_reason_is_one_line_with_no_password():
    error = RuntimeError("cannot reach postgresql://researcher:s3cret@db/optuna\nDETAIL: ...")
    assert fail_reason(error) == "RuntimeError: cannot reach postgresql://researcher:***@db/optuna"
    assert fail_reason(KeyboardInterrupt()) == "interrupted"
    assert fail_reason(ValueError()) == "ValueError"
    assert fail_reason(ValueError("ends with a colon:")) == "ValueError: ends with a colon:"
