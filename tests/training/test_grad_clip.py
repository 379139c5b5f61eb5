"""The lean norm clip leaves gradients bit-identical to torch's ``clip_grad_norm_``."""

from __future__ import annotations

import pytest
import torch

from rnnaudio.training.grad_clip import clip_grad_norm

TORCH_CLIP = torch.nn.utils.clip_grad_norm_  # the reference, before any test spies on it
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))]


def _parameters(dtypes: list[torch.dtype], device: str, scale: float,
                without_grad: int = 0) -> list[torch.nn.Parameter]:
    """Parameters of assorted shapes with gradients of about ``scale`` each; the first
    ``without_grad`` have none (frozen or unused in the step)."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(64, 40), (64, 64), (64,), (64,), (12, 64), (12,)]
    parameters = []
    for i, (shape, dtype) in enumerate(zip(shapes, dtypes * len(shapes), strict=False)):
        p = torch.nn.Parameter(torch.zeros(shape, dtype=dtype, device=device))
        if i >= without_grad:
            p.grad = (scale * torch.randn(shape, generator=generator)).to(device, dtype)
        parameters.append(p)
    return parameters


def _copy(parameters: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    copies = []
    for p in parameters:
        copy = torch.nn.Parameter(p.detach().clone())
        copy.grad = None if p.grad is None else p.grad.clone()
        copies.append(copy)
    return copies


def _assert_clipped_as_torch(parameters: list[torch.nn.Parameter], max_norm: float,
                             binds: bool = True) -> None:
    ours, theirs = parameters, _copy(parameters)
    before = [None if p.grad is None else p.grad.clone() for p in ours]
    clip_grad_norm((p for p in ours), max_norm)  # a generator, as the quiet step passes
    TORCH_CLIP(theirs, max_norm)
    for a, b in zip(ours, theirs, strict=True):
        if b.grad is None:
            assert a.grad is None
        else:
            torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    changed = any(g is not None and not torch.equal(g, p.grad)
                  for g, p in zip(before, ours, strict=True))
    assert changed is binds


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_a_clip_that_binds_matches_torch_bit_for_bit(device: str, dtype: torch.dtype) -> None:
    _assert_clipped_as_torch(_parameters([dtype], device, scale=1.0, without_grad=1), 0.5)


@pytest.mark.parametrize("device", DEVICES)
def test_a_clip_within_a_millionth_of_the_norm_binds_as_torchs_does(device: str) -> None:
    """torch divides by norm + 1e-6: a max_norm a hair above the norm still scales."""
    parameters = _parameters([torch.float32], device, scale=1e-3)
    norm = float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(p.grad) for p in parameters])))
    _assert_clipped_as_torch(parameters, norm * (1 + 1e-7))


def test_a_clip_above_the_norm_leaves_the_gradients_as_they_were() -> None:
    _assert_clipped_as_torch(_parameters([torch.float32], "cpu", scale=1e-3), 10.0, binds=False)


class TaggedTensor(torch.Tensor):
    """A tensor subclass: torch's clip takes it per tensor, not through foreach kernels."""


def _spy_on_torchs_clip(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                        lambda *args, **kwargs: calls.append(1) or TORCH_CLIP(*args, **kwargs))
    return calls


def _with_grad_of(parameters: list[torch.nn.Parameter], index: int,
                  convert) -> list[torch.nn.Parameter]:
    parameters[index].grad = convert(parameters[index].grad)
    return parameters


@pytest.mark.parametrize("case", ["dtypes", "parameter grad", "subclass grad", "meta grad"])
def test_gradients_outside_one_foreach_group_go_to_torchs_clip(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    parameters = {
        "dtypes": lambda: _parameters([torch.float32, torch.float64], "cpu", scale=1.0),
        "parameter grad": lambda: _with_grad_of(
            _parameters([torch.float32], "cpu", scale=1.0), 2, torch.nn.Parameter),
        "subclass grad": lambda: _with_grad_of(
            _parameters([torch.float32], "cpu", scale=1.0), 2,
            lambda g: g.as_subclass(TaggedTensor)),
        "meta grad": lambda: _parameters([torch.float32], "meta", scale=1.0),
    }[case]()
    calls = _spy_on_torchs_clip(monkeypatch)
    if case == "meta grad":  # no values to compare; torch's clip runs on the meta device
        clip_grad_norm(parameters, 0.5)
    else:
        _assert_clipped_as_torch(parameters, 0.5)
    assert calls == [1]


def test_one_group_of_plain_gradients_takes_the_lean_path(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    calls = _spy_on_torchs_clip(monkeypatch)
    clip_grad_norm(_parameters([torch.float32], "cpu", scale=1.0), 0.5)
    assert not calls


def test_a_lone_tensor_is_clipped_as_torch_clips_it() -> None:
    parameter = _parameters([torch.float32], "cpu", scale=1.0)[0]
    theirs = _copy([parameter])[0]
    clip_grad_norm(parameter, 0.5)
    TORCH_CLIP(theirs, 0.5)
    torch.testing.assert_close(parameter.grad, theirs.grad, rtol=0, atol=0)
    assert float(torch.linalg.vector_norm(parameter.grad)) == pytest.approx(0.5, rel=1e-5)


def test_parameters_without_gradients_are_left_alone() -> None:
    parameters = _parameters([torch.float32], "cpu", scale=1.0, without_grad=6)
    clip_grad_norm(parameters, 0.5)
    assert all(p.grad is None for p in parameters)
