"""A database tracking store that does not answer is one line at once, not MLflow's 100 s
of retries and a traceback."""

from __future__ import annotations

import time

import pytest

from rnnaudio.config import ConfigError, TrackingConfig
from rnnaudio.tracking import database
from rnnaudio.tracking.database import check_database_answers, connect_args, is_database_server
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.tracking.server import free_port


@pytest.mark.parametrize(("uri", "server"), [
    ("postgresql://u@host/db", True),
    ("postgresql+psycopg://u@host/db", True),
    ("mysql+pymysql://u@host/db", True),
    ("mssql+pyodbc://u@dsn", True),
    ("sqlite:///mlflow.db", False),
    ("http://127.0.0.1:5000", False),
    ("mlflow.db", False),
])
def test_database_servers_are_told_from_files_and_mlflow_servers(uri: str, server: bool) -> None:
    assert is_database_server(uri) is server


def test_a_database_that_refuses_fails_the_tracker_at_once_in_one_line(tmp_path) -> None:
    uri = f"postgresql://researcher:s3cret@127.0.0.1:{free_port()}/mlflow"
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path / "artifacts")))
    message = str(error.value)
    assert time.monotonic() - start < 10  # MLflow: ten attempts over about 100 s
    assert message.startswith("tracking.uri='postgresql://researcher:***@127.0.0.1:")
    assert "cannot connect to the database: (psycopg.OperationalError)" in message
    assert "Connection refused" in message
    assert "s3cret" not in message and "\n" not in message


def test_a_database_host_that_drops_connections_times_out(full_backlog: str) -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot connect to the database: .*timeout expired"):
        check_database_answers(f"postgresql://researcher@{full_backlog}/mlflow", timeout=2)
    assert time.monotonic() - start < 10  # not the kernel's two minutes of SYN retries


def test_a_connect_timeout_in_the_url_is_the_one_that_counts(full_backlog: str) -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError, match="timeout expired"):
        check_database_answers(f"postgresql://researcher@{full_backlog}/mlflow?connect_timeout=4",
                               timeout=2)
    assert 3.5 < time.monotonic() - start < 10


@pytest.mark.parametrize(("uri", "args"), [
    ("postgresql://u@host/db", {"connect_timeout": 10}),  # psycopg 3, SQLAlchemy's default
    ("postgresql+psycopg2://u@host/db", {"connect_timeout": 10}),
    ("mysql+pymysql://u@host/db", {"connect_timeout": 10}),
    ("postgresql+pg8000://u@host/db", {}),  # its connect() takes timeout=, not this
    ("mssql+pyodbc://u@dsn", {}),
    ("postgresql://u@host/db?connect_timeout=60", {}),  # the URL's own bound stands
    ("postgresql://u@host:abc/db", {}),  # SQLAlchemy says why when the engine is made
    ("sqlite:///mlflow.db", {}),
])
def test_only_drivers_that_take_a_connect_timeout_get_one(uri: str, args: dict) -> None:
    assert connect_args(uri) == args


def test_a_database_that_answers_is_remembered(tmp_path) -> None:
    """The probe's way through, on the one database engine that runs here: SQLite."""
    uri = f"sqlite:///{tmp_path / 'answers.db'}"
    check_database_answers(uri)
    assert uri in database._ANSWERED


def test_a_database_url_sqlalchemy_cannot_read_is_one_line(tmp_path) -> None:
    uri = "postgresql://researcher:s3cret@127.0.0.1:abc/mlflow"
    with pytest.raises(ConfigError, match=r"^tracking.uri='postgresql://researcher:\*\*\*@"
                       r"127.0.0.1:abc/mlflow' is not a valid database URL \(invalid literal"):
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path / "artifacts")))


def test_a_database_that_answered_once_is_left_to_mlflows_retries(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep opens a tracker per trial; an outage after the first is not a config error."""
    uri = f"postgresql://researcher@127.0.0.1:{free_port()}/mlflow"
    monkeypatch.setattr(database, "_ANSWERED", {uri})
    check_database_answers(uri)  # nothing listens, but it answered before
    with pytest.raises(ConfigError, match="cannot connect to the database"):
        check_database_answers(uri.replace("researcher", "someone"))


@pytest.mark.parametrize(("uri", "says"), [
    ("Postgresql://u@127.0.0.1:1/db", "database schemes are lower-case"),
    ("mysql://u@127.0.0.1:1/db", "No module named 'MySQLdb'"),
])
def test_sqlalchemys_own_refusals_keep_their_one_line(tmp_path, uri: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^tracking.uri='{uri}': .*{says}"):
        RunTracker(TrackingConfig(uri=uri, artifact_root=str(tmp_path / "artifacts")))
