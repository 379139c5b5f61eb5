"""A torch recurrent module and its CPU fast-path twin with the same weights, and what the
tests compare between them: outputs, final states and every gradient of a fixed loss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rnnaudio.models.gru import GRU, gru
from rnnaudio.models.tanh_rnn import TanhRNN, tanh_rnn

INPUT, HIDDEN, BATCH, STEPS = 5, 7, 3, 6
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}


@dataclass(frozen=True)
class Cell:
    """A cell with a CPU fast path: torch's module, ours, our stacked function, its node."""

    name: str
    reference: Callable[..., nn.RNNBase]
    fast: Callable[..., nn.RNNBase]
    function: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    node: str

    def __str__(self) -> str:
        return self.name


CELLS = [
    Cell("tanh", lambda *a, **k: nn.RNN(*a, nonlinearity="tanh", **k), TanhRNN, tanh_rnn,
         "_TanhLayerBackward"),
    Cell("gru", nn.GRU, GRU, gru, "_GRULayerBackward"),
]


def twins(cell: Cell, dtype=torch.float32, **kwargs) -> tuple[nn.RNNBase, nn.RNNBase]:
    """torch's module and ours, with the same weights."""
    reference = cell.reference(INPUT, HIDDEN, dtype=dtype, **kwargs)
    fast = cell.fast(INPUT, HIDDEN, dtype=dtype, **kwargs)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def inputs(batch_first: bool, layers_x_directions: int, with_hx: bool, dtype=torch.float32):
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    hx = (torch.randn(layers_x_directions, BATCH, HIDDEN, dtype=dtype, requires_grad=True)
          if with_hx else None)
    return x, hx


def run(module: nn.RNNBase, x: torch.Tensor, hx: torch.Tensor | None, use: str = "both"):
    """Output, h_n and the gradients of the input, hx and every parameter of a fixed loss."""
    for tensor in (x, hx, *module.parameters()):
        if tensor is not None:
            tensor.grad = None
    output, h_n = module(x, hx)
    torch.manual_seed(123)  # the same loss weights for both modules
    terms = {"output": (output * torch.randn_like(output)).sum(),
             "h_n": (h_n * torch.randn_like(h_n)).sum()}
    loss = terms["output"] + terms["h_n"] if use == "both" else terms[use]
    loss.backward()
    grads = [x.grad, *([hx.grad] if hx is not None else []),
             *(p.grad for p in module.parameters())]
    return [output.detach(), h_n.detach(), *grads]


def assert_same(expected: list[torch.Tensor], actual: list[torch.Tensor], tol: float) -> None:
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual, strict=True):
        assert a.shape == e.shape
        torch.testing.assert_close(a, e, rtol=tol, atol=tol)
