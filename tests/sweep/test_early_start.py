"""The processes a multi-worker sweep starts before the driver's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rnnaudio.config import Config, DatasetConfig, SearchParam, SweepConfig, TrackingConfig
from rnnaudio.sweep.early_start import WORKER_MODULE, started_early
from rnnaudio.sweep.worker import worker_process
from rnnaudio.tracking.server import wait_healthy


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
def test_the_driver_of_several_workers_never_imports_torch(module: str) -> None:
    """Only the workers train; 4 s of torch and Lightning imports would delay their start."""
    assert not _loaded_by(module) & {"torch", "pytorch_lightning"}


def test_the_fork_server_preloads_the_module_the_workers_run() -> None:
    assert worker_process.__module__ == WORKER_MODULE


def test_one_worker_or_a_remote_store_gets_no_server(tmp_path: Path) -> None:
    with started_early(_config(tmp_path, workers=1)) as uri:
        assert uri is None
    with started_early(_config(tmp_path, 2, uri="http://127.0.0.1:9")) as uri:
        assert uri is None


def test_several_workers_over_a_local_store_get_a_server_over_it(tmp_path: Path) -> None:
    with started_early(_config(tmp_path, workers=2)) as uri:
        assert uri is not None and uri.startswith("http://127.0.0.1:")
        wait_healthy(uri)
        experiment = MlflowClient(uri).create_experiment("through-the-server")
    # The server wrote the local store, which outlives it.
    local = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert local.get_experiment(experiment).name == "through-the-server"
