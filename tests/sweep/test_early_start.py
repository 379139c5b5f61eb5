"""The processes a multi-worker sweep starts before the driver's imports."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rnnaudio.config import Config, DatasetConfig, SearchParam, SweepConfig, TrackingConfig
from rnnaudio.sweep import early_start
from rnnaudio.sweep.early_start import WORKER_MODULE, started_early
from rnnaudio.sweep.worker import worker_process


def _config(tmp_path: Path, workers: int, uri: str | None = None) -> Config:
    return Config(
        dataset=DatasetConfig(root=str(tmp_path / "corpus")),
        tracking=TrackingConfig(uri=uri or f"sqlite:///{tmp_path / 'mlflow.db'}",
                                artifact_root=str(tmp_path / "mlartifacts")),
        sweep=SweepConfig(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}",
                          space={"model.cell": SearchParam(choices=["rnn"])}, workers=workers),
    )


def _loaded_by(module: str) -> set[str]:
    code = (f"import sys, {module}; print(' '.join(m for m in ('torch', 'pytorch_lightning', "
            "'mlflow', 'optuna') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return set(result.stdout.split())


def test_it_imports_none_of_the_libraries_whose_import_it_overlaps() -> None:
    assert _loaded_by("rnnaudio.sweep.early_start") == set()


@pytest.mark.parametrize("module", ["rnnaudio.sweep.driver", "rnnaudio.report.console"])
def test_the_driver_imports_torch_only_to_train_itself(module: str) -> None:
    """Only the workers train (and the refit, after them): 4 s of torch and Lightning
    imports in the driver would delay their start."""
    assert not _loaded_by(module) & {"torch", "pytorch_lightning"}


def test_the_fork_server_preloads_what_the_workers_run() -> None:
    assert worker_process.__module__ == WORKER_MODULE
    assert _loaded_by(WORKER_MODULE) >= {"torch", "pytorch_lightning", "mlflow"}


@pytest.fixture
def fork_server_starts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records each start of the fork server (with the SIGINT handling it got) instead of
    starting one inside the test process."""
    starts: list[object] = []
    monkeypatch.setattr(early_start.forkserver, "ensure_running",
                        lambda: starts.append(signal.getsignal(signal.SIGINT)))
    return starts


def test_one_worker_starts_nothing(tmp_path: Path, fork_server_starts: list[object]) -> None:
    with started_early(_config(tmp_path, workers=1)) as server:
        assert server is None
    assert fork_server_starts == []


def test_a_remote_store_gets_a_fork_server_and_no_mlflow_server(
    tmp_path: Path, fork_server_starts: list[object]
) -> None:
    before = signal.getsignal(signal.SIGINT)
    with started_early(_config(tmp_path, 2, uri="http://127.0.0.1:9")) as server:
        assert server is None
    # Started with Ctrl-C ignored (its imports print no traceback), then restored here.
    assert fork_server_starts == [signal.SIG_IGN]
    assert signal.getsignal(signal.SIGINT) == before


def test_a_local_store_gets_a_server_over_it_until_the_block_ends(
    tmp_path: Path, fork_server_starts: list[object]
) -> None:
    with started_early(_config(tmp_path, workers=2)) as server:
        assert server is not None and server.uri.startswith("http://127.0.0.1:")
        server.wait_healthy()
        experiment = MlflowClient(server.uri).create_experiment("through-the-server")
    assert fork_server_starts == [signal.SIG_IGN]
    with pytest.raises(OSError):  # stopped with the block
        urllib.request.urlopen(f"{server.uri}/health", timeout=2)
    # What the workers logged through it is in the local store, which outlives it.
    local = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert local.get_experiment(experiment).name == "through-the-server"


def test_a_server_that_dies_at_its_start_fails_at_once_with_its_reason(
    tmp_path: Path, fork_server_starts: list[object]
) -> None:
    (tmp_path / "mlflow.db").write_text("not a database")
    config = _config(tmp_path, workers=2)
    with started_early(config) as server, pytest.raises(RuntimeError, match="not a database"):
        server.wait_healthy(timeout=60)
