"""Next-step model: the NLL against a hand computation, masking, causality, matched sizes."""

from __future__ import annotations

import math

import pytest
import torch

from rnnaudio.models.sequence import (
    NextStepModel,
    matched_hidden_size,
    next_step_nll,
    sequence_parameters,
)


def test_nll_matches_hand_computation() -> None:
    # One roll, 3 frames, 2 keys: rows 0 and 1 of the logits predict frames 1 and 2.
    logits = torch.tensor([[[0.0, 2.0], [-1.0, 0.0], [9.0, 9.0]]])
    rolls = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])

    def bce(z: float, y: float) -> float:
        p = 1 / (1 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    step1 = bce(0.0, 1.0) + bce(2.0, 0.0)
    step2 = bce(-1.0, 0.0) + bce(0.0, 1.0)
    nll = next_step_nll(logits, rolls, torch.tensor([3]))
    assert nll.item() == pytest.approx((step1 + step2) / 2, rel=1e-6)


def test_nll_of_all_zero_logits_is_keys_times_log2() -> None:
    rolls = (torch.rand(2, 5, 88) > 0.9).float()
    nll = next_step_nll(torch.zeros(2, 5, 88), rolls, torch.tensor([5, 3]))
    assert nll.item() == pytest.approx(88 * math.log(2), rel=1e-6)


def test_padding_never_changes_the_loss() -> None:
    torch.manual_seed(0)
    model = NextStepModel(88, "gru", 16)
    short = (torch.rand(1, 6, 88) > 0.8).float()
    long = (torch.rand(1, 9, 88) > 0.8).float()
    padded = torch.zeros(2, 12, 88)
    padded[0, :6], padded[1, :9] = short[0], long[0]
    garbage = padded.clone()
    garbage[0, 6:], garbage[1, 9:] = 1.0, 1.0
    lengths = torch.tensor([6, 9])
    separate = (next_step_nll(model(short), short, torch.tensor([6])) * 5
                + next_step_nll(model(long), long, torch.tensor([9])) * 8) / 13
    for batch in (padded, garbage):
        nll = next_step_nll(model(batch, lengths), batch, lengths)
        assert nll.item() == pytest.approx(separate.item(), rel=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_model_is_causal(cell: str) -> None:
    torch.manual_seed(0)
    model = NextStepModel(88, cell, 12, num_layers=2).eval()
    rolls = (torch.rand(2, 10, 88) > 0.8).float()
    logits = model(rolls)
    assert logits.shape == (2, 10, 88)
    changed = rolls.clone()
    changed[:, 5] = 1 - changed[:, 5]
    after = model(changed)
    torch.testing.assert_close(after[:, :5], logits[:, :5])
    assert not torch.allclose(after[:, 5], logits[:, 5])


def test_chung_sizes_parameter_counts() -> None:
    # PyTorch cells carry two bias vectors; counts include the 88-key output layer.
    assert sequence_parameters("rnn", 100) == 88 * 100 + 100 * 100 + 2 * 100 + 100 * 88 + 88
    assert sequence_parameters("gru", 46) == 3 * (88 * 46 + 46 * 46 + 2 * 46) + 46 * 88 + 88
    assert sequence_parameters("lstm", 36) == 4 * (88 * 36 + 36 * 36 + 2 * 36) + 36 * 88 + 88


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("budget", [5_000, 20_000, 123_456])
def test_matched_size_is_the_closest(cell: str, budget: int) -> None:
    size = matched_hidden_size(cell, budget)
    best = min(range(1, 400), key=lambda h: (abs(sequence_parameters(cell, h) - budget), h))
    assert abs(size - best) <= 1
    assert abs(sequence_parameters(cell, size) - budget) == abs(
        sequence_parameters(cell, best) - budget
    )
