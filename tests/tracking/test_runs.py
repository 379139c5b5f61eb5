"""RunTracker against a real MLflow SQLite store."""

import time

import matplotlib.pyplot as plt
import pytest
from mlflow.entities import Metric

from rnnaudio.config import ConfigError, TrackingConfig
from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.tracking.server import free_port


def test_children_nest_under_their_parent_and_finish(tracker):
    with tracker.run("parent") as parent, tracker.run("child", parent_id=parent) as child:
        tracker.log_metrics(child, {"loss": 0.5})
    runs = tracker.client.search_runs([tracker.experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert by_name["child"].data.tags["mlflow.parentRunId"] == parent
    assert by_name["child"].info.run_id == child
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_a_run_that_raises_is_marked_failed(tracker):
    with pytest.raises(RuntimeError), tracker.run("doomed") as run_id:
        raise RuntimeError("boom")
    assert tracker.client.get_run(run_id).info.status == "FAILED"


def test_an_interrupted_run_is_marked_killed(tracker):
    with pytest.raises(KeyboardInterrupt), tracker.run("interrupted") as run_id:
        raise KeyboardInterrupt
    assert tracker.client.get_run(run_id).info.status == "KILLED"


def test_a_run_lightning_exits_after_ctrl_c_is_marked_killed(tracker):
    with pytest.raises(SystemExit), tracker.run("interrupted in fit") as run_id:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemExit(1)  # noqa: B904 - what Lightning does after its own shutdown
    assert tracker.client.get_run(run_id).info.status == "KILLED"


def test_more_than_a_batch_of_params_are_all_logged(tracker):
    params = {f"p{i}": i for i in range(250)}
    with tracker.run("many") as run_id:
        tracker.log_params(run_id, params)
    assert len(tracker.client.get_run(run_id).data.params) == 250


def test_artifacts_land_under_the_configured_root(tracker, store):
    fig, _ = plt.subplots()
    with tracker.run("art") as run_id:
        tracker.log_yaml(run_id, {"model": {"cell": "gru"}}, "config.yaml")
        tracker.log_figure(run_id, fig, "figures/x.png")
    names = {a.path for a in tracker.client.list_artifacts(run_id)}
    assert names == {"config.yaml", "figures"}
    assert list((store / "artifacts").rglob("x.png"))


def test_ui_command_for_a_local_store(tracker):
    assert tracker.ui_command() == f"mlflow ui --backend-store-uri {tracker.uri}"


def test_flatten_gives_dotted_keys():
    assert flatten({"model": {"cell": "gru", "hidden_size": 8}, "seed": 0}) == {
        "model.cell": "gru", "model.hidden_size": "8", "seed": "0"}


def test_more_than_a_batch_of_metric_points_are_all_logged(tracker):
    with tracker.run("long series") as run_id:
        tracker.log_metric_points(run_id, [Metric("m", float(step), 0, step)
                                           for step in range(2500)])
    history = tracker.client.get_metric_history(run_id, "m")
    assert sorted(m.step for m in history) == list(range(2500))


def test_a_scheme_mlflow_cannot_open_is_one_line_naming_the_field(tmp_path):
    cfg = TrackingConfig(uri="foo://x", artifact_root=str(tmp_path))
    with pytest.raises(ConfigError) as error:
        RunTracker(cfg)
    assert str(error.value) == (
        "tracking.uri='foo://x' is not a store MLflow can open; valid schemes are file, "
        "databricks, databricks-uc, uc, http, https, postgresql, mysql, sqlite, mssql "
        "(e.g. sqlite:///mlflow.db or http://host:5000)")


def test_a_server_uri_where_nothing_listens_fails_at_once(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # free: nothing listens there
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value) == (
        f"tracking.uri='{uri}': no MLflow server answers (Failed to establish a new "
        "connection: [Errno 111] Connection refused); start one (`mlflow server`) or log to "
        "a local store, e.g. tracking.uri=sqlite:///mlflow.db")
    # MLflow's client alone retries a refused connection for minutes.
    assert time.monotonic() - start < 10


def test_a_password_in_the_uri_is_not_shown(tmp_path):
    uri = f"http://researcher:s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert "s3cret" not in str(error.value)
    assert "'http://researcher:***@127.0.0.1:" in str(error.value)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:abc", "http://[::1"])
def test_a_server_uri_that_is_no_url_is_one_line(tmp_path, uri):
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value) == (
        f"tracking.uri='{uri}' is not a valid URL; give e.g. http://127.0.0.1:5000")


def test_a_sqlite_file_under_a_file_fails_at_once(tmp_path):
    (tmp_path / "runs").write_text("a file, not a folder")
    uri = f"sqlite:///{tmp_path}/runs/mlflow.db"
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value).startswith(
        f"tracking.uri='{uri}': cannot make folder {tmp_path}/runs (")
    assert time.monotonic() - start < 10  # MLflow alone retries it for minutes


def test_a_sqlite_file_in_a_new_folder_is_made(tmp_path):
    uri = f"sqlite:///{tmp_path}/runs/2026/mlflow.db"
    RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert (tmp_path / "runs" / "2026" / "mlflow.db").is_file()
