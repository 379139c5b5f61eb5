"""The cells on a CUDA GPU: cuDNN kernels, the same logits as the CPU, bf16 autocast, and
padding that never changes a prediction. Skipped where no GPU is present (CI)."""

import itertools

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from rnnaudio.config import ModelConfig
from rnnaudio.models.classifier import AudioClassifier

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CELLS = ["rnn", "lstm", "gru"]
VARIANTS = list(itertools.product(CELLS, ["none", "additive", "mhsa"], [False, True]))
LENGTHS = torch.tensor([50, 31, 7, 50])


@pytest.fixture(autouse=True)
def full_fp32():
    """Compares true fp32: cuDNN runs RNNs in TF32 by default on Ampere and later, whose
    10-bit mantissa moves logits by ~1e-4 between the CPU and the GPU, and between batch
    sizes (cuDNN picks another algorithm)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def model_pair(cell: str, attention: str, bidirectional: bool):
    """The same weights on the CPU and on the GPU."""
    torch.manual_seed(0)
    cfg = ModelConfig(cell=cell, hidden_size=64, attention=attention,
                      bidirectional=bidirectional, num_layers=2, attention_heads=4)
    cpu = AudioClassifier(n_features=40, n_classes=12, cfg=cfg).eval()
    gpu = AudioClassifier(n_features=40, n_classes=12, cfg=cfg).eval()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.cuda()


def padded_batch() -> torch.Tensor:
    torch.manual_seed(1)
    features = torch.randn(len(LENGTHS), int(LENGTHS.max()), 40)
    for row, n in enumerate(LENGTHS):
        features[row, n:] = 100.0  # padding a model must never read
    return features


@pytest.mark.parametrize("cell", CELLS)
def test_the_fused_cells_run_on_cudnn(cell):
    _, gpu = model_pair(cell, "none", False)
    gpu.train()  # cuDNN's RNN backward runs in training mode only
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        gpu(padded_batch().cuda(), LENGTHS.cuda()).sum().backward()
    ops = {event.key for event in prof.key_averages()}
    assert "aten::_cudnn_rnn" in ops and "aten::_cudnn_rnn_backward" in ops


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), VARIANTS)
def test_the_gpu_gives_the_cpu_logits(cell, attention, bidirectional):
    cpu, gpu = model_pair(cell, attention, bidirectional)
    features = padded_batch()
    with torch.no_grad():
        expected = cpu(features, LENGTHS)
        actual = gpu(features.cuda(), LENGTHS.cuda()).cpu()
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), VARIANTS)
def test_padding_never_changes_a_prediction_on_the_gpu(cell, attention, bidirectional):
    _, gpu = model_pair(cell, attention, bidirectional)
    features = padded_batch().cuda()
    with torch.no_grad():
        batch = gpu(features, LENGTHS.cuda())
        for row, n in enumerate(LENGTHS.tolist()):
            alone = gpu(features[row:row + 1, :n])
            torch.testing.assert_close(batch[row], alone[0], atol=2e-5, rtol=1e-3)


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), VARIANTS)
def test_bf16_autocast_trains_and_stays_near_fp32(cell, attention, bidirectional):
    _, gpu = model_pair(cell, attention, bidirectional)
    features, labels = padded_batch().cuda(), torch.arange(len(LENGTHS)).cuda()
    with torch.no_grad():
        full = gpu(features, LENGTHS.cuda())
    gpu.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = gpu(features, LENGTHS.cuda())
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in gpu.parameters() if p.grad is not None)
    gpu.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        half = gpu(features, LENGTHS.cuda()).float()
    torch.testing.assert_close(half, full, atol=0.05, rtol=0.05)
