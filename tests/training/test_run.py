"""`rnnaudio train` end to end on a small generated corpus, read back through MLflow."""

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from local_runs import local_overrides as small_overrides
from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.training.run import train

RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")


@pytest.mark.slow
def test_train_command_records_a_parent_and_a_child_per_fold(synth_corpus, tmp_path):
    result = subprocess.run(
        [RNNAUDIO, "train", *small_overrides(synth_corpus, tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mean" in result.stdout and "std" in result.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'}" in result.stdout

    runs = search_runs(tmp_path)
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1 and len(children) == 2
    parent = parents.iloc[0]
    assert set(children["tags.mlflow.parentRunId"]) == {parent["run_id"]}
    assert set(runs["status"]) == {"FINISHED"}
    for name in ("val_loss", "val_acc", "val_f1"):
        assert f"metrics.cv_{name}_mean" in parent and f"metrics.cv_{name}_std" in parent
    assert parent["params.model.hidden_size"] == "16"
    assert parent["params.cv.folds"] == "2"
    assert sorted(children["params.cv.fold"]) == ["0", "1"]
    mean_loss = children["metrics.best_val_loss"].mean()
    assert parent["metrics.cv_val_loss_mean"] == pytest.approx(mean_loss)

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert "config.yaml" in {a.path for a in client.list_artifacts(parent["run_id"])}
    assert "data_report.json" in {a.path for a in client.list_artifacts(parent["run_id"])}
    assert parent["params.data.bad_files"] == "0" and parent["params.data.bad.empty"] == "0"
    assert parent["params.cv.scheme"] == "speaker_disjoint"
    for run_id in children["run_id"]:
        figures = {a.path for a in client.list_artifacts(run_id, "figures")}
        assert figures == {"figures/confusion_matrix.png", "figures/learning_curves.png"}
        checkpoints = {a.path for a in client.list_artifacts(run_id, "checkpoints")}
        assert checkpoints == {"checkpoints/best.ckpt"}
        history = client.get_metric_history(run_id, "val_loss")
        assert len(history) == 1


def search_runs(work: Path):
    """Every run of the default experiment, as ``mlflow.search_runs`` gives them to a user."""
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    try:
        return mlflow.search_runs(experiment_names=["rnnaudio"])
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_metrics_to_the_last_digit(synth_corpus, tmp_path):
    overrides = small_overrides(synth_corpus, tmp_path, "trainer.max_epochs=2", "seed=7")
    first = train(compose_config(overrides))
    second = train(compose_config(overrides))
    assert first.summary == second.summary
    assert [f.evaluation.loss for f in first.folds] == [f.evaluation.loss for f in second.folds]


@pytest.mark.slow
def test_a_different_seed_gives_different_metrics(synth_corpus, tmp_path):
    first = train(compose_config(small_overrides(synth_corpus, tmp_path, "seed=1")))
    second = train(compose_config(small_overrides(synth_corpus, tmp_path, "seed=2")))
    assert first.summary != second.summary


def test_a_tracking_store_that_cannot_be_opened_fails_before_the_data_is_read(tmp_path):
    """Reading a corpus can take minutes; a typo in tracking.uri must not wait for it."""
    cfg = compose_config(["dataset=esc50", f"dataset.root={tmp_path / 'no_corpus'}",
                          "tracking.uri=foo://x"])
    with pytest.raises(ConfigError, match=r"^tracking.uri='foo://x' is not a store MLflow"):
        train(cfg)
