"""Attention over the encoder's states ``(batch, time, size)``, read out as one vector per clip.

Every readout (these and :class:`~rnnaudio.models.pooling.PooledStates`) maps states and
``lengths`` ``(batch,)`` to ``(pooled (batch, size), weights (batch, time) | None)``: the
weights are how much each frame counts, for the figures. Frames past a clip's length get
weight zero, so padding never reaches the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from rnnaudio.config import ModelConfig
from rnnaudio.models.pooling import POOLINGS, PooledStates, last_state, middle_state, time_mask


def masked_softmax(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Softmax over time of ``scores`` ``(batch, time)``, zero past each clip's length."""
    valid = time_mask(lengths, scores.size(1))
    return torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)


def weighted_sum(weights: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``sum_t weights[:, t] * states[:, t]``, ``(batch, size)``.

    ``weights`` is ``(batch, time)``, ``states`` ``(batch, time, size)``.
    """
    return torch.bmm(weights.unsqueeze(1).to(states.dtype), states).squeeze(1)


class AdditiveAttention(nn.Module):
    """Feed-forward attention (Raffel & Ellis 2015): e_t = v . tanh(W h_t + b), c = sum_t a_t h_t.

    The scores depend on each state alone, so the weights a = softmax(e) are learned pooling.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.project = nn.Linear(size, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        del need_weights  # the weights come for free
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)
        weights = masked_softmax(scores, lengths)
        return weighted_sum(weights, states), weights


QUERY_STATES = {"last": last_state, "middle": middle_state}


class DotAttention(nn.Module):
    """One query scores every state (de Andrade et al. 2018): q = W h_query + b,
    e_t = q . h_t / sqrt(size), c = sum_t softmax(e)_t h_t.

    ``query`` picks h_query: the ``last`` state (both directions' final states when
    bidirectional) or the ``middle`` one.
    """

    def __init__(self, size: int, query: str, bidirectional: bool) -> None:
        super().__init__()
        if query not in QUERY_STATES:
            raise ValueError(
                f"model.attention_query={query!r} is not one of: {', '.join(QUERY_STATES)}"
            )
        self.pick = QUERY_STATES[query]
        self.bidirectional = bidirectional
        self.query = nn.Linear(size, size)
        self.scale = 1.0 / math.sqrt(size)  # keeps the softmax out of saturation as size grows

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        del need_weights
        query = self.query(self.pick(states, lengths, self.bidirectional))
        scores = torch.bmm(states, query.unsqueeze(-1).to(states.dtype)).squeeze(-1) * self.scale
        weights = masked_softmax(scores, lengths)
        return weighted_sum(weights, states), weights


class SelfAttentionBlock(nn.Module):
    """Multi-head self-attention over the states, residual and layer norm, then ``pooling``.

    Its weights over time are the attention rows pooled like the states (the last valid
    query's row, or the mean over valid queries), averaged over heads.
    """

    def __init__(
        self, size: int, heads: int, dropout: float, pooling: str, bidirectional: bool
    ) -> None:
        super().__init__()
        if size % heads:
            raise ValueError(f"model.attention_heads={heads} does not divide the state size {size}")
        self.attention = nn.MultiheadAttention(size, heads, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(size)
        self.readout = PooledStates(pooling, bidirectional)
        self.pool_rows = POOLINGS[pooling]

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        padding = ~time_mask(lengths, states.size(1))
        # Weights cost a (batch, time, time) tensor and the fused kernels: only when asked.
        attended, rows = self.attention(states, states, states, key_padding_mask=padding,
                                        need_weights=need_weights)
        states = self.norm(states + self.dropout(attended))
        pooled, _ = self.readout(states, lengths)
        weights = None if rows is None else self.pool_rows(rows, lengths, False)
        return pooled, weights


Readout = PooledStates | AdditiveAttention | DotAttention | SelfAttentionBlock

READOUTS: dict[str, Callable[[int, ModelConfig], Readout]] = {
    "none": lambda size, cfg: PooledStates(cfg.pooling, cfg.bidirectional),
    "additive": lambda size, cfg: AdditiveAttention(size),
    "dot": lambda size, cfg: DotAttention(size, cfg.attention_query, cfg.bidirectional),
    "mhsa": lambda size, cfg: SelfAttentionBlock(
        size, cfg.attention_heads, cfg.dropout, cfg.pooling, cfg.bidirectional
    ),
}


def build_readout(size: int, cfg: ModelConfig) -> Readout:
    """The readout ``cfg.attention`` names, over states of ``size`` features."""
    if cfg.attention not in READOUTS:
        raise ValueError(f"model.attention={cfg.attention!r} is not one of: {', '.join(READOUTS)}")
    return READOUTS[cfg.attention](size, cfg)
