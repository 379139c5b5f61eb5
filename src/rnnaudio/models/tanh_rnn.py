"""The tanh RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), with a CPU fast path.

On the CPU, ``nn.RNN`` records three autograd nodes per time step and computes the gradient
of ``W_hh`` with one small matmul per step; both cost more than the arithmetic at our sizes
(batch 64, about 100 frames, 64-256 units). Here each layer and direction is one autograd
node whose backward is written out: the loops over time do two ops per step, and every weight
gradient is one matmul over all (time x batch) rows after the loop. cuDNN, packed batches and
autocast keep ``nn.RNN``'s own kernels.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.autograd.function import FunctionCtx, once_differentiable

from rnnaudio.models.cpu_recurrence import (
    CpuFastPath,
    input_weight_grads,
    project_inputs,
    stack_layers,
    workspace_like,
)

Tensor = torch.Tensor
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # g * (1 - h^2) in one kernel


class _TanhLayer(torch.autograd.Function):
    """One layer in one direction over a time-major batch; ``reverse`` reads time backwards.

    The states live in one ``(time, batch, hidden)`` buffer: each step's matmul and tanh
    write into its own contiguous slice, so the loop allocates nothing.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
        b_ih: Tensor | None, b_hh: Tensor | None, reverse: bool,
    ) -> tuple[Tensor, Tensor]:
        states = x.new_empty(x.size(0), x.size(1), w_hh.size(0))
        bias = None if b_ih is None else b_ih + b_hh  # both enter every step alike
        rows = project_inputs(x, w_ih, bias, out=states.view(-1, w_hh.size(0)))
        _recur(states, h0, w_hh, reverse)
        ctx.set_materialize_grads(False)  # an unused output costs no zero-filled gradient
        ctx.reverse = reverse
        ctx.save_for_backward(rows, h0, w_ih, w_hh, states)
        return states, states[0 if reverse else -1].clone()

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, d_states: Tensor | None, d_last: Tensor | None,
    ) -> tuple[Tensor | None, ...]:
        rows, h0, w_ih, w_hh, states = ctx.saved_tensors
        needs = ctx.needs_input_grad
        dz = _backprop_through_time(states, d_states, d_last, w_hh, ctx.reverse)
        dz2d = dz.view(-1, dz.size(-1))
        first = dz[-1 if ctx.reverse else 0]  # the gradient at the step that read h0
        d_x = dz2d.mm(w_ih).view(*states.shape[:2], -1) if needs[0] else None
        d_h0 = first.mm(w_hh) if h0 is not None and needs[1] else None
        d_w_ih = d_b = None
        if needs[2] or needs[4] or needs[5]:
            d_w_ih, d_b = input_weight_grads(rows, dz2d, w_ih.size(1))
        d_w_hh = _recurrent_weight_grad(dz, states, h0, ctx.reverse) if needs[3] else None
        # Two parameters must not share one gradient tensor: in-place clipping would hit both.
        d_b_hh = d_b.clone() if d_b is not None else None
        return d_x, d_h0, d_w_ih, d_w_hh, d_b, d_b_hh, None


def _recur(states: Tensor, h0: Tensor | None, w_hh: Tensor, reverse: bool) -> None:
    """Turns the projected inputs in ``states`` into the states themselves, in place."""
    w_hh_t = w_hh.t().contiguous()  # a transposed operand makes every small matmul slower
    steps = states.unbind(0)
    prev = h0  # None: a zero state adds nothing, so the first step skips its matmul
    for z in reversed(steps) if reverse else steps:
        if prev is not None:
            z.addmm_(prev, w_hh_t)
        prev = z.tanh_()


def _backprop_through_time(states: Tensor, d_states: Tensor | None, d_last: Tensor | None,
                           w_hh: Tensor, reverse: bool) -> Tensor:
    """Gradient of the loss with respect to every pre-activation, ``(time, batch, hidden)``.

    dz_t = (dy_t + dz_{t+1} W_hh) * (1 - h_t^2), in the order opposite to the forward's.
    ``dz`` starts as a time-major copy of dy (``d_states`` is often a strided view), so each
    step is two in-place ops on contiguous slices. The fused tanh backward multiplies by
    1 - h_t^2 there: a precomputed slope buffer cost more in memory traffic than it saved.
    The returned tensor is this thread's workspace (:func:`workspace_like`): it is valid
    until the next call.
    """
    dz = workspace_like("tanh_dz", states)
    if d_states is None:
        dz.zero_()
    else:
        dz.copy_(d_states)
    dz_steps, h_steps = dz.unbind(0), states.unbind(0)
    order = range(len(dz_steps)) if reverse else range(len(dz_steps) - 1, -1, -1)
    if d_last is not None:
        dz_steps[order[0]].add_(d_last)
    later = None
    for t in order:
        z = dz_steps[t]
        if later is not None:
            z.addmm_(later, w_hh)
        later = _tanh_backward(z, h_steps[t], grad_input=z)
    return dz


def _recurrent_weight_grad(dz: Tensor, states: Tensor, h0: Tensor | None,
                           reverse: bool) -> Tensor:
    """dW_hh = sum_t dz_t^T h_{t-1}: one matmul over all steps but the first, which read h0."""
    hidden = dz.size(-1)
    later, earlier = (dz[:-1], states[1:]) if reverse else (dz[1:], states[:-1])
    grad = later.reshape(-1, hidden).t().mm(earlier.reshape(-1, hidden))
    if h0 is not None:
        grad.addmm_(dz[-1 if reverse else 0].t(), h0)
    return grad


# The stacked, possibly bidirectional, tanh RNN over a time-major batch: :func:`stack_layers`
# with this cell's layer; ``weights`` in ``nn.RNN._flat_weights`` order.
tanh_rnn = functools.partial(stack_layers, _TanhLayer.apply)


class TanhRNN(CpuFastPath, nn.RNN):
    """``nn.RNN(nonlinearity="tanh")`` whose CPU forward and backward take :func:`tanh_rnn`.

    Same parameters, names, ``state_dict``, initialisation and arguments as ``nn.RNN``
    (``nonlinearity`` is fixed), and the same function to float rounding. The fast path
    covers float32/float64 CPU tensors, batched or not, with or without ``hx``; packed
    sequences, autocast and other devices (cuDNN) run ``nn.RNN``'s forward.

    Two differences on the fast path: dropout between layers is ``F.dropout`` on each
    layer's output, as in ``nn.RNN``, but the masks are not promised to equal ``nn.RNN``'s
    for the same seed (in torch 2.14 on the CPU they happen to); and the backward is once
    differentiable, so no gradient of a gradient (``nn.RNN``'s CPU path allows one).
    """

    fast = staticmethod(tanh_rnn)

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, nonlinearity="tanh", bias=bias,
                         batch_first=batch_first, dropout=dropout,
                         bidirectional=bidirectional, device=device, dtype=dtype)
