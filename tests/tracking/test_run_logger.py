"""RunLogger: a Lightning fit's metrics in a real MLflow SQLite store, one request an epoch."""

from __future__ import annotations

import logging
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from mlflow.exceptions import MlflowException

from rnnaudio.config import ModelConfig, TrainerConfig
from rnnaudio.data.datamodule import FoldDataModule
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.tracking.run_logger import RunLogger
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training.module import ClassificationModule
from rnnaudio.training.trainer import build_trainer

EPOCHS = 3


def _before_metric_batches(tracker: RunTracker, monkeypatch: pytest.MonkeyPatch,
                           hook: Callable[[list], None]) -> None:
    """Calls ``hook`` with each metric batch before the real client sends it."""
    send = tracker.client.log_batch

    def intercepted(run_id, metrics=(), **kwargs):
        if metrics:
            hook(metrics)
        return send(run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", intercepted)


class MetricBatches:
    """Counts the tracker's metric requests, each still sent by the real client."""

    def __init__(self, tracker: RunTracker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        _before_metric_batches(tracker, monkeypatch, self._count)

    def _count(self, metrics: list) -> None:
        self.sent += 1


class FailsAfterValidation(pl.Callback):
    """Raises ``error`` at the end of epoch ``epoch``: its validation metrics are logged,
    not yet sent."""

    def __init__(self, epoch: int, error: BaseException | None = None) -> None:
        self.epoch, self.error = epoch, error or RuntimeError("boom")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise self.error


def _metrics_unsendable(tracker: RunTracker, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the store refuses metric batches (a server gone away, say)."""

    def refuse(metrics: list) -> None:
        raise MlflowException("tracking server unreachable")

    _before_metric_batches(tracker, monkeypatch, refuse)


class UnsendableFrom(pl.Callback):
    """Makes metric batches fail once epoch ``epoch`` starts, before its first flush."""

    def __init__(self, epoch: int, tracker: RunTracker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.epoch, self.tracker, self.monkeypatch = epoch, tracker, monkeypatch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            _metrics_unsendable(self.tracker, self.monkeypatch)


class StoreAtEpochStart(pl.Callback):
    """What the store holds of each metric when each epoch's first batch starts."""

    def __init__(self, tracker: RunTracker, run_id: str) -> None:
        self.tracker, self.run_id = tracker, run_id
        self.seen: list[dict[str, int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            self.seen.append({key: len(self.tracker.client.get_metric_history(self.run_id, key))
                              for key in ("train_loss", "val_loss")})


def _fit(tracker: RunTracker, run_id: str, root: Path, callbacks: list[pl.Callback] = ()) -> None:
    torch.manual_seed(0)
    features = torch.randn(32, 9, 4, generator=torch.Generator().manual_seed(0)).half()
    rows = np.arange(32)
    data = FoldDataModule(features, torch.arange(32) % 3, rows, rows[:8], batch_size=8, seed=0)
    module = ClassificationModule(AudioClassifier(4, 3, ModelConfig(cell="gru", hidden_size=8)),
                                  3, lr=1e-2, weight_decay=0.0, gradient_clip_val=1.0)
    cfg = TrainerConfig(accelerator="cpu", max_epochs=EPOCHS, progress=False)
    build_trainer(cfg, RunLogger(tracker, run_id), list(callbacks), root).fit(module, data)


def _history(tracker: RunTracker, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in tracker.client.get_metric_history(run_id, key)]


def test_each_epoch_is_one_request_with_every_metric_at_one_step(
    tracker, tmp_path, monkeypatch
) -> None:
    batches = MetricBatches(tracker, monkeypatch)
    with tracker.run("fit") as run_id:
        _fit(tracker, run_id, tmp_path)
    assert batches.sent == EPOCHS
    steps = {key: [step for step, _ in _history(tracker, run_id, key)]
             for key in ("train_loss", "val_loss", "val_acc", "val_f1", "epoch")}
    assert len(set(map(tuple, steps.values()))) == 1  # train and val of an epoch share a step
    assert steps["epoch"] == sorted(set(steps["epoch"])) and len(steps["epoch"]) == EPOCHS
    assert [value for _, value in _history(tracker, run_id, "epoch")] == [0.0, 1.0, 2.0]


def test_an_epoch_is_in_the_store_when_the_next_one_starts(tracker, tmp_path) -> None:
    with tracker.run("live") as run_id:
        probe = StoreAtEpochStart(tracker, run_id)
        _fit(tracker, run_id, tmp_path, [probe])
    assert probe.seen == [{"train_loss": k, "val_loss": k} for k in range(EPOCHS)]


def test_the_run_status_stays_with_the_run_context(tracker, tmp_path) -> None:
    with tracker.run("status") as run_id:
        _fit(tracker, run_id, tmp_path)
        assert tracker.client.get_run(run_id).info.status == "RUNNING"  # figures may follow
    assert tracker.client.get_run(run_id).info.status == "FINISHED"


def test_a_failed_fit_sends_what_it_logged_before_failing(tracker, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="boom"), tracker.run("fails") as run_id:
        _fit(tracker, run_id, tmp_path, [FailsAfterValidation(epoch=1)])
    assert tracker.client.get_run(run_id).info.status == "FAILED"
    assert len(_history(tracker, run_id, "val_loss")) == 2  # epoch 1's was still pending
    assert len(_history(tracker, run_id, "train_loss")) == 1  # epoch 1 never logged it


@pytest.mark.parametrize("params", [{"optim": {"lr": 0.1}}, Namespace(optim={"lr": 0.1})])
def test_hyperparameters_are_flattened_into_params(tracker, params) -> None:
    with tracker.run("hparams") as run_id:
        RunLogger(tracker, run_id).log_hyperparams(params)
    assert tracker.client.get_run(run_id).data.params == {"optim.lr": "0.1"}


def test_a_call_at_another_step_sends_the_pending_step_first(tracker, monkeypatch) -> None:
    batches = MetricBatches(tracker, monkeypatch)
    with tracker.run("steps") as run_id:
        logger = RunLogger(tracker, run_id)
        logger.log_metrics({"a": 1.0}, step=3)
        first_call = time.time() * 1000
        time.sleep(0.05)
        logger.log_metrics({"b": 2.0}, step=3)
        assert batches.sent == 0
        logger.log_metrics({"a": 5.0}, step=7)
        assert batches.sent == 1
        logger.finalize("success")
    assert _history(tracker, run_id, "a") == [(3, 1.0), (7, 5.0)]
    assert _history(tracker, run_id, "b") == [(3, 2.0)]
    stamps = {m.timestamp for key in ("a", "b")
              for m in tracker.client.get_metric_history(run_id, key) if m.step == 3}
    assert len(stamps) == 1 and stamps.pop() <= first_call  # when the step was logged


@pytest.mark.parametrize(("error", "raised", "status"), [
    (RuntimeError("boom"), RuntimeError, "FAILED"),
    (KeyboardInterrupt(), SystemExit, "KILLED"),  # Lightning exits after its own shutdown
])
def test_a_send_that_fails_while_a_fit_fails_keeps_the_fits_error(
    tracker, tmp_path, monkeypatch, caplog, error, raised, status
) -> None:
    # Epoch 1's validation metrics are pending when it fails, and cannot be sent.
    callbacks = [UnsendableFrom(1, tracker, monkeypatch), FailsAfterValidation(1, error)]
    with (caplog.at_level(logging.WARNING, "rnnaudio.tracking.run_logger"),
          pytest.raises(raised), tracker.run("unsendable") as run_id):
        _fit(tracker, run_id, tmp_path, callbacks)
    assert tracker.client.get_run(run_id).info.status == status
    assert len(_history(tracker, run_id, "val_loss")) == 1  # epoch 0, sent before
    assert "were not sent: tracking server unreachable" in caplog.text


def test_a_send_that_fails_after_a_good_fit_fails_it(tracker, tmp_path, monkeypatch) -> None:
    with pytest.raises(MlflowException), tracker.run("lost") as run_id:
        _fit(tracker, run_id, tmp_path, [UnsendableFrom(EPOCHS - 1, tracker, monkeypatch)])
    assert tracker.client.get_run(run_id).info.status == "FAILED"
