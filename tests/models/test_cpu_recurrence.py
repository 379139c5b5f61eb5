"""The CPU fast paths (``TanhRNN``, ``GRU``) compute what torch's modules compute: outputs,
final states and every gradient, across layers, directions, layouts and initial states,
and hand packed batches, autocast and other devices to torch's own kernels."""

import itertools

import pytest
import torch
from recurrent_twins import (
    BATCH,
    CELLS,
    HIDDEN,
    INPUT,
    STEPS,
    TOLERANCE,
    Cell,
    assert_same,
    inputs,
    run,
    twins,
)
from torch.nn.utils.rnn import pack_padded_sequence


@pytest.fixture(params=CELLS, ids=str)
def cell(request) -> Cell:
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("num_layers", "bidirectional", "batch_first", "with_hx"),
                         list(itertools.product([1, 2], [False, True], [False, True],
                                                [False, True])))
def test_output_state_and_every_gradient_equal_torch_module(cell, dtype, num_layers, bidirectional,
                                                        batch_first, with_hx):
    torch.manual_seed(0)
    reference, fast = twins(cell, dtype, num_layers=num_layers, bidirectional=bidirectional,
                            batch_first=batch_first)
    x, hx = inputs(batch_first, num_layers * (2 if bidirectional else 1), with_hx, dtype)
    assert_same(run(reference, x, hx), run(fast, x, hx), TOLERANCE[dtype])


def test_parameter_gradients_equal_torch_module_when_only_parameters_need_them(cell):
    """The training case: features and the initial state are constants."""
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT)
    grads = []
    for module in (reference, fast):
        module(x)[0].tanh().sum().backward()
        grads.append([p.grad for p in module.parameters()])
    assert_same(*grads, 1e-5)


@pytest.mark.parametrize("use", ["output", "h_n"])
def test_gradients_equal_torch_module_when_only_one_result_is_used(cell, use):
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, bidirectional=True, batch_first=True)
    x, hx = inputs(True, 4, True)
    assert_same(run(reference, x, hx, use), run(fast, x, hx, use), 1e-5)


def test_gradients_stay_right_when_backward_passes_of_two_sizes_interleave(cell):
    """The backward reuses one scratch buffer per thread; two graphs must not share it."""
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, bidirectional=True)
    long, short = torch.randn(STEPS, BATCH, INPUT), torch.randn(STEPS - 2, BATCH + 1, INPUT)
    grads = []
    for module in (reference, fast):
        module.zero_grad()
        (module(long)[0].sin().sum() + module(short)[0].cos().sum()).backward()
        grads.append([p.grad for p in module.parameters()])
    assert_same(*grads, 1e-5)


def test_without_biases_equals_torch_module(cell):
    torch.manual_seed(0)
    reference, fast = twins(cell, bias=False, num_layers=2)
    x, hx = inputs(False, 2, True)
    assert_same(run(reference, x, hx), run(fast, x, hx), 1e-5)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_unbatched_input_equals_torch_module(cell, batch_first, with_hx):
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(STEPS, INPUT, requires_grad=True)
    hx = torch.randn(4, HIDDEN, requires_grad=True) if with_hx else None
    assert_same(run(reference, x, hx), run(fast, x, hx), 1e-5)


def test_gradcheck_through_two_bidirectional_layers(cell):
    torch.manual_seed(0)
    reference = cell.reference(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    weights = [w.detach().clone().requires_grad_() for w in reference._flat_weights]
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    hx = torch.randn(4, 2, 4, dtype=torch.float64, requires_grad=True)

    def function(x, hx, *weights):
        return cell.function(x, hx, list(weights), num_layers=2, bidirectional=True)

    assert torch.autograd.gradcheck(function, (x, hx, *weights))


def test_cpu_float_input_takes_one_autograd_node_per_layer_and_direction(cell):
    reference, fast = twins(cell, num_layers=2, bidirectional=True)
    output, _ = fast(torch.randn(STEPS, BATCH, INPUT))
    assert count_nodes(output.grad_fn, cell.node) == 4
    output, _ = reference(torch.randn(STEPS, BATCH, INPUT))
    assert count_nodes(output.grad_fn, cell.node) == 0


def count_nodes(root, name: str) -> int:
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(child for child, _ in node.next_functions)
    return sum(node.name() == name for node in seen)


def test_packed_sequences_run_torch_module(cell):
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT)
    packed = pack_padded_sequence(x, torch.tensor([6, 4, 2]), batch_first=True)
    expected, actual = reference(packed), fast(packed)
    assert torch.equal(actual[0].data, expected[0].data)
    assert torch.equal(actual[1], expected[1])


def test_autocast_runs_torch_module(cell):
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, actual = reference(x), fast(x)
    assert actual[0].dtype == expected[0].dtype
    assert torch.equal(actual[0], expected[0])
    assert torch.equal(actual[1], expected[1])


def test_state_dicts_load_both_ways(cell):
    reference, fast = twins(cell, num_layers=2, bidirectional=True)
    assert list(fast.state_dict()) == list(reference.state_dict())
    other = cell.reference(INPUT, HIDDEN, num_layers=2, bidirectional=True)
    other.load_state_dict(fast.state_dict())
    for name, tensor in other.state_dict().items():
        assert torch.equal(tensor, fast.state_dict()[name])


def test_dropout_between_layers_is_on_in_training_only(cell):
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, dropout=0.5)
    x = torch.randn(STEPS, BATCH, INPUT)
    first, second = fast.train()(x)[0], fast(x)[0]
    assert not torch.equal(first, second)
    evaluated = fast.eval()(x)[0]
    assert not torch.equal(first, evaluated)
    torch.testing.assert_close(evaluated, reference.eval()(x)[0], rtol=1e-5, atol=1e-5)


def test_same_seed_gives_bit_identical_results(cell):
    def train_step() -> list[torch.Tensor]:
        torch.manual_seed(0)
        _, fast = twins(cell, num_layers=2, bidirectional=True, batch_first=True, dropout=0.3)
        x, hx = inputs(True, 4, True)
        return run(fast.train(), x, hx)

    for first, second in zip(train_step(), train_step(), strict=True):
        assert torch.equal(first, second)


def test_wrong_sizes_raise_torch_module_errors(cell):
    fast = cell.fast(INPUT, HIDDEN)
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size"):
        fast(torch.randn(STEPS, BATCH, INPUT + 1))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        fast(torch.randn(STEPS, BATCH, INPUT), torch.randn(1, BATCH + 1, HIDDEN))


def test_an_empty_batch_gives_the_torch_modules_result(cell):
    reference, fast = twins(cell, num_layers=2, bidirectional=True)
    x = torch.randn(STEPS, 0, INPUT, requires_grad=True)
    for expected, actual in zip(reference(x), fast(x), strict=True):
        assert torch.equal(actual, expected)
    with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
        fast(torch.randn(0, BATCH, INPUT))


def test_a_shorter_batch_after_a_longer_one_reuses_the_workspace_rightly(cell):
    """Variable-length batches: the backward's workspaces shrink and grow between steps."""
    torch.manual_seed(0)
    reference, fast = twins(cell, num_layers=2, bidirectional=True)
    for steps in (STEPS, STEPS - 3, STEPS + 2):
        x = torch.randn(steps, BATCH, INPUT, requires_grad=True)
        assert_same(run(reference, x, None), run(fast, x, None), 1e-5)
