"""Pooling over time: from per-step states ``(batch, time, size)`` to one vector ``(batch, size)``.

``lengths`` gives each clip's number of valid frames; steps past it are padding and never
reach the output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Pooling = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]


def last_state(states: torch.Tensor, lengths: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The state after each clip's last valid frame.

    For a bidirectional encoder the backward direction has read the whole clip at t=0, so its
    half comes from the first step and the forward half from the last valid one.
    """
    batch = torch.arange(states.size(0), device=states.device)
    last = states[batch, lengths - 1]
    if not bidirectional:
        return last
    half = states.size(-1) // 2
    return torch.cat([last[:, :half], states[:, 0, half:]], dim=-1)


def masked_mean(states: torch.Tensor, lengths: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The mean of the states over each clip's valid frames."""
    del bidirectional  # both directions are averaged alike
    mask = time_mask(lengths, states.size(1)).unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(dim=1) / lengths.unsqueeze(-1).to(states.dtype)


def middle_state(states: torch.Tensor, lengths: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The state at each clip's middle valid frame, where both directions have read half."""
    del bidirectional  # the middle frame is the same step for both directions
    batch = torch.arange(states.size(0), device=states.device)
    return states[batch, lengths // 2]


def time_mask(lengths: torch.Tensor, max_time: int) -> torch.Tensor:
    """Boolean ``(batch, time)``: True on valid frames."""
    steps = torch.arange(max_time, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


POOLINGS: dict[str, Pooling] = {"last": last_state, "mean": masked_mean}


class PooledStates(torch.nn.Module):
    """The ``attention=none`` readout: a pooling, and no weights over time.

    Returns ``(pooled (batch, size), None)`` like the attention readouts.
    """

    def __init__(self, pooling: str, bidirectional: bool) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"model.pooling={pooling!r} is not one of: {', '.join(POOLINGS)}")
        self.pool = POOLINGS[pooling]
        self.bidirectional = bidirectional

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, None]:
        del need_weights  # a pooling has no weights to give
        return self.pool(states, lengths, self.bidirectional), None
