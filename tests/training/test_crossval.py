"""One fold fit on a small generated corpus, read back from a real MLflow SQLite store."""

import dataclasses
import math
from pathlib import Path

import mlflow
import pytest
import torch

from local_runs import local_overrides
from rnnaudio.compose import compose_config
from rnnaudio.data.folds import cv_folds
from rnnaudio.data.prepare import labelled_features
from rnnaudio.models.sizing import model_parameters
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.crossval import fit_fold


def fold_overrides(corpus: Path, work: Path, *extra: str) -> list[str]:
    return local_overrides(corpus, work, "trainer.max_epochs=2", *extra)


def fit_first_fold(corpus: Path, work: Path, *extra: str):
    cfg = compose_config(fold_overrides(corpus, work, *extra))
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)
    rows = cv_folds(data.manifest, cfg.cv.folds, cfg.seed)[0]
    tracker = RunTracker(cfg.tracking)
    with tracker.run("fold0") as run_id:
        result = fit_fold(cfg, data, rows, 0, tracker, run_id, work / "fold0")
    return data, result, mlflow.MlflowClient(tracking_uri=cfg.tracking.uri)


@pytest.mark.slow
def test_attention_figure_and_grad_flow_series_land_in_the_fold_run(synth_corpus, tmp_path):
    data, result, client = fit_first_fold(
        synth_corpus, tmp_path, "model.attention=dot", "diagnostics=grad_flow",
        "diagnostics.epochs=[0,2,-1]", "diagnostics.batch_size=4",
    )
    figures = {a.path for a in client.list_artifacts(result.run_id, "figures")}
    assert {"figures/attention.png", "figures/grad_flow.png"} <= figures

    frames = data.features.size(1)
    run = client.get_run(result.run_id)
    series = {}
    for point in ("epoch0", "epoch2", "final"):
        history = sorted(client.get_metric_history(result.run_id, f"grad_flow/{point}"),
                         key=lambda m: m.step)
        assert [m.step for m in history] == list(range(frames))
        assert all(m.value > 0 for m in history)
        assert f"grad_flow_log10_ratio/{point}" in run.data.metrics
        series[point] = [m.value for m in history]
    # Two epochs were run: "epoch2" is the end of the fit (a point past it is refused).
    assert series["epoch2"] == series["final"] != series["epoch0"]


@pytest.mark.slow
def test_auto_hidden_size_is_resolved_and_logged(synth_corpus, tmp_path):
    budget = 20_000
    data, result, client = fit_first_fold(
        synth_corpus, tmp_path, "model=gru", "model.hidden_size=auto",
        f"model.param_budget={budget}", "trainer.max_epochs=1",
    )
    params = client.get_run(result.run_id).data.params
    assert params["model.hidden_size_resolved"] == str(result.hidden_size)
    assert params["n_params"] == str(result.n_params)
    assert "figures/attention.png" not in {
        a.path for a in client.list_artifacts(result.run_id, "figures")
    }
    sized = [
        model_parameters(data.n_features, len(data.classes),
                         compose_config(fold_overrides(synth_corpus, tmp_path, "model=gru",
                                                       f"model.hidden_size={h}")).model)
        for h in (result.hidden_size - 1, result.hidden_size, result.hidden_size + 1)
    ]
    assert result.n_params == sized[1]
    assert abs(sized[1] - budget) <= min(abs(sized[0] - budget), abs(sized[2] - budget))


@pytest.mark.slow
def test_clip_lengths_reach_the_model_and_the_diagnostics(synth_corpus, tmp_path):
    """The embedded clips all last 1 s: shorten some, as a variable-length corpus would."""
    cfg = compose_config(fold_overrides(
        synth_corpus, tmp_path, "dataset.length=variable", "model.attention=additive",
        "model.bidirectional=true", "diagnostics=grad_flow", "diagnostics.batch_size=4",
        "trainer.max_epochs=1",
    ))
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)
    frames = data.features.size(1)
    lengths = torch.randint(frames // 2, frames + 1, (len(data.labels),),
                            generator=torch.Generator().manual_seed(0))
    data = dataclasses.replace(data, lengths=lengths)
    train_rows, val_rows = cv_folds(data.manifest, cfg.cv.folds, cfg.seed)[0]
    tracker = RunTracker(cfg.tracking)
    with tracker.run("fold0") as run_id:
        result = fit_fold(cfg, data, (train_rows, val_rows), 0, tracker, run_id, tmp_path / "f")
    assert math.isfinite(result.evaluation.loss)
    client = mlflow.MlflowClient(tracking_uri=cfg.tracking.uri)
    figures = {a.path for a in client.list_artifacts(result.run_id, "figures")}
    assert {"figures/attention.png", "figures/grad_flow.png"} <= figures
    history = client.get_metric_history(result.run_id, "grad_flow/epoch0")
    assert 0 < len(history) <= frames and all(m.value > 0 for m in history)
