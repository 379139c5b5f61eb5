"""Fixtures for sweeps: spec folders, the command line, and a real PostgreSQL on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")


class SweepBench:
    """A sweep spec folder, a working folder and the overrides of a tiny, fast sweep."""

    def __init__(self, corpus: Path, work: Path, cache: Path) -> None:
        self.work = work
        self.specs = work / "specs"
        self.specs.mkdir()
        self.env = {**os.environ, "RNNAUDIO_SWEEPS": str(self.specs)}
        self.base = [
            f"dataset.root={corpus}",
            f"features.cache_dir={cache}",
            f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
            f"tracking.artifact_root={work / 'mlartifacts'}",
            f"sweep.storage=sqlite:///{work / 'optuna.db'}",
            "trainer.progress=false",
        ]

    def spec(self, name: str, text: str) -> str:
        (self.specs / f"{name}.yaml").write_text(textwrap.dedent(text))
        return name

    def command(self, name: str, *extra: str) -> list[str]:
        return [RNNAUDIO, "sweep", f"sweep={name}", *self.base, *extra]

    def run(self, name: str, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(name, *extra), cwd=self.work, env=self.env,
                                capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr[-4000:]
        return result


@pytest.fixture
def bench(synth_corpus, feature_cache, tmp_path) -> SweepBench:
    return SweepBench(synth_corpus, tmp_path, feature_cache)


def _postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        pytest.fail("PostgreSQL server binaries are missing: run scripts/setup.sh "
                    "(apt-get install postgresql)")
    return candidates[-1].parent


def _as_postgres(command: list[str]) -> list[str]:
    # The server refuses to run as root; Debian's package creates the postgres user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 with a database for Optuna."""
    bindir = _postgres_bin()
    home = Path(tempfile.mkdtemp(prefix="rnnaudio-pg-"))
    home.chmod(0o755)
    data = home / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    run = lambda *args: subprocess.run(_as_postgres(list(args)), check=True,  # noqa: E731
                                       capture_output=True, stdin=subprocess.DEVNULL)
    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "rnnaudio")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w", "-o",
        f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "rnnaudio",
            "optuna")
        yield f"postgresql://rnnaudio@127.0.0.1:{port}/optuna"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(home, ignore_errors=True)
