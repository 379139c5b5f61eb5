import itertools

import pytest
import torch

from rnnaudio.config import ModelConfig
from rnnaudio.models.classifier import AudioClassifier, count_parameters


@pytest.mark.parametrize(
    ("cell", "pooling", "bidirectional"),
    list(itertools.product(["rnn", "lstm", "gru"], ["last", "mean"], [False, True])),
)
def test_logits_shape_and_one_training_step(cell, pooling, bidirectional):
    cfg = ModelConfig(cell=cell, hidden_size=8, pooling=pooling, bidirectional=bidirectional)
    model = AudioClassifier(n_features=10, n_classes=12, cfg=cfg)
    features, labels = torch.randn(4, 30, 10), torch.randint(0, 12, (4,))
    logits = model(features)
    assert logits.shape == (4, 12)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_padding_never_changes_the_prediction():
    torch.manual_seed(0)
    for pooling in ("last", "mean"):
        model = AudioClassifier(5, 3, ModelConfig(cell="gru", hidden_size=6, pooling=pooling))
        model.eval()
        clip = torch.randn(1, 20, 5)
        padded = torch.cat([clip, torch.randn(1, 7, 5)], dim=1)
        torch.testing.assert_close(model(clip), model(padded, torch.tensor([20])))


def test_normalisation_statistics_travel_with_the_state_dict():
    model = AudioClassifier(3, 2, ModelConfig(hidden_size=4))
    model.set_normalization(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 2.0]))
    clone = AudioClassifier(3, 2, ModelConfig(hidden_size=4))
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.feature_mean, torch.tensor([1.0, 2.0, 3.0]))


def test_parameter_count_matches_the_lstm_formula():
    model = AudioClassifier(40, 12, ModelConfig(cell="lstm", hidden_size=128))
    lstm = 4 * (128 * 40 + 128 * 128 + 2 * 128)
    assert count_parameters(model) == lstm + 128 * 12 + 12
