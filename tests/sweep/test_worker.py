"""An interrupted trial's runs, read back from a real MLflow SQLite store and Optuna study."""

import optuna
from optuna.trial import TrialState

from rnnaudio.config import TrackingConfig
from rnnaudio.sweep.objective import trial_tags
from rnnaudio.sweep.worker import close_orphan_runs
from rnnaudio.tracking.runs import RunTracker


def test_an_interrupt_ends_a_run_its_context_never_saw(tmp_path):
    tracker = RunTracker(TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                        artifact_root=str(tmp_path / "mlartifacts")))
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}")
    for _ in range(4):
        study.tell(study.ask(), 1.0)
    study.tell(study.ask(), state=TrialState.FAIL)  # trial 4: the interrupted one
    study.ask()  # trial 5: running in another worker
    # Made by the server while the request was interrupted: no context ever held its id.
    orphan = tracker.client.create_run(tracker.experiment_id,
                                       tags=trial_tags("s", 4)).info.run_id
    other = tracker.client.create_run(tracker.experiment_id, tags=trial_tags("s", 5)).info.run_id
    close_orphan_runs(study, tracker)
    run = tracker.client.get_run(orphan)
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "FAIL"
    assert tracker.client.get_run(other).info.status == "RUNNING"
