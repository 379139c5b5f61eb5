"""evaluate(): the same metrics from fixed-length pairs and variable-length triples."""

from __future__ import annotations

import numpy as np
import torch

from rnnaudio.config import ModelConfig
from rnnaudio.data.datamodule import batch_loader
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.evaluate import evaluate


def test_lengths_reach_the_model_and_full_lengths_change_nothing():
    torch.manual_seed(0)
    model = AudioClassifier(5, 3, ModelConfig(hidden_size=8, dropout=0.0))
    features = torch.randn(12, 20, 5).half()
    labels = torch.arange(12) % 3
    rows = np.arange(12)
    fixed = evaluate(model, batch_loader(features, labels, rows, 5), 3)
    full = evaluate(model, batch_loader(features, labels, rows, 5,
                                        lengths=torch.full((12,), 20)), 3)
    assert fixed.loss == full.loss and torch.equal(fixed.confusion, full.confusion)
    assert int(fixed.confusion.sum()) == 12

    lengths = torch.randint(1, 21, (12,), generator=torch.Generator().manual_seed(3))
    variable = evaluate(model, batch_loader(features, labels, rows, 5, lengths=lengths), 3)
    with torch.no_grad():
        logits = torch.cat([model(features[i : i + 1, : int(n)].float()) for i, n in
                            enumerate(lengths)])
    expected = torch.nn.functional.cross_entropy(logits, labels).item()
    assert abs(variable.loss - expected) < 1e-5
