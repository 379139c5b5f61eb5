"""Next-step training on a few real chorales: padding, and a short fit with the harness trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from rnnaudio.config import TrainerConfig
from rnnaudio.data.rolls import pad_rolls
from rnnaudio.models.sequence import NextStepModel
from rnnaudio.training.sequence_module import NextStepModule, predicted_steps
from rnnaudio.training.trainer import build_trainer


def test_pad_rolls() -> None:
    rolls = [np.eye(3, 88, dtype=bool), np.ones((5, 88), dtype=bool)]
    batch, lengths = pad_rolls(rolls)
    assert batch.shape == (2, 5, 88) and batch.dtype == torch.float32
    assert lengths.tolist() == [3, 5]
    assert batch[0, :3].equal(torch.eye(3, 88)) and not batch[0, 3:].any()
    assert batch[1].all()
    assert predicted_steps(lengths) == 2 + 4


def test_a_few_chorales_train(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    from rnnaudio.data.corpora.jsb import load_jsb_rolls

    rolls = [roll for _, roll in load_jsb_rolls(8, cache_dir=tmp_path / "cache")]
    pl.seed_everything(0, workers=True)
    train = DataLoader(rolls[:6], batch_size=2, shuffle=True, collate_fn=pad_rolls)
    valid = DataLoader(rolls[6:], batch_size=2, collate_fn=pad_rolls)
    module = NextStepModule(NextStepModel(88, "gru", 16), lr=1e-2, weight_decay=0.0)
    cfg = TrainerConfig(accelerator="cpu", max_epochs=2, progress=False)
    trainer = build_trainer(cfg, None, [], tmp_path)
    before = trainer.validate(module, valid, verbose=False)[0]["val_loss"]
    trainer.fit(module, train, valid)
    after = float(trainer.callback_metrics["val_loss"])
    assert np.isfinite(after) and np.isfinite(float(trainer.callback_metrics["train_loss"]))
    assert after < before
