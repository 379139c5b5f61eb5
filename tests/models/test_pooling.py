import torch

from rnnaudio.models.pooling import last_state, masked_mean, time_mask


def test_last_state_reads_each_clips_last_valid_step():
    states = torch.arange(2 * 5 * 2, dtype=torch.float).reshape(2, 5, 2)
    lengths = torch.tensor([5, 3])
    pooled = last_state(states, lengths, bidirectional=False)
    torch.testing.assert_close(pooled, torch.stack([states[0, 4], states[1, 2]]))


def test_bidirectional_last_state_takes_the_backward_half_from_the_first_step():
    states = torch.randn(2, 5, 4)
    lengths = torch.tensor([5, 3])
    pooled = last_state(states, lengths, bidirectional=True)
    torch.testing.assert_close(pooled[1, :2], states[1, 2, :2])
    torch.testing.assert_close(pooled[1, 2:], states[1, 0, 2:])


def test_masked_mean_ignores_padding():
    states = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 2])
    padded = states.clone()
    padded[1, 2:] = 1e6
    torch.testing.assert_close(masked_mean(padded, lengths, False)[1], states[1, :2].mean(0))


def test_time_mask():
    mask = time_mask(torch.tensor([1, 3]), 4)
    assert mask.tolist() == [[True, False, False, False], [True, True, True, False]]
