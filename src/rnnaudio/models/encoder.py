"""The recurrent encoder: one ``torch.nn`` recurrent module over padded batches.

The tanh cell is the origin document's recurrence, h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h);
LSTM and GRU add the gates that keep gradients from vanishing over long sequences. All three
are cuDNN kernels on the GPU. On the CPU, the LSTM is torch's fused kernel; the tanh cell is
:class:`TanhRNN` and the GRU :class:`GRU`, torch modules that loop over time steps in Python
with a hand-written backward, because torch differentiates those two op by op on the CPU
(several autograd nodes a step, and one small matmul a step for the gradient of W_hh); the
loops do a few ops a step and compute the weight gradients after them, one matmul each.
Packed batches, autocast and GPUs still take torch's kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnaudio.models.gru import GRU
from rnnaudio.models.tanh_rnn import TanhRNN

CELLS: dict[str, Callable[..., nn.RNNBase]] = {
    "rnn": TanhRNN,
    "lstm": nn.LSTM,
    "gru": GRU,
}


class RecurrentEncoder(nn.Module):
    """Maps features ``(batch, time, input_size)`` to states ``(batch, time, output_size)``.

    ``output_size`` is ``hidden_size`` (``proj_size``, for a projected LSTM) times the number
    of directions. Inputs are padded
    batches; reading the right state of a shorter clip is the pooling's job, which keeps
    the fused kernels on their fast path (packing is many times slower on the forward pass).
    The one exception is a bidirectional encoder given a batch that really is padded: its
    backward direction would start in the padding, so that batch is packed.
    """

    def __init__(
        self,
        input_size: int,
        cell: str,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        proj_size: int = 0,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"model.cell={cell!r} is not one of: {', '.join(CELLS)}")
        projected = {"proj_size": proj_size} if proj_size else {}  # nn.LSTM's alone
        # nn.RNNBase applies dropout between stacked layers only; with one layer it warns.
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            **projected,
        )
        self.cell = cell
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.output_size = (proj_size or hidden_size) * (2 if bidirectional else 1)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """States ``(batch, time, output_size)``; ``lengths`` ``(batch,)`` counts valid frames."""
        time = features.size(1)
        if self.bidirectional and lengths is not None and bool((lengths < time).any()):
            packed = pack_padded_sequence(features, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            states, _ = self.rnn(packed)
            return pad_packed_sequence(states, batch_first=True, total_length=time)[0]
        states, _ = self.rnn(features)
        return states
