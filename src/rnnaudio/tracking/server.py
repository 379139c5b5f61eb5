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
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rnnaudio.config import ConfigError


def is_local_store(uri: str) -> bool:
    """True for a database file this process writes itself (no server in between)."""
    return uri.startswith("sqlite:")


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_answers(uri: str, timeout: float = 10.0) -> None:
    """Raises a one-line ConfigError at once when nothing answers at the server ``uri``;
    MLflow's client would retry a refused connection for minutes before it gave up."""
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # something answers (a proxy asking for credentials, say): MLflow's turn
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise ConfigError(
            f"tracking.uri={uri!r}: no MLflow server answers ({reason}); start one "
            "(`mlflow server`) or log to a local store, e.g. tracking.uri=sqlite:///mlflow.db"
        ) from error


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
    """Returns once ``uri``'s ``/health`` answers 200; raises after ``timeout`` seconds, or
    at once when the (local) ``server`` process has exited, quoting the end of its ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            error = log.read_text(errors="replace")[-500:] if log is not None else ""
            raise RuntimeError(f"mlflow server exited with {server.returncode}: {error}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"mlflow server on {uri} not healthy after {timeout:.0f} s")
