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


def time_mask(lengths: torch.Tensor, max_time: int) -> torch.Tensor:
    """Boolean ``(batch, time)``: True on valid frames."""
    steps = torch.arange(max_time, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


POOLINGS: dict[str, Pooling] = {"last": last_state, "mean": masked_mean}
