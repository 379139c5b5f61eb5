"""The GRU, with the same CPU fast path as :mod:`rnnaudio.models.tanh_rnn`.

r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h, as ``nn.GRU``.

On the CPU torch has no fused GRU kernel (``_thnn_fused_gru_cell`` is CUDA only), so
``nn.GRU`` is differentiated op by op: many autograd nodes per step, and the gradient of
``W_hh`` as one small matmul per step. Here each layer and direction is one autograd node:
the forward does one matmul and four elementwise ops per step, the backward one matmul and
two elementwise ops per step, and every weight gradient is one matmul after the loop.
Full-size passes write into kept buffers through torch's fused activation backward kernels
(fresh temporaries page-fault), h0 is never concatenated to the states (a full-size copy),
and the backward's coefficients are made a cache-sized chunk of steps at a time (all at
once cost one more trip through memory). Timings: ``bench/README.md``, section 1.
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
CACHE_BYTES = 1 << 20  # the backward works through its coefficients in chunks of this size
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # g * (1 - y^2) in one kernel
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # g * y (1 - y)


class _GRULayer(torch.autograd.Function):
    """One layer in one direction over a time-major batch; ``reverse`` reads time backwards.

    Every step's gates live in one ``(time, batch, 4 * hidden)`` buffer, columns
    ``[r, z, W_hn h + b_hn, n]``: the input projection fills it for all steps at once
    (``b_hn`` included, in its own block, as the start of ``W_hn h + b_hn``), and each
    step's matmul then adds ``h W_hh^T`` to its first three blocks in place.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
        b_ih: Tensor | None, b_hh: Tensor | None, reverse: bool,
    ) -> tuple[Tensor, Tensor]:
        steps, hidden = x.size(0), w_hh.size(1)
        gates = x.new_empty(steps, x.size(1), 4 * hidden)
        rows = _project(x, w_ih, b_ih, b_hh, out=gates.view(-1, 4 * hidden))
        states = x.new_empty(steps, x.size(1), hidden)
        _recur(gates, states, h0, w_hh, reverse)
        ctx.set_materialize_grads(False)  # an unused output costs no zero-filled gradient
        ctx.reverse = reverse
        ctx.save_for_backward(rows, h0, w_ih, w_hh, gates, states)
        return states, states[0 if reverse else -1].clone()

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, d_states: Tensor | None, d_last: Tensor | None,
    ) -> tuple[Tensor | None, ...]:
        rows, h0, w_ih, w_hh, gates, states = ctx.saved_tensors
        needs = ctx.needs_input_grad
        hidden = w_hh.size(1)
        earlier = _Earlier(states, h0, ctx.reverse)
        d, d_h0 = _backprop_through_time(gates, earlier, d_states, d_last, w_hh,
                                         ctx.reverse, h0 is not None and needs[1])
        d2d = d.view(-1, 4 * hidden)
        d_gates_x = d2d[:, hidden:]  # (r, z, n): what the input projection produced
        d_gates_h = d2d[:, :3 * hidden]  # (n, r, z): what each step's matmul produced
        d_x = d_gates_x.mm(w_ih).view(*d.shape[:2], -1) if needs[0] else None
        d_w_ih = d_b_ih = d_w_hh = d_b_hh = None
        if needs[2] or needs[4]:
            d_w_ih, d_b_ih = input_weight_grads(rows, d_gates_x, w_ih.size(1))
        if needs[3]:
            d_w_hh = _from_n_r_z(_recurrent_weight_grad(d[..., :3 * hidden], earlier), 0)
        if needs[5]:
            d_b_hh = _recurrent_bias_grad(d_gates_x, d_gates_h, d_b_ih, hidden)
        return d_x, d_h0, d_w_ih, d_w_hh, d_b_ih, d_b_hh, None


class _Earlier:
    """The state each step read: the states shifted by one step, and h0 (None: zeros) first.

    Kept as two parts rather than concatenated: a fresh full-size copy costs more than
    handling the first step on its own.
    """

    def __init__(self, states: Tensor, h0: Tensor | None, reverse: bool) -> None:
        self.first = -1 if reverse else 0  # the step that read h0
        self.rest = slice(0, -1) if reverse else slice(1, None)  # the steps that read a state
        self.states = states[1:] if reverse else states[:-1]
        self.h0, self.all, self.reverse = h0, states, reverse

    def minus(self, n: Tensor, lo: int, hi: int, out: Tensor) -> None:
        """Writes h_{t-1} - n_t for steps ``lo:hi`` into ``out``; ``n`` holds those steps."""
        steps = len(self.all)
        shift = 1 if self.reverse else -1
        a, b = (lo, min(hi, steps - 1)) if self.reverse else (max(lo, 1), hi)
        if a < b:
            torch.sub(self.all[a + shift:b + shift], n[a - lo:b - lo], out=out[a - lo:b - lo])
        first = steps - 1 if self.reverse else 0
        if lo <= first < hi:
            if self.h0 is None:
                torch.neg(n[first - lo], out=out[first - lo])
            else:
                torch.sub(self.h0, n[first - lo], out=out[first - lo])


def _recurrent_weight_grad(d_gates_h: Tensor, earlier: _Earlier) -> Tensor:
    """sum_t d_gh_t^T h_{t-1} ``(3 * hidden, hidden)``: one matmul, plus one for h0."""
    hidden = earlier.states.size(-1)
    rest = d_gates_h[earlier.rest].reshape(-1, d_gates_h.size(-1))
    grad = rest.t().mm(earlier.states.reshape(-1, hidden))
    if earlier.h0 is not None:
        grad.addmm_(d_gates_h[earlier.first].t(), earlier.h0)
    return grad


def _recurrent_bias_grad(d_gates_x: Tensor, d_gates_h: Tensor, d_b_ih: Tensor | None,
                         hidden: int) -> Tensor:
    """db_hh: b_hr and b_hz enter as b_ir and b_iz do, so only b_hn needs its own sum."""
    d_rz = d_b_ih[:2 * hidden] if d_b_ih is not None else d_gates_x[:, :2 * hidden].sum(0)
    return torch.cat([d_rz, d_gates_h[:, :hidden].sum(0)])


def _from_n_r_z(t: Tensor, dim: int) -> Tensor:
    """Reorders the three blocks of ``dim`` from (n, r, z) to torch's (r, z, n)."""
    n, r, z = t.chunk(3, dim)
    return torch.cat([r, z, n], dim)


def _project(x: Tensor, w_ih: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
             out: Tensor) -> Tensor:
    """Fills ``out`` ``(time * batch, 4 * hidden)`` with every step's input terms and biases,
    columns ``[W_ir x + b_ir + b_hr, W_iz x + b_iz + b_hz, b_hn, W_in x + b_in]``; returns
    the rows of :func:`project_inputs`."""
    w_r, w_z, w_n = w_ih.chunk(3)
    weight = torch.cat([w_r, w_z, torch.zeros_like(w_n), w_n])
    bias = None
    if b_ih is not None:
        b_r, b_z, b_n = b_ih.chunk(3)
        h_r, h_z, h_n = b_hh.chunk(3)
        bias = torch.cat([b_r + h_r, b_z + h_z, h_n, b_n])
    return project_inputs(x, weight, bias, out)


def _recur(gates: Tensor, states: Tensor, h0: Tensor | None, w_hh: Tensor,
           reverse: bool) -> None:
    """Runs the recurrence, leaving r, z, W_hn h + b_hn and n in ``gates`` for the backward.

    Four elementwise ops a step: lerp gives (1 - z) n + z h in one kernel.
    """
    hidden = w_hh.size(1)
    w_hh_t = w_hh.t().contiguous()  # a transposed operand makes every small matmul slower
    steps = range(len(gates) - 1, -1, -1) if reverse else range(len(gates))
    prev = h0 if h0 is not None else states.new_zeros(states.shape[1:])
    for t in steps:
        g = gates[t]
        if t != steps[0] or h0 is not None:  # a zero state adds nothing to the first step
            g[:, :3 * hidden].addmm_(prev, w_hh_t)
        rz = g[:, :2 * hidden].sigmoid_()
        n = g[:, 3 * hidden:].addcmul_(rz[:, :hidden], g[:, 2 * hidden:3 * hidden]).tanh_()
        prev = torch.lerp(n, prev, rz[:, hidden:], out=states[t])


def _backprop_through_time(
    gates: Tensor, earlier: _Earlier, d_states: Tensor | None, d_last: Tensor | None,
    w_hh: Tensor, reverse: bool, want_h0: bool,
) -> tuple[Tensor, Tensor | None]:
    """Gradients of the loss at every step, ``(time, batch, 4 * hidden)``.

    Columns ``[da_n ⊙ r, da_r, da_z, da_n]`` (a: pre-activations): the first three are the
    gradient of ``h W_hh^T + b_hh`` in (n, r, z) order, the last three that of the input
    projection in torch's (r, z, n) order, both contiguous column ranges of one buffer.
    Given dh_t, all four are dh_t times coefficients that do not depend on the loss, so a
    step is one matmul, one addcmul (dh_t ⊙ z_t) and one broadcast multiplication. The
    coefficients are computed a few steps ahead of the loop, as many as fit in a core's
    cache: for all steps at once they made one more round trip through memory than the
    math cost. Also returns the gradient of h0 if ``want_h0``. The gradients are this
    thread's workspace: valid until the next call.
    """
    hidden, (steps, batch) = w_hh.size(1), gates.shape[:2]
    d_h = workspace_like("d_h", gates[..., :hidden])
    if d_states is None:
        d_h.zero_()
    else:
        d_h.copy_(d_states)
    if d_last is not None:
        d_h[0 if reverse else -1].add_(d_last)
    d = workspace_like("d", gates)
    w_r, w_z, w_n = w_hh.chunk(3)
    w_nrz = torch.cat([w_n, w_r, w_z])
    z = gates[..., hidden:2 * hidden]
    span = min(steps, max(1, CACHE_BYTES // (8 * batch * hidden * gates.element_size())))
    coefficients = workspace_like("coefficients", gates[:span]).view(span, batch, 4, hidden)
    later = None
    for lo, hi in _chunks(steps, span, reverse):
        c = _coefficients(gates, earlier, lo, hi, out=coefficients[:hi - lo])
        for t in range(lo, hi) if reverse else range(hi - 1, lo - 1, -1):
            d_h_t = d_h[t]
            if later is not None:
                d_h_t.addmm_(d[later, :, :3 * hidden], w_nrz).addcmul_(d_h[later], z[later])
            torch.mul(c[t - lo], d_h_t.unsqueeze(1), out=d[t].view(batch, 4, hidden))
            later = t
    d_h0 = None
    if want_h0:
        d_h0 = torch.addcmul(d[later, :, :3 * hidden].mm(w_nrz), d_h[later], z[later])
    return d, d_h0


def _chunks(steps: int, span: int, reverse: bool) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of ``span`` steps in the order the backward visits them."""
    if reverse:
        return [(lo, min(lo + span, steps)) for lo in range(0, steps, span)]
    return [(max(hi - span, 0), hi) for hi in range(steps, 0, -span)]


def _coefficients(gates: Tensor, earlier: _Earlier, lo: int, hi: int, out: Tensor) -> Tensor:
    """``[∂h/∂a_n ⊙ r, ∂h/∂a_r, ∂h/∂a_z, ∂h/∂a_n]`` for steps ``lo:hi`` into ``out``.

    ``out`` is ``(hi - lo, batch, 4, hidden)``. h = (1 - z) n + z h_prev, so
    ∂h/∂a_n = (1 - z)(1 - n^2), ∂h/∂a_r = ∂h/∂a_n ⊙ gh_n ⊙ r(1 - r) and
    ∂h/∂a_z = (h_prev - n) ⊙ z(1 - z); torch's fused activation backward kernels do
    two of the products each, in place.
    """
    hidden = out.size(-1)
    g = gates[lo:hi]
    r, z = g[..., :hidden], g[..., hidden:2 * hidden]
    gh_n, n = g[..., 2 * hidden:3 * hidden], g[..., 3 * hidden:]
    slope_n, slope_r, slope_z = out[:, :, 3], out[:, :, 1], out[:, :, 2]
    torch.sub(z.new_ones(()), z, out=slope_n)
    _tanh_backward(slope_n, n, grad_input=slope_n)
    torch.mul(slope_n, r, out=out[:, :, 0])
    torch.mul(slope_n, gh_n, out=slope_r)
    _sigmoid_backward(slope_r, r, grad_input=slope_r)
    earlier.minus(n, lo, hi, out=slope_z)
    _sigmoid_backward(slope_z, z, grad_input=slope_z)
    return out


# The stacked, possibly bidirectional, GRU over a time-major batch: :func:`stack_layers`
# with this cell's layer; ``weights`` in ``nn.GRU._flat_weights`` order.
gru = functools.partial(stack_layers, _GRULayer.apply)


class GRU(CpuFastPath, nn.GRU):
    """``nn.GRU`` whose CPU forward and backward take :func:`gru`.

    Same parameters, names, ``state_dict``, initialisation and arguments as ``nn.GRU``, and
    the same function to float rounding. The fast path covers float32/float64 CPU tensors,
    batched or not, with or without ``hx``; packed sequences, autocast and other devices
    (cuDNN) run ``nn.GRU``'s forward. As with :class:`TanhRNN`, dropout masks between
    layers are not promised to equal ``nn.GRU``'s for the same seed, and the backward is
    once differentiable.
    """

    fast = staticmethod(gru)
