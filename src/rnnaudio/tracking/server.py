"""An ``mlflow server`` on loopback over a local SQLite store, for parallel workers.

SQLite takes one writer at a time; several processes logging straight into the file fail
with "database is locked". One server process owns the file and the workers talk HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rnnaudio.config import ConfigError
from rnnaudio.config.checks import without_password


def is_local_store(uri: str) -> bool:
    """True for a database file this process writes itself (no server in between)."""
    return uri.startswith("sqlite:")


def is_server(uri: str) -> bool:
    """True for a tracking server's http(s) URL (MLflow's REST client, not a database)."""
    return uri.startswith(("http://", "https://"))


# Servers that answered once in this process: a sweep builds a tracker per trial, and a
# remote server's brief outage mid-sweep is for MLflow's own retries, not a config error.
_ANSWERED: set[str] = set()


def check_answers(uri: str, timeout: float = 10.0) -> None:
    """Raises a one-line ConfigError at once when ``uri`` is no URL or nothing listens there;
    MLflow's client would retry a refused connection for minutes before it gave up."""
    if uri in _ANSWERED:
        return
    refused = _refusal(uri, timeout)
    if refused is not None:
        raise ConfigError(
            f"tracking.uri={without_password(uri)!r}: no MLflow server answers ({refused}); "
            "start one (`mlflow server`) or log to a local store, e.g. "
            "tracking.uri=sqlite:///mlflow.db"
        )
    _ANSWERED.add(uri)


def _refusal(uri: str, timeout: float) -> str | None:
    """Why nothing answers at ``uri``'s ``/health``, or None when something does.

    The probe goes through MLflow's own HTTP client, so that the credentials and TLS
    settings MLflow reads (``MLFLOW_TRACKING_*``, ``REQUESTS_CA_BUNDLE``) apply to it too.
    Any HTTP status counts as an answer, as do a timeout and a TLS failure: whether such a
    server will do is for MLflow to say, with its own retries and messages.
    """
    # Imported here: a sweep starts this module's server before its 3 s of MLflow imports.
    import requests
    from mlflow.exceptions import InvalidUrlException, MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request
    from urllib3.exceptions import NewConnectionError

    try:
        http_request(get_default_host_creds(uri), "/health", "GET", max_retries=0,
                     timeout=timeout, raise_on_status=False)
    except InvalidUrlException as error:
        raise ConfigError(f"tracking.uri={without_password(uri)!r} is not a valid URL; "
                          "give e.g. http://127.0.0.1:5000") from error
    except MlflowException as error:
        # MLflow raises its own without chaining requests' error, whose first argument is
        # urllib3's MaxRetryError with the reason.
        cause = error.__context__
        refused = isinstance(cause, requests.ConnectionError)
        retries = next(iter(cause.args), None) if refused else None
        reason = getattr(retries, "reason", None)
        if isinstance(reason, NewConnectionError):  # refused, or a host that does not resolve
            # urllib3's words without its "HTTPConnection(host=..., port=...): " prefix
            return str(reason).split("): ", 1)[-1]
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class LocalServer:
    """A started loopback server: its http ``uri``, its process and the file it logs to."""

    uri: str
    process: subprocess.Popen
    log: Path

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Returns once it answers; raises at once, quoting its log, if it has exited."""
        wait_healthy(self.uri, timeout, self.process, self.log)


@contextmanager
def local_server(
    backend_uri: str, artifact_root: str, timeout: float = 120.0, wait: bool = True
) -> Iterator[LocalServer]:
    """Serves ``backend_uri`` on 127.0.0.1 until the block ends.

    ``wait=False`` yields as soon as the server process starts, so that work which needs
    the server only later (workers, the driver's imports) overlaps its 5 s start; such
    work waits for it first (:meth:`LocalServer.wait_healthy`, or :func:`wait_healthy`
    from another process). The block's end stops the server either way.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(Path(artifact_root).resolve()),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    uri = f"http://127.0.0.1:{port}"
    # A file, not a pipe: an unread pipe fills up and blocks the server mid-sweep.
    with tempfile.NamedTemporaryFile(prefix="mlflow-server-", suffix=".log") as log:
        # A session of its own: a Ctrl-C at the terminal must not stop the server while the
        # interrupted workers still log their runs as KILLED through it.
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True,
                                  env={**os.environ, **SERVER_ENV})
        try:
            started = LocalServer(uri, server, Path(log.name))
            if wait:
                started.wait_healthy(timeout)
            yield started
        finally:
            # Every client has finished when the block ends and SQLite commits are atomic,
            # so the server is killed outright: its graceful stop takes 4-5 s that would
            # only delay the sweep's end.
            _kill_group(server)
            server.wait()


# MLflow 3's server also starts a job runner and a huey consumer by default (for GenAI
# jobs and periodic tasks a sweep never uses): 5 s more CPU to start and 12-16 s of CPU in
# its first 20 s, taken from the trials. Tracking and artifacts need neither.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _kill_group(server: subprocess.Popen) -> None:
    """The server and the web workers it started (its session is its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)


def wait_healthy(
    uri: str, timeout: float = 120.0, server: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Returns once something answers at ``uri``; raises after ``timeout`` seconds, or at
    once when the (local) ``server`` process has exited, quoting the end of its ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            error = log.read_text(errors="replace")[-500:] if log is not None else ""
            raise RuntimeError(f"mlflow server exited with {server.returncode}: {error}")
        if _refusal(uri, timeout=2) is None:
            _ANSWERED.add(uri)
            return
        time.sleep(0.2)
    raise RuntimeError(f"mlflow server on {uri} not healthy after {timeout:.0f} s")
