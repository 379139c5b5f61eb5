"""An ``mlflow server`` on loopback over a local SQLite store, for parallel workers.

SQLite takes one writer at a time; several processes logging straight into the file fail
with "database is locked". One server process owns the file and the workers talk HTTP.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_server(backend_uri: str, artifact_root: str, timeout: float = 120.0) -> Iterator[str]:
    """Serves ``backend_uri`` on 127.0.0.1 until the block ends; yields its http URI."""
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
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        try:
            _wait_healthy(server, uri, timeout, Path(log.name))
            yield uri
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_healthy(server: subprocess.Popen, uri: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = log.read_text(errors="replace")[-500:]
            raise RuntimeError(f"mlflow server exited with {server.returncode}: {error}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server on {uri} not healthy after {timeout:.0f} s")
