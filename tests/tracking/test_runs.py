"""RunTracker against a real MLflow SQLite store."""

import re
import time
from importlib.util import find_spec

import matplotlib.pyplot as plt
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from rnnaudio.config import ConfigError, TrackingConfig
from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.tracking.server import free_port
from unprivileged import config_error_of, skip_unless_modes_count


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
    message = str(error.value)
    assert message.startswith("tracking.uri='foo://x' is not a store MLflow can open; "
                              "valid schemes are ")
    schemes = message.split("valid schemes are ")[1].split(" (")[0].split(", ")
    assert {"sqlite", "http", "https", "postgresql"} <= set(schemes)
    assert not {"", "file", "uc", "databricks-uc"} & set(schemes)  # refused for tracking


@pytest.mark.parametrize(
    "uri", ["mlflow.db", "./mlruns", "http//host:5000", "file:///tmp/r", "Databricks"])
def test_a_folder_is_refused_in_one_line_that_names_a_database(tmp_path, uri):
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value) == (
        f"tracking.uri='{uri}' names a folder, MLflow's retired file store; give a database "
        "(e.g. sqlite:///mlflow.db) or a server (e.g. http://127.0.0.1:5000)")


@pytest.mark.parametrize(("uri", "says"), [
    ("uc://catalog", "Unity Catalog"),
    ("databricks-uc", "Unity Catalog"),  # a scheme alone, not a folder
    ("sqlite:mlflow.db", "is not a SQLAlchemy URL"),
    ("Sqlite:///runs/mlflow.db", "Can't load plugin"),
    ("Postgresql://user@db/runs", "database schemes are lower-case"),
    ("postgresql+nodriver://user@db/runs", "sqlalchemy.dialects:postgresql.nodriver; give, e.g."),
    pytest.param("mysql://user@db/runs",
                 "No module named 'MySQLdb'; install the database's driver",
                 marks=pytest.mark.skipif(find_spec("MySQLdb") is not None,
                                          reason="the MySQL driver is installed")),
])
def test_a_store_mlflow_refuses_is_one_line_with_its_reason(tmp_path, monkeypatch, uri, says):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value).startswith(f"tracking.uri='{uri}'")
    assert says in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists()  # nothing made for a store that is refused


def test_a_password_is_masked_in_mlflow_s_own_words_too(tmp_path):
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri="uc://user:s3cret@host/x", artifact_root=str(tmp_path)))
    assert "s3cret" not in str(error.value)
    assert "Unity Catalog tracking URI 'uc://user:***@host/x'" in str(error.value)


@pytest.mark.parametrize("scheme", ["http", "HTTP"])
def test_a_server_uri_where_nothing_listens_fails_at_once(tmp_path, scheme):
    uri = f"{scheme}://127.0.0.1:{free_port()}"  # free: nothing listens there
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert re.fullmatch(
        f"tracking.uri='{uri}': no MLflow server answers \\(Failed to establish a new "
        r"connection: \[Errno \d+\] Connection refused\); start one \(`mlflow server`\) or "
        r"log to a local store, e.g. tracking.uri=sqlite:///mlflow.db", str(error.value))
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


def test_a_sqlite_file_under_a_file_names_the_field(tmp_path):
    """MLflow fails fast here too, but with a traceback that names no field."""
    (tmp_path / "runs").write_text("a file, not a folder")
    uri = f"sqlite:///{tmp_path}/runs/mlflow.db"
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value).startswith(
        f"tracking.uri='{uri}': cannot make folder {tmp_path}/runs (")


@pytest.mark.parametrize(("locked", "mode", "named"), [
    ("locked", 0o555, "locked"),  # cannot be written
    ("locked", 0o600, "locked"),  # cannot be searched: the file cannot even be looked at
    ("locked/mlflow.db", 0o444, "locked/mlflow.db"),
])
def test_an_unwritable_sqlite_file_or_folder_fails_at_once(tmp_path, locked, mode, named):
    """MLflow alone retries a folder it cannot write for about 100 s, then prints a
    traceback; SQLite writes its journal beside the file, so both must be writable."""
    skip_unless_modes_count(tmp_path)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "mlflow.db").touch()
    (tmp_path / locked).chmod(mode)
    uri = f"sqlite:///{tmp_path}/locked/mlflow.db"
    assert config_error_of(
        f"from rnnaudio.config import TrackingConfig; from rnnaudio.tracking.runs import "
        f"RunTracker; RunTracker(TrackingConfig(uri={uri!r}, artifact_root={str(tmp_path)!r}))"
    ) == (f"tracking.uri='{uri}': {tmp_path}/{named} is not writable; give a file in a "
          "writable folder, e.g. tracking.uri=sqlite:///mlflow.db")


def test_a_sqlite_file_that_is_a_folder_fails_at_once(tmp_path):
    """MLflow alone retries it for about a minute: "unable to open database file"."""
    uri = f"sqlite:///{tmp_path}"
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert str(error.value).startswith(f"tracking.uri='{uri}': {tmp_path} is a folder, not a file;")


def test_a_sqlite_file_in_a_new_folder_is_made(tmp_path):
    uri = f"sqlite:///{tmp_path}/runs/2026/mlflow.db"
    RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path)))
    assert (tmp_path / "runs" / "2026" / "mlflow.db").is_file()


def test_a_new_experiment_beside_others_is_said_with_their_names(tmp_path, caplog):
    def tracking(name: str) -> TrackingConfig:
        return TrackingConfig(uri=f"sqlite:///{tmp_path / 'm.db'}", experiment=name,
                              artifact_root=str(tmp_path / "artifacts"))

    with caplog.at_level("WARNING", logger="rnnaudio.tracking.runs"):
        RunTracker(tracking("rnnaudio"))  # the first in a store: nothing to confuse it with
        assert not caplog.messages
        RunTracker(tracking("rnnaudio"))
        assert not caplog.messages
        RunTracker(tracking("rnaudio"))
    assert caplog.messages == [f"tracking.experiment='rnaudio' is new in tracking.uri="
                               f"'sqlite:///{tmp_path / 'm.db'}', so it is created beside: "
                               "Default, rnnaudio"]


def test_an_experiment_another_process_creates_first_is_taken_up(tmp_path, monkeypatch):
    tracking = TrackingConfig(uri=f"sqlite:///{tmp_path / 'm.db'}", experiment="race",
                              artifact_root=str(tmp_path / "artifacts"))
    first = RunTracker(tracking)
    # The second process looked before the first created it, and creates after.
    calls = []
    real = MlflowClient.get_experiment_by_name

    def looked_too_early(self, name):
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", looked_too_early)
    assert RunTracker(tracking).experiment_id == first.experiment_id
    assert calls == ["race", "race"]
