"""Clip classifier: normalise, (conv front end), recurrent encoder, attention or pooling, head."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from rnnaudio.config import ModelConfig
from rnnaudio.models.attention import build_readout
from rnnaudio.models.encoder import RecurrentEncoder
from rnnaudio.models.frontend import build_frontend


class Classified(NamedTuple):
    """Logits ``(batch, n_classes)`` and, when asked for and the model has attention, its
    weights over time ``(batch, time)`` (zero past each clip's length)."""

    logits: torch.Tensor
    attention: torch.Tensor | None


class AudioClassifier(nn.Module):
    """Logits ``(batch, n_classes)`` from features ``(batch, time, n_features)``.

    The per-feature normalisation statistics are buffers, set from the training fold alone,
    so a saved checkpoint carries them and classifies raw features as they come.
    ``cfg.hidden_size`` must be a number here: resolve ``"auto"`` first with
    :func:`rnnaudio.models.sizing.resolve_hidden_size`.
    """

    def __init__(self, n_features: int, n_classes: int, cfg: ModelConfig) -> None:
        super().__init__()
        if not isinstance(cfg.hidden_size, int):
            raise ValueError(
                f"model.hidden_size={cfg.hidden_size!r} is not resolved; "
                "call rnnaudio.models.sizing.resolve_hidden_size first"
            )
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.frontend = build_frontend(n_features, cfg)
        self.encoder = RecurrentEncoder(
            self.frontend.output_size,
            cfg.cell,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout,
            proj_size=cfg.proj_size,
        )
        self.readout = build_readout(self.encoder.output_size, cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.output_size, n_classes)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-feature statistics ``(n_features,)`` of the training data."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(batch, n_classes)``; ``lengths`` ``(batch,)`` counts valid frames.

        ``lengths=None`` means every frame of every clip is valid (no padding).
        """
        return self.classify(self.normalize(features), lengths).logits

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        """Raw features ``(batch, time, n_features)`` to zero mean, unit variance per feature."""
        # Divided in place: one new batch-sized tensor a step instead of two, the same
        # numbers as (features - mean) / std. Safe under autograd: a subtraction's backward
        # keeps neither its operands nor its result.
        return torch.sub(features, self.feature_mean).div_(self.feature_std)

    def classify(
        self, normalized: torch.Tensor, lengths: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> Classified:
        """Logits (and attention weights when ``need_weights``) from normalised features.

        ``lengths=None`` means no padding, which keeps the encoder on its fast path.
        """
        x = self.frontend(normalized, lengths)
        states = self.encoder(x, lengths)
        if lengths is None:
            lengths = torch.full(
                (states.size(0),), states.size(1), dtype=torch.long, device=states.device
            )
        pooled, weights = self.readout(states, lengths, need_weights)
        return Classified(self.head(self.dropout(pooled)), weights if need_weights else None)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
