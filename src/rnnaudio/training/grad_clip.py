"""Gradient-norm clipping with torch's arithmetic, without its per-call Python.

``torch.nn.utils.clip_grad_norm_`` enters ``no_grad`` five times, groups the gradients by
device and dtype twice and checks each one for foreach support: for a model of six
parameters that is 0.05 ms of CPU a call beyond the arithmetic, and Lightning's
``clip_gradients`` adds 0.01-0.03 ms of argument checks; together about 1.5 % of a
64-unit tanh RNN's step on one core (``bench/overhead.py``'s ``lightning_clip``). When the
gradients form the single group a model on one device has, :func:`clip_grad_norm` runs
the same tensor operations on them, so the clipped gradients are bit-identical; anything
else goes to torch's function.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

# The devices whose gradients torch's clip would take through its foreach kernels.
_FOREACH_DEVICES = ("cpu", "cuda")
_PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> None:
    """Scales the gradients of ``parameters`` so that their total 2-norm is at most
    ``max_norm``, exactly as ``torch.nn.utils.clip_grad_norm_(parameters, max_norm)``."""
    parameters = list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    if not _one_foreach_group(grads):
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        return
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def _one_foreach_group(grads: list[torch.Tensor]) -> bool:
    """Whether torch's clip would put all of ``grads`` in one foreach group."""
    device, dtype = grads[0].device, grads[0].dtype
    return device.type in _FOREACH_DEVICES and all(
        type(g) in _PLAIN_TENSORS and g.device == device and g.dtype == dtype for g in grads
    )
