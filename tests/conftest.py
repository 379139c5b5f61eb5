"""Shared fixtures: one small embedded corpus per test session, built with the real engines,
and one feature cache for it; a port that drops connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rnnaudio.config import SynthConfig
from rnnaudio.data.synth import build_synth_commands
from rnnaudio.tracking import database, server

# 32 speakers: Warden's hash puts 2 of them in the validation and 2 in the testing list
# (26 is the fewest with one in each, 27 with two), leaving 28 for speaker-disjoint CV.
FIXTURE_SYNTH = SynthConfig(speakers=32, repeats=1, noise_seconds=30.0, workers=2)


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a ``synth_commands`` corpus (32 speakers × 20 words, ~8 s to build on 2 cores).

    Shared by the whole session: tests must only read it.
    """
    root = tmp_path_factory.mktemp("corpus") / "synth_commands"
    return build_synth_commands(root, FIXTURE_SYNTH, progress=False)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache for the end-to-end tests on ``synth_corpus``: they read the same
    features, and the cache's own tests use folders of their own."""
    return tmp_path_factory.mktemp("features")


@pytest.fixture(autouse=True)
def no_server_answered_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test probes its tracking servers and databases afresh: a port that answered in
    an earlier test may be free, or another server's, by now."""
    monkeypatch.setattr(server, "_ANSWERED", set())
    monkeypatch.setattr(database, "_ANSWERED", set())


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback servers are reached directly: a proxy from the caller's shell would turn
    every "refused" in these tests into "refused at the proxy"."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """``host:port`` of a port that drops new connections, as a firewall does: its listen
    queue is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = [socket.socket() for _ in range(4)]
    for client in queued:
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for client in [*queued, listener]:
            client.close()
