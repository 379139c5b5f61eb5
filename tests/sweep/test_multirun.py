"""Hydra's own basic sweeper (`-m`) runs a plain grid into one MLflow experiment."""

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")


@pytest.mark.slow
def test_a_hydra_grid_lands_in_one_experiment(synth_corpus, feature_cache, tmp_path):
    command = [
        RNNAUDIO, "train", "-m", "model=rnn,gru", "model.hidden_size=8,12",
        f"dataset.root={synth_corpus}", f"features.cache_dir={feature_cache}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"tracking.artifact_root={tmp_path / 'mlartifacts'}",
        "cv.folds=2", "trainer.max_epochs=1", "trainer.progress=false",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rnnaudio")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted((r.data.params["model.cell"], r.data.params["model.hidden_size"])
                  for r in parents) == [("gru", "12"), ("gru", "8"), ("rnn", "12"), ("rnn", "8")]
    assert len(runs) == 4 * 3
    jobs = [p.name for p in (tmp_path / "multirun").glob("*/*/*") if p.is_dir()]
    assert sorted(jobs) == ["0", "1", "2", "3"]
