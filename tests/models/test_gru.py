import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnaudio.models import gru as gru_module
from rnnaudio.models.gru import GRU, gru

INPUT, HIDDEN, BATCH, STEPS = 5, 7, 3, 6
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}


def twins(dtype=torch.float32, **kwargs) -> tuple[nn.GRU, GRU]:
    """An ``nn.GRU`` and a ``GRU`` with the same weights."""
    reference = nn.GRU(INPUT, HIDDEN, dtype=dtype, **kwargs)
    fast = GRU(INPUT, HIDDEN, dtype=dtype, **kwargs)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def inputs(batch_first: bool, layers_x_directions: int, with_hx: bool, dtype=torch.float32):
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    hx = (torch.randn(layers_x_directions, BATCH, HIDDEN, dtype=dtype, requires_grad=True)
          if with_hx else None)
    return x, hx


def run(module: nn.GRU, x: torch.Tensor, hx: torch.Tensor | None, use: str = "both"):
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("num_layers", "bidirectional", "batch_first", "with_hx"),
                         list(itertools.product([1, 2], [False, True], [False, True],
                                                [False, True])))
def test_output_state_and_every_gradient_equal_nn_gru(dtype, num_layers, bidirectional,
                                                        batch_first, with_hx):
    torch.manual_seed(0)
    reference, fast = twins(dtype, num_layers=num_layers, bidirectional=bidirectional,
                            batch_first=batch_first)
    x, hx = inputs(batch_first, num_layers * (2 if bidirectional else 1), with_hx, dtype)
    assert_same(run(reference, x, hx), run(fast, x, hx), TOLERANCE[dtype])


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


def test_parameter_gradients_equal_nn_gru_when_only_parameters_need_them():
    """The training case: features and the initial state are constants."""
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT)
    grads = []
    for module in (reference, fast):
        module(x)[0].tanh().sum().backward()
        grads.append([p.grad for p in module.parameters()])
    assert_same(*grads, 1e-5)


@pytest.mark.parametrize("use", ["output", "h_n"])
def test_gradients_equal_nn_gru_when_only_one_result_is_used(use):
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, bidirectional=True, batch_first=True)
    x, hx = inputs(True, 4, True)
    assert_same(run(reference, x, hx, use), run(fast, x, hx, use), 1e-5)


def test_gradients_stay_right_when_backward_passes_of_two_sizes_interleave():
    """The backward reuses one scratch buffer per thread; two graphs must not share it."""
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, bidirectional=True)
    long, short = torch.randn(STEPS, BATCH, INPUT), torch.randn(STEPS - 2, BATCH + 1, INPUT)
    grads = []
    for module in (reference, fast):
        module.zero_grad()
        (module(long)[0].sin().sum() + module(short)[0].cos().sum()).backward()
        grads.append([p.grad for p in module.parameters()])
    assert_same(*grads, 1e-5)


@pytest.mark.parametrize("cache_bytes", [1, 2700])
def test_gradients_equal_nn_gru_when_the_backward_works_in_chunks(monkeypatch, cache_bytes):
    """Tiny caches split the steps into chunks of one and of four (then the last has two)."""
    monkeypatch.setattr(gru_module, "CACHE_BYTES", cache_bytes)
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, bidirectional=True)
    for with_hx in (False, True):
        x, hx = inputs(False, 4, with_hx)
        assert_same(run(reference, x, hx), run(fast, x, hx), 1e-5)


def test_without_biases_equals_nn_gru():
    torch.manual_seed(0)
    reference, fast = twins(bias=False, num_layers=2)
    x, hx = inputs(False, 2, True)
    assert_same(run(reference, x, hx), run(fast, x, hx), 1e-5)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_unbatched_input_equals_nn_gru(batch_first, with_hx):
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(STEPS, INPUT, requires_grad=True)
    hx = torch.randn(4, HIDDEN, requires_grad=True) if with_hx else None
    assert_same(run(reference, x, hx), run(fast, x, hx), 1e-5)


def test_gradcheck_through_two_bidirectional_layers():
    torch.manual_seed(0)
    reference = nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    weights = [w.detach().clone().requires_grad_() for w in reference._flat_weights]
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    hx = torch.randn(4, 2, 4, dtype=torch.float64, requires_grad=True)

    def function(x, hx, *weights):
        return gru(x, hx, list(weights), num_layers=2, bidirectional=True)

    assert torch.autograd.gradcheck(function, (x, hx, *weights))


def test_cpu_float_input_takes_one_autograd_node_per_layer_and_direction():
    reference, fast = twins(num_layers=2, bidirectional=True)
    output, _ = fast(torch.randn(STEPS, BATCH, INPUT))
    assert count_nodes(output.grad_fn, "_GRULayerBackward") == 4
    output, _ = reference(torch.randn(STEPS, BATCH, INPUT))
    assert count_nodes(output.grad_fn, "_GRULayerBackward") == 0


def count_nodes(root, name: str) -> int:
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(child for child, _ in node.next_functions)
    return sum(node.name() == name for node in seen)


def test_packed_sequences_run_nn_gru():
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT)
    packed = pack_padded_sequence(x, torch.tensor([6, 4, 2]), batch_first=True)
    expected, actual = reference(packed), fast(packed)
    assert torch.equal(actual[0].data, expected[0].data)
    assert torch.equal(actual[1], expected[1])


def test_autocast_runs_nn_gru():
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, actual = reference(x), fast(x)
    assert actual[0].dtype == expected[0].dtype
    assert torch.equal(actual[0], expected[0])
    assert torch.equal(actual[1], expected[1])


def test_state_dicts_load_both_ways():
    reference, fast = twins(num_layers=2, bidirectional=True)
    assert list(fast.state_dict()) == list(reference.state_dict())
    other = nn.GRU(INPUT, HIDDEN, num_layers=2, bidirectional=True)
    other.load_state_dict(fast.state_dict())
    for name, tensor in other.state_dict().items():
        assert torch.equal(tensor, fast.state_dict()[name])


def test_dropout_between_layers_is_on_in_training_only():
    torch.manual_seed(0)
    reference, fast = twins(num_layers=2, dropout=0.5)
    x = torch.randn(STEPS, BATCH, INPUT)
    first, second = fast.train()(x)[0], fast(x)[0]
    assert not torch.equal(first, second)
    evaluated = fast.eval()(x)[0]
    assert not torch.equal(first, evaluated)
    torch.testing.assert_close(evaluated, reference.eval()(x)[0], rtol=1e-5, atol=1e-5)


def test_same_seed_gives_bit_identical_results():
    def train_step() -> list[torch.Tensor]:
        torch.manual_seed(0)
        _, fast = twins(num_layers=2, bidirectional=True, batch_first=True, dropout=0.3)
        x, hx = inputs(True, 4, True)
        return run(fast.train(), x, hx)

    for first, second in zip(train_step(), train_step(), strict=True):
        assert torch.equal(first, second)


def test_wrong_sizes_raise_nn_gru_errors():
    fast = GRU(INPUT, HIDDEN)
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size"):
        fast(torch.randn(STEPS, BATCH, INPUT + 1))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        fast(torch.randn(STEPS, BATCH, INPUT), torch.randn(1, BATCH + 1, HIDDEN))
