"""One fold fit through ``fit_fold`` on a CUDA GPU, fp32 and bf16-mixed, into a real MLflow
SQLite store. Skipped where no GPU is present (CI)."""

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from rnnaudio.config import Config, DatasetConfig, ModelConfig, TrackingConfig, TrainerConfig
from rnnaudio.data.prepare import LabelledFeatures
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.crossval import fit_fold

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CLASSES = 4


def separable_features(clips: int = 512) -> LabelledFeatures:
    """Noise whose first features carry the class: a model that learns reads them."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(clips) % CLASSES
    features = torch.randn(clips, 60, 20, generator=generator)
    features[torch.arange(clips), :, labels] += 2.0
    manifest = pd.DataFrame({"path": [f"clip{i}.wav" for i in range(clips)],
                             "label": [f"c{int(i)}" for i in labels],
                             "speaker": [f"s{i % 16}" for i in range(clips)]})
    return LabelledFeatures(features.half(), labels, manifest, [f"c{i}" for i in range(CLASSES)])


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_a_fold_learns_on_the_gpu(tmp_path, cell, precision):
    cfg = Config(
        dataset=DatasetConfig(root=str(tmp_path / "unused")),
        model=ModelConfig(cell=cell, hidden_size=32),
        trainer=TrainerConfig(accelerator="gpu", precision=precision, max_epochs=4,
                              batch_size=32, progress=False),
        tracking=TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                artifact_root=str(tmp_path / "mlartifacts")),
    )
    data = separable_features()
    rows = np.arange(len(data.labels))
    tracker = RunTracker(cfg.tracking)
    with tracker.run("gpu-fold") as run_id:
        result = fit_fold(cfg, data, (rows[:384], rows[384:]), 0, tracker, run_id, tmp_path)
    assert math.isfinite(result.evaluation.loss)
    assert result.evaluation.accuracy > 0.9  # chance is 0.25
    run = mlflow.MlflowClient(tracking_uri=cfg.tracking.uri).get_run(result.run_id)
    assert run.data.metrics["val_acc"] == pytest.approx(result.evaluation.accuracy, abs=0.02)
    assert torch.load(result.checkpoint, map_location="cpu", weights_only=False)["state_dict"]
