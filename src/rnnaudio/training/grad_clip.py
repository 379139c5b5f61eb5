"""Gradient-norm clipping with torch's arithmetic, without its per-call Python.

``torch.nn.utils.clip_grad_norm_`` enters ``no_grad`` five times, groups the gradients by
device and dtype twice and checks each one for foreach support: for a model of six
parameters that is 0.05 ms of CPU a call beyond the arithmetic, and Lightning's
``clip_gradients`` adds 0.01-0.03 ms of argument checks; together about 1.5 % of a
64-unit tanh RNN's step on one core (``bench/overhead.py``'s ``lightning_clip``). When the
gradients are plain tensors of one dtype on one CPU or CUDA device, the single foreach
group torch would form, :func:`clip_grad_norm` runs the same tensor operations on them in
the same order, so the clipped gradients are bit-identical; anything else goes to torch's
function.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

# The devices of torch's foreach kernels that the lean path takes; the others (xpu, mtia,
# a private backend) go to torch's clip.
_LEAN_DEVICES = ("cpu", "cuda")


def clip_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> None:
    """Scales the gradients of ``parameters`` in place so that their total 2-norm is at
    most ``max_norm``, with the result of ``torch.nn.utils.clip_grad_norm_(parameters,
    max_norm)``; unlike it, returns nothing. Parameters without a gradient are left out."""
    parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    if not _one_foreach_group(grads):
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        return
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        clip_coef = float(max_norm) / (total + 1e-6)
        torch._foreach_mul_(grads, torch.clamp(clip_coef, max=1.0))


def _one_foreach_group(grads: list[torch.Tensor]) -> bool:
    """Whether torch's clip would take all of ``grads`` through its foreach kernels as one
    group: plain tensors (a subclass, even ``Parameter``, goes per tensor) of one dtype on
    one lean device."""
    device, dtype = grads[0].device, grads[0].dtype
    return device.type in _LEAN_DEVICES and all(
        type(g) is torch.Tensor and g.device == device and g.dtype == dtype for g in grads
    )
