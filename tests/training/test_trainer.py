"""build_trainer's process settings: the per-step NVML probe is dropped where no GPU exists."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from rnnaudio.config import TrainerConfig
from rnnaudio.training.trainer import build_trainer


def test_the_nvml_probe_goes_only_where_there_is_no_gpu(monkeypatch, tmp_path: Path) -> None:
    import pytorch_lightning  # noqa: F401  (sets PYTORCH_NVML_BASED_CUDA_CHECK=1 on import)

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    build_trainer(TrainerConfig(accelerator="cpu", progress=False), None, [], tmp_path)
    probe = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
    if torch.cuda.device_count() == 0:
        assert probe is None  # AdamW's per-step availability check no longer loads NVML
    else:
        assert probe == "1"  # a GPU machine keeps Lightning's fork-safe check


def test_checkpoints_come_only_from_a_callback_the_caller_passes(tmp_path: Path) -> None:
    cfg = TrainerConfig(accelerator="cpu", progress=False)
    assert build_trainer(cfg, None, [], tmp_path).checkpoint_callback is None
    best = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss")
    assert build_trainer(cfg, None, [best], tmp_path).checkpoint_callbacks == [best]
