"""Gradient flow through time and attention weights, measured on real models."""

import math
import statistics

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from rnnaudio.config import ConfigError, DiagnosticsConfig, ModelConfig
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.diagnostics import (
    GradFlowProbe,
    classify_with_attention,
    decay_log10,
    input_gradient_norms,
)
from rnnaudio.training.figures import attention_figure, grad_flow_figure
from rnnaudio.training.module import ClassificationModule


def random_decay(cell: str, seed: int, frames: int = 300) -> float:
    torch.manual_seed(seed)
    model = AudioClassifier(8, 5, ModelConfig(cell=cell, hidden_size=32, dropout=0.0))
    features, labels = torch.randn(8, frames, 8), torch.randint(0, 5, (8,))
    return decay_log10(input_gradient_norms(model, features, labels))


def test_the_tanh_rnn_gradient_vanishes_faster_than_the_lstms():
    """The origin document's central claim, measured: over a long random sequence the loss
    gradient reaches the first frames of a tanh RNN far weaker than those of an LSTM."""
    seeds = range(5)
    rnn = statistics.median(random_decay("rnn", s) for s in seeds)
    lstm = statistics.median(random_decay("lstm", s) for s in seeds)
    assert math.isfinite(rnn) and math.isfinite(lstm)  # float64 keeps the tiny norms
    assert rnn < lstm < 0


def test_norms_have_one_value_per_frame_and_leave_the_model_alone():
    model = AudioClassifier(6, 3, ModelConfig(cell="gru", hidden_size=8)).train()
    norms = input_gradient_norms(model, torch.randn(4, 25, 6), torch.randint(0, 3, (4,)))
    assert norms.shape == (25,) and norms.dtype == torch.float64
    assert torch.all(norms > 0)
    assert model.training
    assert all(p.grad is None and p.dtype == torch.float32 for p in model.parameters())


def test_padded_frames_are_left_out_of_the_mean():
    torch.manual_seed(0)
    model = AudioClassifier(6, 3, ModelConfig(cell="lstm", hidden_size=8))
    clip, label = torch.randn(1, 10, 6), torch.tensor([1])
    padded = torch.cat([torch.cat([clip, torch.randn(1, 5, 6)], dim=1), torch.randn(1, 15, 6)])
    norms = input_gradient_norms(model, padded, torch.tensor([1, 2]), torch.tensor([10, 15]))
    alone = input_gradient_norms(model, padded[1:], torch.tensor([2]))
    torch.testing.assert_close(norms[10:], alone[10:])
    both = (input_gradient_norms(model, clip, label) + alone[:10]) / 2
    torch.testing.assert_close(norms[:10], both)
    shorter = input_gradient_norms(model, padded, torch.tensor([1, 2]), torch.tensor([10, 12]))
    assert shorter.shape == (12,)  # no clip reaches past frame 12


def test_decay_log10_counts_decades_from_the_last_tenth_to_the_first():
    assert decay_log10(torch.ones(50)) == 0.0
    # Each of the first ten frames is 90 frames, 6 * 90 / 99 decades, below its late twin.
    geometric = torch.logspace(-6, 0, 100, dtype=torch.float64)
    assert decay_log10(geometric) == pytest.approx(-6 * 90 / 99)
    assert decay_log10(torch.cat([torch.zeros(10), torch.ones(10)])) == -math.inf


def tiny_fit(epochs: list[int], max_epochs: int) -> GradFlowProbe:
    torch.manual_seed(0)
    features, labels = torch.randn(32, 12, 4), torch.randint(0, 2, (32,))
    model = AudioClassifier(4, 2, ModelConfig(cell="rnn", hidden_size=4))
    probe = GradFlowProbe(features[:4], labels[:4], epochs)
    loader = DataLoader(TensorDataset(features, labels), batch_size=16)
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[probe])
    trainer.fit(ClassificationModule(model, 2, lr=1e-2, weight_decay=0.0), loader)
    return probe


@pytest.mark.filterwarnings("ignore:You defined a `validation_step`")
def test_probe_points_count_completed_epochs():
    probe = tiny_fit([0, 1, 3, 9, -1], max_epochs=3)
    assert list(probe.norms) == ["epoch0", "epoch1", "epoch3", "final"]
    torch.testing.assert_close(probe.norms["epoch3"], probe.norms["final"])
    assert not torch.equal(probe.norms["epoch0"], probe.norms["epoch1"])
    assert all(series.shape == (12,) for series in probe.norms.values())


def test_attention_weights_of_clips_and_their_figures():
    model = AudioClassifier(5, 3, ModelConfig(cell="gru", hidden_size=8, attention="additive"))
    features = torch.randn(3, 20, 5)
    logits, weights = classify_with_attention(model.train(), features)
    assert logits.shape == (3, 3) and weights.shape == (3, 20) and model.training
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    plain = AudioClassifier(5, 3, ModelConfig(cell="gru", hidden_size=8))
    assert classify_with_attention(plain, features).attention is None
    figure = attention_figure(features, weights, ["a", "b", "c"], "fold 0")
    assert len(figure.axes) == 6  # one image and one twin line axis per clip
    assert len(grad_flow_figure({"epoch0": torch.ones(20)}, "fold 0").axes) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"epochs": [0, -2]}, "diagnostics.epochs=-2 is out of range; valid values are >= -1"),
    ({"batch_size": 0}, "diagnostics.batch_size=0 is out of range"),
    ({"attention_clips": -1}, "diagnostics.attention_clips=-1 is out of range"),
])
def test_bad_diagnostics_values_are_one_line_errors(fields, message):
    with pytest.raises(ConfigError, match=message):
        DiagnosticsConfig(**fields)


def test_a_grad_flow_point_past_the_last_epoch_is_refused_not_skipped():
    from rnnaudio.compose import compose_config

    probe = ["diagnostics=grad_flow", "trainer.max_epochs=20"]
    assert compose_config([*probe, "diagnostics.epochs=[0,20,-1]"]).diagnostics.epochs[1] == 20
    with pytest.raises(ConfigError, match=r"^diagnostics.epochs: 30 is past trainer.max_epochs=20"
                                          r", so no fit reaches it; valid are 0 to 20 "):
        compose_config([*probe, "diagnostics.epochs=[0,30]"])
