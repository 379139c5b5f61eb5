import pytest
import torch

from rnnaudio.models.encoder import CELLS, RecurrentEncoder
from rnnaudio.models.gru import GRU
from rnnaudio.models.tanh_rnn import TanhRNN


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_states_have_one_vector_per_step(cell, bidirectional, num_layers):
    encoder = RecurrentEncoder(40, cell, 16, num_layers=num_layers, bidirectional=bidirectional,
                               dropout=0.2)
    states = encoder(torch.randn(3, 25, 40))
    assert states.shape == (3, 25, 16 * (2 if bidirectional else 1))
    assert encoder.output_size == states.size(-1)


def test_rnn_cell_is_the_tanh_recurrence():
    """h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h), the origin document's equation."""
    torch.manual_seed(0)
    encoder = RecurrentEncoder(4, "rnn", 3)
    x = torch.randn(1, 6, 4)
    rnn = encoder.rnn
    h = torch.zeros(3)
    expected = []
    for t in range(6):
        h = torch.tanh(rnn.weight_hh_l0 @ h + rnn.weight_ih_l0 @ x[0, t]
                       + rnn.bias_hh_l0 + rnn.bias_ih_l0)
        expected.append(h)
    torch.testing.assert_close(encoder(x)[0], torch.stack(expected))


def test_cells_are_the_fused_torch_modules():
    assert isinstance(RecurrentEncoder(4, "lstm", 3).rnn, torch.nn.LSTM)
    assert isinstance(RecurrentEncoder(4, "gru", 3).rnn, torch.nn.GRU)
    assert RecurrentEncoder(4, "rnn", 3).rnn.nonlinearity == "tanh"


def test_rnn_and_gru_cells_have_the_cpu_fast_path():
    assert isinstance(RecurrentEncoder(4, "rnn", 3).rnn, TanhRNN)
    assert isinstance(RecurrentEncoder(4, "gru", 3).rnn, GRU)


def test_unknown_cell_names_the_choices():
    with pytest.raises(ValueError, match=r"model.cell=.transformer. is not one of: rnn, lstm, gru"):
        RecurrentEncoder(4, "transformer", 3)


@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_states_of_a_padded_clip_equal_those_of_the_clip_alone(cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(4, cell, 5, num_layers=2, bidirectional=True).eval()
    clip = torch.randn(1, 6, 4)
    padded = torch.cat([torch.cat([clip, torch.randn(1, 4, 4)], dim=1), torch.randn(1, 10, 4)])
    states = encoder(padded, torch.tensor([6, 10]))
    assert states.shape == (2, 10, 10)
    torch.testing.assert_close(states[0, :6], encoder(clip)[0])
    torch.testing.assert_close(states[1], encoder(padded[1:])[0])
