"""What only the GRU's fast path has: its equations, and a backward in cache-sized chunks.
What it shares with the tanh RNN's is tested in ``test_cpu_recurrence.py``."""

import pytest
import torch
from recurrent_twins import CELLS, HIDDEN, INPUT, assert_same, inputs, run, twins

from rnnaudio.models import gru as gru_module
from rnnaudio.models.gru import GRU

GRU_CELL = next(cell for cell in CELLS if cell.name == "gru")


def test_one_step_follows_the_gru_equations():
    """r, z from sigmoids, n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h."""
    torch.manual_seed(0)
    fast = GRU(INPUT, HIDDEN).double()
    x, h = torch.randn(1, 1, INPUT, dtype=torch.float64), torch.randn(1, 1, HIDDEN,
                                                                      dtype=torch.float64)
    gi = fast.weight_ih_l0 @ x[0, 0] + fast.bias_ih_l0
    gh = fast.weight_hh_l0 @ h[0, 0] + fast.bias_hh_l0
    (i_r, i_z, i_n), (h_r, h_z, h_n) = gi.chunk(3), gh.chunk(3)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    torch.testing.assert_close(fast(x, h)[0][0, 0], (1 - z) * n + z * h[0, 0])


@pytest.mark.parametrize("cache_bytes", [1, 2700])
def test_gradients_equal_torch_gru_when_the_backward_works_in_chunks(monkeypatch, cache_bytes):
    """Tiny caches split the steps into chunks of one and of four (then the last has two)."""
    monkeypatch.setattr(gru_module, "CACHE_BYTES", cache_bytes)
    torch.manual_seed(0)
    reference, fast = twins(GRU_CELL, num_layers=2, bidirectional=True)
    for with_hx in (False, True):
        x, hx = inputs(False, 4, with_hx)
        assert_same(run(reference, x, hx), run(fast, x, hx), 1e-5)
