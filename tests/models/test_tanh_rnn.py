"""What only the tanh RNN's fast path has: its recurrence, step by step. What it shares
with the GRU's is tested in ``test_cpu_recurrence.py``."""

import torch
from recurrent_twins import HIDDEN, INPUT

from rnnaudio.models.tanh_rnn import TanhRNN


def test_two_steps_follow_the_tanh_recurrence():
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), from a given h_0."""
    torch.manual_seed(0)
    fast = TanhRNN(INPUT, HIDDEN).double()
    x, h = torch.randn(2, 1, INPUT, dtype=torch.float64), torch.randn(1, 1, HIDDEN,
                                                                      dtype=torch.float64)
    expected, state = [], h[0, 0]
    for step in x[:, 0]:
        state = torch.tanh(fast.weight_ih_l0 @ step + fast.bias_ih_l0
                           + fast.weight_hh_l0 @ state + fast.bias_hh_l0)
        expected.append(state)
    output, h_n = fast(x, h)
    torch.testing.assert_close(output[:, 0], torch.stack(expected))
    torch.testing.assert_close(h_n[0, 0], expected[-1])
