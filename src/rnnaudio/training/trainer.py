"""The Lightning ``Trainer`` the harness runs every fit with."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.loggers import Logger

from rnnaudio.config import TrainerConfig
from rnnaudio.training.callbacks import FlushEachEpoch


def quiet_lightning() -> None:
    """Silences Lightning's per-fit notices ("GPU available: ...", tips) that drown the table."""
    for name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


def skip_nvml_probe_without_gpu() -> None:
    """Lets ``torch.cuda.is_available()`` use the CUDA runtime again on a machine without GPU.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` on import so that the check never
    initialises CUDA before a fork. torch then loads and initialises NVML on every call,
    and AdamW calls it on every step (``_accelerator_graph_capture_health_check``): 0.1 to
    0.9 ms a step, up to 10 % of a small model's CPU step (``bench/throughput.py --profile``).
    With no GPU there is no CUDA context a fork could inherit, so the plain check is safe.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


def build_trainer(
    cfg: TrainerConfig,
    logger: Logger | None,
    callbacks: list[pl.Callback],
    root_dir: Path,
    validate: bool = True,
) -> pl.Trainer:
    """A deterministic trainer: same config and seed give the same metrics on the CPU.

    ``validate=False`` trains for exactly ``max_epochs`` with no validation loop (a final
    refit on all training data, whose only evaluation is the held-out test split).
    With a logger, each epoch's metrics are sent when the next epoch starts
    (:class:`~rnnaudio.training.callbacks.FlushEachEpoch`). Checkpoints are written only
    by a checkpoint callback the caller passes: Lightning's default one would save every
    epoch of a refit that saves its own checkpoint once, at the end.
    Gradient clipping is not the trainer's: the harness's modules take their optimiser step
    by hand (:class:`~rnnaudio.training.manual_step.ManualStepModule`) and clip there.
    """
    quiet_lightning()
    skip_nvml_probe_without_gpu()
    # deterministic=True turns on torch.use_deterministic_algorithms, which also fills every
    # new tensor with NaN: a debugging aid determinism does not need, and 12-21 % of an LSTM's
    # CPU step (bench/overhead.py). Results stay bit-identical without it.
    torch.utils.deterministic.fill_uninitialized_memory = False
    if cfg.accelerator != "cpu":
        # cuBLAS needs a fixed workspace to be deterministic; harmless without a GPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return pl.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        precision=cfg.precision,
        max_epochs=cfg.max_epochs,
        deterministic=True,
        logger=logger if logger is not None else False,
        callbacks=[*callbacks, FlushEachEpoch()] if logger is not None else callbacks,
        enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
        default_root_dir=root_dir,
        enable_progress_bar=cfg.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        limit_val_batches=None if validate else 0,
    )
