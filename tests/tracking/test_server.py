"""The loopback MLflow server: a real server over a SQLite file, and nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rnnaudio.config import ConfigError
from rnnaudio.tracking import server


def _session_commands(session: int) -> list[str]:
    """Command lines of the live processes in ``session``."""
    commands = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended while we looked
        if int(stat[3]) == session and stat[0] != "Z":
            commands.append(command)
    return commands


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_server_logs_runs_and_starts_no_job_runner(tmp_path: Path, monkeypatch) -> None:
    started = []
    popen = server.subprocess.Popen

    def recording_popen(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(server.subprocess, "Popen", recording_popen)
    with server.local_server(f"sqlite:///{tmp_path / 'mlflow.db'}",
                             str(tmp_path / "artifacts")) as served:
        client = MlflowClient(served.uri)
        run = client.create_run(client.create_experiment("served"))
        client.log_metric(run.info.run_id, "loss", 0.5)
        client.log_text(run.info.run_id, "hello", "note.txt")
        assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
        session = started[0].pid  # the server leads a session of its own
        commands = _session_commands(session)
    assert list((tmp_path / "artifacts").rglob("note.txt"))
    assert any("uvicorn" in c for c in commands), commands
    assert not any("huey" in c or "job_runner" in c for c in commands), commands
    deadline = time.monotonic() + 10  # killed at once; reaped a moment later
    while _session_commands(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_commands(session) == []  # stopped with the block


class _Answers(BaseHTTPRequestHandler):
    status = 401  # a proxy that asks for credentials
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _answering(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


def test_a_server_that_answers_with_an_http_error_passes_the_check() -> None:
    """A proxy that asks for credentials is a server; MLflow's client handles the rest."""
    with _answering(_Answers) as uri:
        server.check_answers(uri)


def test_a_server_slower_than_the_probe_passes_the_check() -> None:
    """Whether a slow server will do is for MLflow's own timeouts and retries to say."""

    class Slow(_Answers):
        delay = 2.0

    with _answering(Slow) as uri:
        server.check_answers(uri, timeout=0.5)


def test_a_server_that_answered_once_is_not_asked_again() -> None:
    """A sweep opens a tracker per trial: a brief outage mid-sweep is for MLflow's retries,
    not a config error that fails the trial."""
    with _answering(_Answers) as uri:
        server.check_answers(uri)
    server.check_answers(uri)  # nothing listens now
    with pytest.raises(ConfigError, match="no MLflow server answers"):
        server.check_answers(uri.replace("127.0.0.1", "localhost"))


def test_a_port_that_drops_connections_fails_the_check(full_backlog: str) -> None:
    """A connect timeout reached no server; MLflow would retry it for minutes."""
    with pytest.raises(ConfigError, match=r"no MLflow server answers \(.*timed out"):
        server.check_answers(f"http://{full_backlog}", timeout=1)


def test_a_proxy_that_refuses_fails_the_check_and_says_so(monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.free_port()}")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    refused = pytest.raises(ConfigError, match=r"no MLflow server answers \(at the proxy: ")
    with _answering(_Answers) as uri, refused:
        server.check_answers(uri)


@pytest.mark.parametrize("uri", ["http://", "http:///api", "HTTP://"])
def test_a_server_uri_with_no_host_is_not_a_valid_url(uri: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a valid URL"):
        server.check_answers(uri)


def test_the_scheme_is_matched_as_mlflow_matches_it() -> None:
    assert server.is_server("HTTPS://host") and server.is_server("http://host")
    # SQLAlchemy's dialect names are lower-case only
    assert server.is_local_store("sqlite:///x.db") and not server.is_local_store("SQLite:///x")
    assert server.scheme("databricks-uc") == "databricks-uc"  # a scheme alone, not a path
    assert server.scheme("sqlite+pysqlite:///x.db") == "sqlite"
    assert server.scheme("http//host:5000") == "" == server.scheme("mlflow.db")


def test_waiting_for_the_server_this_process_started_wants_a_200() -> None:
    """Whatever won the race for its port answers too, but not with a healthy 200."""

    class Healthy(_Answers):
        status = 200

    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            with _answering(_Answers) as uri:
                server.wait_healthy(uri)  # any answer from a server someone else runs
                with pytest.raises(RuntimeError, match="not healthy after 1 s"):
                    server.wait_healthy(uri, timeout=1, server=alive)
            with _answering(Healthy) as uri:
                server.wait_healthy(uri, timeout=10, server=alive)
        finally:
            alive.kill()
