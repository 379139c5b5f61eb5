"""What the CPU fast paths of the recurrent cells share (:mod:`~rnnaudio.models.tanh_rnn`,
:mod:`~rnnaudio.models.gru`): when to take them, how layers stack, and backward workspaces.

torch's CPU RNN kernels for the tanh cell and the GRU are differentiated op by op, several
autograd nodes and one small weight-gradient matmul per time step. Each fast path replaces
one layer and direction with a single autograd node whose backward is written out; this
module runs those nodes for a whole stacked, possibly bidirectional, module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence

Tensor = torch.Tensor
FAST_DTYPES = (torch.float32, torch.float64)
_workspace = threading.local()


def workspace_like(name: str, t: Tensor) -> Tensor:
    """An uninitialised tensor shaped like ``t``, kept under ``name`` for this thread's next
    backward.

    A fresh full-size ``(time, batch, ...)`` buffer on every backward costs page faults and
    cold-cache writes on first touch, as much as all of the elementwise work on it. A
    backward never lets its workspaces escape, and one thread runs one backward at a time.
    """
    buffer = getattr(_workspace, name, None)
    if buffer is None or buffer.numel() < t.numel() or buffer.dtype != t.dtype:
        # Flat and only ever grown: variable-length batches change the shape every step.
        buffer = torch.empty(t.numel(), dtype=t.dtype, device=t.device)
        setattr(_workspace, name, buffer)
    return buffer[: t.numel()].view(t.shape)


def project_inputs(x: Tensor, weight: Tensor, bias: Tensor | None, out: Tensor) -> Tensor:
    """Writes ``x @ weight^T + bias`` for every step into ``out`` ``(time * batch, gates)``.

    Returns the input rows ``(time * batch, input_size [+ 1])`` the backward needs. With a
    bias they end in a column of ones and the bias joins ``weight`` as one more column: the
    one matmul adds it here, and :func:`input_weight_grads` gives its gradient from the same
    rows, instead of two more passes over the whole ``(time * batch, gates)`` buffer.
    """
    if bias is None:
        rows = x.reshape(-1, x.size(-1))
        torch.mm(rows, weight.t(), out=out)
        return rows
    rows = x.new_empty(x.size(0) * x.size(1), x.size(-1) + 1)
    rows[:, :-1].view_as(x).copy_(x)
    rows[:, -1].fill_(1)
    torch.mm(rows, torch.cat([weight, bias.unsqueeze(1)], 1).t(), out=out)
    return rows


def input_weight_grads(
    rows: Tensor, dz2d: Tensor, input_size: int,
) -> tuple[Tensor, Tensor | None]:
    """dW_ih and (with a bias) db from one matmul over the rows of :func:`project_inputs`.

    rows^T dz, transposed afterwards, runs faster than dz^T rows for a short input row.
    """
    grad = rows.t().mm(dz2d).t()
    if rows.size(1) == input_size:
        return grad.contiguous(), None
    return grad[:, :input_size].contiguous(), grad[:, input_size].contiguous()


def stack_layers(
    layer: Callable[..., tuple[Tensor, Tensor]], x: Tensor, hx: Tensor | None,
    weights: list[Tensor], num_layers: int, bidirectional: bool, dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    """Stacked (bidirectional) recurrence over a time-major batch, one ``layer`` call each.

    ``layer(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)`` returns one direction's states
    ``(time, batch, hidden)`` and its final state; ``weights`` are in ``_flat_weights`` order.
    Shared by every cell with a CPU fast path, so they stack, drop out and reverse alike.
    """
    directions = 2 if bidirectional else 1
    per_direction = len(weights) // (num_layers * directions)
    initial = hx.unbind(0) if hx is not None else [None] * (num_layers * directions)
    finals = []
    for index in range(num_layers):
        if index and dropout and training:
            x = F.dropout(x, dropout, training)
        outputs = []
        for direction in range(directions):
            k = index * directions + direction
            group = weights[k * per_direction:(k + 1) * per_direction]
            w_ih, w_hh, b_ih, b_hh = group if len(group) == 4 else (*group, None, None)
            states, last = layer(x, initial[k], w_ih, w_hh, b_ih, b_hh, direction == 1)
            outputs.append(states)
            finals.append(last)
        x = outputs[0] if directions == 1 else torch.cat(outputs, 2)
    return x, torch.stack(finals)


class CpuFastPath:
    """Mixin for an ``nn.RNNBase`` subclass: CPU float tensors go through ``fast``.

    ``fast(x, hx, weights, num_layers, bidirectional, dropout, training)`` returns the
    states and final states of :func:`stack_layers`. Anything else (packed sequences, autocast,
    other devices or dtypes) runs the torch module's own forward. Unbatched input, ``hx``
    and ``batch_first`` are handled here, with torch's checks and error messages.
    """

    fast: Callable[..., tuple[Tensor, Tensor]]

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        """``(output, h_n)`` with the torch module's shapes (``output`` batch-first if so)."""
        self._update_flat_weights()
        if not self._takes_fast_path(input, hx):
            return super().forward(input, hx)
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        x = input if batched else input.unsqueeze(batch_dim)
        h = hx if batched or hx is None else hx.unsqueeze(1)
        self.check_input(x, None)
        if h is not None:
            self.check_hidden_size(h, self.get_expected_hidden_size(x, None))
        output, h_n = type(self).fast(x.transpose(0, 1) if self.batch_first else x, h,
                                      self._flat_weights, self.num_layers,
                                      self.bidirectional, self.dropout, self.training)
        if self.batch_first:
            output = output.transpose(0, 1)  # a view, as torch's modules return
        if not batched:
            return output.squeeze(batch_dim), h_n.squeeze(1)
        return output, h_n

    def _takes_fast_path(self, input: Tensor | PackedSequence, hx: Tensor | None) -> bool:
        """Plain float CPU tensors of one dtype, outside autocast; anything else, torch's."""
        if isinstance(input, PackedSequence) or torch.is_autocast_enabled("cpu"):
            return False
        tensors = [input, *self._flat_weights] + ([hx] if hx is not None else [])
        if any(t.device.type != "cpu" or t.dtype != input.dtype for t in tensors):
            return False
        return (input.dtype in FAST_DTYPES and input.dim() in (2, 3)
                and (hx is None or hx.dim() == input.dim()) and input.numel() > 0)
