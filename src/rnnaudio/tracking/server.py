"""An ``mlflow server`` on loopback over a local SQLite store, for parallel workers.

SQLite takes one writer at a time; several processes logging straight into the file fail
with "database is locked". One server process owns the file and the workers talk HTTP.
"""

from __future__ import annotations

import contextlib
import os
import re
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
from urllib.parse import urlsplit

from rnnaudio.config import ConfigError
from rnnaudio.config.checks import shown_setting


def scheme(uri: str) -> str:
    """``uri``'s scheme as MLflow matches it: lower-case, without a SQLAlchemy ``+driver``;
    "" for a path (``mlflow.db``, or ``http//host`` with its colon lost). A few schemes
    stand alone as a whole URI (``databricks``), matched as MLflow does, case and all."""
    if uri in _BARE_SCHEMES:
        return uri
    found = _SCHEME.match(uri)
    return found.group(1).lower().partition("+")[0] if found else ""


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_BARE_SCHEMES = {"databricks", "databricks-uc", "uc"}  # MLflow takes these alone as URIs


def is_local_store(uri: str) -> bool:
    """True for a database file this process writes itself (no server in between).
    SQLAlchemy's dialect names are lower-case only: ``Sqlite:`` is no store at all."""
    return uri.startswith(("sqlite:", "sqlite+"))


def is_server(uri: str) -> bool:
    """True for a tracking server's http(s) URL (MLflow's REST client, not a database)."""
    return scheme(uri) in ("http", "https")


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
            f"{shown_setting('tracking.uri', uri)}: no MLflow server answers ({refused}); "
            "start one (`mlflow server`) or log to a local store, e.g. "
            "tracking.uri=sqlite:///mlflow.db"
        )
    _ANSWERED.add(uri)


def _refusal(uri: str, timeout: float, healthy: bool = False) -> str | None:
    """Why nothing answers at ``uri``'s ``/health``, or None when something does.

    The probe goes through MLflow's own HTTP client, so that the credentials and TLS
    settings MLflow reads (``MLFLOW_TRACKING_*``, ``REQUESTS_CA_BUNDLE``) apply to it too.
    Any HTTP status counts as an answer, as do a read timeout and a TLS failure: whether
    such a server will do is for MLflow to say, with its own retries and messages.
    ``healthy`` asks for more, a 200 and nothing else: the answer of the server this
    process started, rather than of whatever took its port first.
    """
    # Imported here: a sweep starts this module's server before its 3 s of MLflow imports.
    from mlflow.exceptions import InvalidUrlException, MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    if not _host(uri):
        raise _invalid_url(uri)
    try:
        response = http_request(get_default_host_creds(uri), "/health", "GET", max_retries=0,
                                timeout=timeout, raise_on_status=False)
    except InvalidUrlException as error:
        raise _invalid_url(uri) from error
    except MlflowException as error:
        refused = _connect_failure(error)
        return refused or (str(error) if healthy else None)
    if healthy and response.status_code != 200:
        return f"HTTP {response.status_code} from /health"
    return None


def _host(uri: str) -> str:
    """The host of ``uri``, or "" where it names none (``http://``, ``http:///x``)."""
    try:
        return urlsplit(uri).hostname or ""
    except ValueError:  # an unclosed IPv6 bracket, say
        return ""


def _invalid_url(uri: str) -> ConfigError:
    return ConfigError(f"{shown_setting('tracking.uri', uri)} is not a valid URL; "
                       "give e.g. http://127.0.0.1:5000")


def _connect_failure(error: BaseException) -> str | None:
    """urllib3's reason when MLflow's request never reached a server: refused, a host that
    does not resolve, a connect timeout (a firewall that drops), or the same at a proxy."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError

    # MLflow raises its own without chaining requests' error, whose first argument is
    # urllib3's MaxRetryError with the reason.
    cause = error.__context__
    if not isinstance(cause, requests.ConnectionError):
        return None
    reason = getattr(next(iter(cause.args), None), "reason", None)
    proxy = getattr(reason, "original_error", None)  # the proxy's own failure within
    failure = reason if proxy is None else proxy
    # NewConnectionError is a ConnectTimeoutError too; a read timeout is neither.
    if not isinstance(failure, ConnectTimeoutError):
        return None
    # urllib3's message without the connection object it names first
    message = getattr(failure, "_message", None) or failure.args[-1]
    return f"at the proxy: {message}" if proxy is not None else str(message)


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
    """Returns once something answers at ``uri`` (a 200 from ``/health`` where ``server``
    is the process meant to answer); raises after ``timeout`` seconds, or at once when
    that ``server`` has exited, quoting the end of its ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            error = log.read_text(errors="replace")[-500:] if log is not None else ""
            raise RuntimeError(f"mlflow server exited with {server.returncode}: {error}")
        if _refusal(uri, timeout=2, healthy=server is not None) is None:
            _ANSWERED.add(uri)
            return
        time.sleep(0.2)
    raise RuntimeError(f"mlflow server on {uri} not healthy after {timeout:.0f} s")
