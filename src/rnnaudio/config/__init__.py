"""Structured configs: one dataclass per Hydra group, the single source of defaults.

YAML under ``conf/`` only selects and overrides; types come from these dataclasses
(OmegaConf rejects ``model.hidden_size=abc``) and value checks from ``__post_init__``
(which runs when :func:`to_config` turns the composed tree into objects). Every
message names the field, the value given and what would be valid, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from rnnaudio.config.checks import ConfigError
from rnnaudio.config.data import AugmentConfig, DatasetConfig, FeatureConfig, SynthConfig
from rnnaudio.config.model import ConvFrontendConfig, DiagnosticsConfig, ModelConfig
from rnnaudio.config.studies import (
    ExperimentConfig,
    ExperimentRow,
    PaperRef,
    ReportConfig,
    SearchParam,
    SweepConfig,
)
from rnnaudio.config.training import CVConfig, TrackingConfig, TrainerConfig

__all__ = [
    "AugmentConfig", "CVConfig", "Config", "ConfigError", "ConvFrontendConfig", "DatasetConfig",
    "DiagnosticsConfig", "ExperimentConfig", "ExperimentRow", "FeatureConfig", "ModelConfig",
    "PaperRef", "ReportConfig", "SearchParam", "SweepConfig", "SynthConfig", "TrackingConfig",
    "TrainerConfig", "register_configs", "to_config",
]


@dataclass
class Config:
    """The whole composed configuration of one ``rnnaudio`` job."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    cv: CVConfig = field(default_factory=CVConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig | None = None  # set only by `rnnaudio sweep sweep=<name>`
    experiment: ExperimentConfig | None = None  # set only by `rnnaudio run experiment=<name>`
    report: ReportConfig | None = None  # set only by `rnnaudio report`
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dataset.is_sequence:
            self._check_sequence_model()
        self._check_grad_flow_epochs()

    def _check_grad_flow_epochs(self) -> None:
        """A point past the last epoch would be skipped without a word; early stopping may
        still end a fit sooner, which -1 (the end) covers."""
        last = self.trainer.max_epochs
        late = [e for e in self.diagnostics.epochs if e > last]
        if self.diagnostics.grad_flow and late:
            raise ConfigError(
                f"diagnostics.epochs: {late[0]} is past trainer.max_epochs={last}, so no fit "
                f"reaches it; valid are 0 to {last} completed epochs, and -1 for the end")

    def _check_sequence_model(self) -> None:
        """Next-step prediction reads frames ``<= t`` only and has no clip to pool over."""
        model = self.model
        fixed = {"attention": (model.attention, "none"), "frontend": (model.frontend, "none"),
                 "bidirectional": (model.bidirectional, False), "proj_size": (model.proj_size, 0)}
        for key, (value, valid) in fixed.items():
            if value != valid:
                raise ConfigError(
                    f"model.{key}={value}: dataset={self.dataset.name} (task sequence, "
                    f"next-step prediction) takes model.{key}={valid}"
                )
        if self.diagnostics.grad_flow:
            raise ConfigError(f"diagnostics=grad_flow: dataset={self.dataset.name} (task "
                              "sequence) has no clip loss to probe; use diagnostics=default")
        if self.augment != AugmentConfig():
            raise ConfigError(f"augment: dataset={self.dataset.name} (task sequence) has no "
                              "audio features to augment; use augment=none")


def register_configs() -> None:
    """Register the schema so ``conf/config.yaml`` can name it in its defaults list."""
    ConfigStore.instance().store(name="base_config", node=Config)


def to_config(cfg: DictConfig) -> Config:
    """Turn a composed tree into validated dataclasses; raises :class:`ConfigError`."""
    tree = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    missing = sorted(OmegaConf.missing_keys(tree))
    if missing:
        # to_object would silently fall back to the dataclass default for a '???' field.
        raise ConfigError(f"{missing[0]} is required; give {missing[0]}=<value>")
    config = OmegaConf.to_object(tree)
    assert isinstance(config, Config)
    return config
