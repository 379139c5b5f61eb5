"""Clip classifier: normalise features, recurrent encoder, pooling over time, linear head."""

from __future__ import annotations

import torch
from torch import nn

from rnnaudio.config import ModelConfig
from rnnaudio.models.encoder import RecurrentEncoder
from rnnaudio.models.pooling import POOLINGS


class AudioClassifier(nn.Module):
    """Logits ``(batch, n_classes)`` from features ``(batch, time, n_features)``.

    The per-feature normalisation statistics are buffers, set from the training fold alone,
    so a saved checkpoint carries them and classifies raw features as they come.
    """

    def __init__(self, n_features: int, n_classes: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.encoder = RecurrentEncoder(
            n_features,
            cfg.cell,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout,
        )
        self.pool = POOLINGS[cfg.pooling]
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.output_size, n_classes)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-feature statistics ``(n_features,)`` of the training data."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full(
                (features.size(0),), features.size(1), dtype=torch.long, device=features.device
            )
        normalized = (features - self.feature_mean) / self.feature_std
        states = self.encoder(normalized)
        pooled = self.pool(states, lengths, self.encoder.bidirectional)
        return self.head(self.dropout(pooled))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
