"""Config groups of training and tracking: the Trainer, cross-validation, MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rnnaudio.config.checks import ConfigError, check_choice, check_range


@dataclass
class TrainerConfig:
    """Optimisation and the Lightning ``Trainer``: where, how long, how precisely."""

    ACCELERATORS: ClassVar[tuple[str, ...]] = ("cpu", "gpu", "auto")
    PRECISIONS: ClassVar[tuple[str, ...]] = ("32-true", "bf16-mixed", "16-mixed")

    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"
    max_epochs: int = 20
    batch_size: int = 64
    # Optimiser steps per pass of Lightning's training loop (rnnaudio.data.step_groups).
    steps_per_execution: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-2
    gradient_clip_val: float = 1.0
    early_stopping_patience: int = 5
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice("trainer", "accelerator", self.accelerator, self.ACCELERATORS)
        check_choice("trainer", "precision", self.precision, self.PRECISIONS)
        if self.devices != 1:
            # Lightning's multi-device strategies start one process per device that reruns
            # the whole command (folds, MLflow runs and all): the harness has no such path.
            raise ConfigError(
                f"trainer.devices={self.devices!r} is not supported; the only valid value is 1 "
                "(a fit trains on one device); to use several GPUs, start one sweep per GPU "
                "(CUDA_VISIBLE_DEVICES=i) on the same sweep.storage"
            )
        check_range("trainer", "max_epochs", self.max_epochs, 1)
        check_range("trainer", "batch_size", self.batch_size, 1)
        check_range("trainer", "steps_per_execution", self.steps_per_execution, 1)
        check_range("trainer", "lr", self.lr, 0.0)
        check_range("trainer", "weight_decay", self.weight_decay, 0.0)
        check_range("trainer", "gradient_clip_val", self.gradient_clip_val, 0.0)
        check_range("trainer", "early_stopping_patience", self.early_stopping_patience, 1)

    def check_device(self) -> None:
        """Fails fast, before any work, on ``trainer=gpu`` where PyTorch sees no GPU (the
        check imports torch, so it runs where a job is about to train, not at composition)."""
        if self.accelerator != "gpu":
            return
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator='gpu', but torch {torch.__version__} sees no CUDA GPU "
                "on this machine; valid here are trainer=cpu and trainer=auto"
            )


@dataclass
class CVConfig:
    """k-fold cross-validation over train+validation, stratified by label, disjoint by speaker."""

    folds: int = 5

    def __post_init__(self) -> None:
        check_range("cv", "folds", self.folds, 2)


@dataclass
class TrackingConfig:
    """Where runs are recorded. ``uri`` is any MLflow tracking URI (SQLite file or server)."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "rnnaudio"
    artifact_root: str = "mlartifacts"
    run_name: str | None = None

    def __post_init__(self) -> None:
        if not self.experiment:
            raise ConfigError("tracking.experiment='' is empty; give an experiment name")
