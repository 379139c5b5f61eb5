"""An interrupted trial's runs, read back from a real MLflow SQLite store."""

from rnnaudio.config import TrackingConfig
from rnnaudio.sweep.objective import _tag_state, trial_tags
from rnnaudio.tracking.runs import RunTracker


def test_an_interrupt_ends_a_run_its_context_never_saw(tmp_path):
    tracker = RunTracker(TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                        artifact_root=str(tmp_path / "mlartifacts")))
    tags = trial_tags("s", 3)
    # Made by the server while the request was interrupted: no context ever held its id.
    orphan = tracker.client.create_run(tracker.experiment_id, tags=tags).info.run_id
    other = tracker.client.create_run(tracker.experiment_id, tags=trial_tags("s", 4)).info.run_id
    _tag_state(tracker, tags, "FAIL", end_running=True)
    run = tracker.client.get_run(orphan)
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "FAIL"
    assert tracker.client.get_run(other).info.status == "RUNNING"
