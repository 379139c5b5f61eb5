"""Next-step prediction of piano rolls (Chung et al. 2014, polyphonic music).

A unidirectional recurrent encoder reads frames ``0..t`` and a linear head gives one logit
per key for frame ``t + 1``; the loss is the summed binary cross-entropy over the keys,
i.e. the negative log-likelihood of the next frame under independent Bernoullis, in nats
per time step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnaudio.models.classifier import count_parameters
from rnnaudio.models.encoder import RecurrentEncoder
from rnnaudio.models.sizing import closest_to_budget


class NextStepModel(nn.Module):
    """Logits ``(batch, time, n_keys)``: row ``t`` predicts frame ``t + 1`` from frames ``≤ t``."""

    def __init__(
        self, n_keys: int, cell: str, hidden_size: int, num_layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        # Unidirectional: a backward direction would read the frames being predicted.
        self.encoder = RecurrentEncoder(
            n_keys, cell, hidden_size, num_layers=num_layers, bidirectional=False, dropout=dropout
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, n_keys)

    def forward(self, rolls: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(batch, time, n_keys)`` from rolls ``(batch, time, n_keys)`` (0/1 floats).

        Padding sits after each roll's ``lengths`` frames, so a causal encoder never lets it
        reach a valid step; ``lengths`` is accepted for the API and not needed here.
        """
        return self.head(self.dropout(self.encoder(rolls)))


def next_step_nll(logits: torch.Tensor, rolls: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean NLL in nats per predicted time step (a scalar).

    ``logits`` ``(B, T, K)`` from :class:`NextStepModel`, ``rolls`` ``(B, T, K)`` the 0/1
    targets, ``lengths`` ``(B,)`` valid frames. Row ``t`` of the logits is scored against
    frame ``t + 1``; a roll of length ``L`` gives ``L - 1`` steps, each the sum over keys of
    the binary cross-entropy. Steps at or past a roll's end (padding) are masked out.
    """
    targets = rolls[:, 1:].to(logits.dtype)
    per_key = F.binary_cross_entropy_with_logits(logits[:, :-1], targets, reduction="none")
    per_step = per_key.sum(dim=-1)  # (B, T - 1)
    steps = torch.arange(per_step.size(1), device=per_step.device)
    mask = steps.unsqueeze(0) < (lengths.to(per_step.device) - 1).unsqueeze(1)
    return (per_step * mask).sum() / mask.sum().clamp(min=1)


def sequence_parameters(cell: str, hidden_size: int, n_keys: int = 88, num_layers: int = 1) -> int:
    """Trainable parameters of a :class:`NextStepModel` (built on the meta device)."""
    with torch.device("meta"):
        return count_parameters(NextStepModel(n_keys, cell, hidden_size, num_layers))


def matched_hidden_size(cell: str, budget: int, n_keys: int = 88, num_layers: int = 1) -> int:
    """The hidden size whose :class:`NextStepModel` count is closest to ``budget`` parameters.

    The count grows with the size: a bisection finds the first size at or over the budget,
    and the answer is it or the size below (ties to the smaller model).
    """
    if budget < 1:
        raise ValueError(f"budget={budget} must be >= 1")

    def count(size: int) -> int:
        return sequence_parameters(cell, size, n_keys, num_layers)

    return closest_to_budget(count, budget)
