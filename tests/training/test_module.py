"""The LightningModule on real cached features: padding never changes a clip's prediction."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaudio.compose import compose_config
from rnnaudio.config import ModelConfig
from rnnaudio.data.datamodule import FoldDataModule, unpack_batch
from rnnaudio.data.prepare import labelled_features
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.module import ClassificationModule


@pytest.fixture(scope="module")
def variable_data(tmp_path_factory):
    """A folder corpus of tones lasting 0.2 to 1.0 s, read with variable lengths."""
    work = tmp_path_factory.mktemp("variable")
    rng = np.random.default_rng(0)
    for i in range(24):
        label, seconds = i % 3, 0.2 + 0.8 * ((i * 7) % 24) / 23
        t = np.arange(round(16000 * seconds)) / 16000
        wave = 0.3 * np.sin(2 * np.pi * 300 * (1 + label) * t) + 0.02 * rng.standard_normal(len(t))
        (work / "clips" / f"c{label}").mkdir(parents=True, exist_ok=True)
        sf.write(work / "clips" / f"c{label}" / f"{i}.wav", wave.astype(np.float32), 16000)
    cfg = compose_config(["dataset=folder", f"dataset.root={work / 'clips'}",
                          "dataset.length=variable", f"features.cache_dir={work / 'cache'}"])
    return labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)


def module_for(data, **model) -> ClassificationModule:
    torch.manual_seed(0)
    classifier = AudioClassifier(data.n_features, len(data.classes),
                                 ModelConfig(hidden_size=12, **model))
    rows = np.arange(len(data.labels))
    classifier.set_normalization(*data.statistics(rows))
    return ClassificationModule(classifier, len(data.classes), lr=1e-3, weight_decay=0.0).eval()


@pytest.mark.parametrize(
    "model",
    [
        {"cell": "lstm"},
        {"cell": "gru", "pooling": "mean"},
        {"cell": "rnn", "bidirectional": True},
        {"cell": "lstm", "num_layers": 2, "bidirectional": True, "pooling": "mean"},
    ],
    ids=["lstm-last", "gru-mean", "birnn-last", "bilstm2-mean"],
)
def test_a_clip_gets_the_same_prediction_with_and_without_padding(variable_data, model):
    data = variable_data
    module = module_for(data, **model)
    assert int(data.lengths.min()) < int(data.lengths.max())
    rows = np.arange(len(data.labels))
    loader = FoldDataModule(data.features, data.labels, rows, rows, batch_size=16, seed=0,
                            lengths=data.lengths).val_dataloader()
    padded_clips = 0
    with torch.no_grad():
        for batch in loader:
            features, labels, lengths = unpack_batch(batch)
            batched = module(features, lengths)
            for i in range(len(labels)):
                n = int(lengths[i])
                alone = module(features[i : i + 1, :n], lengths[i : i + 1])
                torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-5)
                padded_clips += n < features.size(1)
    assert padded_clips > len(rows) // 2


def test_without_lengths_the_padding_would_change_the_prediction(variable_data):
    data = variable_data
    module = module_for(data)
    short = int(torch.argmin(data.lengths))
    n = int(data.lengths[short])
    clip = data.features[short : short + 1].float()
    with torch.no_grad():
        masked = module(clip, data.lengths[short : short + 1])
        alone = module(clip[:, :n])
        unmasked = module(clip)
    torch.testing.assert_close(masked, alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(unmasked, alone, atol=1e-3)


def test_the_training_loss_reads_both_batch_forms(variable_data):
    data = variable_data
    module = module_for(data).train()
    rows = np.arange(8)
    loader = FoldDataModule(data.features, data.labels, rows, rows, 8, seed=0,
                            lengths=data.lengths).train_dataloader()
    triple = next(iter(loader))
    pair = (triple[0], triple[1])
    for batch in (triple, pair):
        loss, clips = module.batch_loss(batch)
        assert loss.ndim == 0 and torch.isfinite(loss) and clips == 8
