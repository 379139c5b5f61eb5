"""A real MLflow SQLite store per test module, and an experiment of its own per test."""

from pathlib import Path

import pytest

from rnnaudio.config import TrackingConfig
from rnnaudio.tracking.runs import RunTracker


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    # One store per module: creating an MLflow SQLite schema takes seconds.
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def tracker(store: Path, request) -> RunTracker:
    cfg = TrackingConfig(uri=f"sqlite:///{store / 'mlflow.db'}", experiment=request.node.name,
                         artifact_root=str(store / "artifacts" / request.node.name))
    return RunTracker(cfg)
