import itertools

import pytest
import torch

from rnnaudio.config import ModelConfig
from rnnaudio.models.classifier import AudioClassifier, count_parameters

CELLS = ["rnn", "lstm", "gru"]
ATTENTIONS = ["none", "additive", "dot", "mhsa"]
GRID = list(itertools.product(CELLS, ATTENTIONS, [False, True], [1, 2], ["none", "conv"]))


def small_model(cell, attention, bidirectional, layers, frontend, **extra) -> AudioClassifier:
    cfg = ModelConfig(cell=cell, hidden_size=8, attention=attention, bidirectional=bidirectional,
                      num_layers=layers, frontend=frontend, attention_heads=2, **extra)
    return AudioClassifier(n_features=10, n_classes=5, cfg=cfg)


@pytest.mark.parametrize(("cell", "attention", "bidirectional", "layers", "frontend"), GRID)
def test_every_combination_gives_logits_and_trains_one_step(
    cell, attention, bidirectional, layers, frontend
):
    torch.manual_seed(0)
    model = small_model(cell, attention, bidirectional, layers, frontend)
    features, labels = torch.randn(4, 30, 10), torch.randint(0, 5, (4,))
    logits = model(features)
    assert logits.shape == (4, 5)
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert all(p.grad is not None for p in model.parameters())
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(("cell", "attention", "bidirectional", "layers", "frontend"), GRID)
def test_padding_never_changes_the_output(cell, attention, bidirectional, layers, frontend):
    torch.manual_seed(0)
    model = small_model(cell, attention, bidirectional, layers, frontend).eval()
    clips = [torch.randn(1, n, 10) for n in (20, 13, 6)]
    padded = torch.cat([torch.cat([c, 100 * torch.randn(1, 20 - c.size(1), 10)], dim=1)
                        for c in clips])
    lengths = torch.tensor([20, 13, 6])
    batch = model.classify(model.normalize(padded), lengths, need_weights=True)
    for row, clip in enumerate(clips):
        alone = model.classify(model.normalize(clip), need_weights=True)
        torch.testing.assert_close(batch.logits[row], alone.logits[0])
        if attention != "none":
            n = clip.size(1)
            torch.testing.assert_close(batch.attention[row, :n], alone.attention[0])
            assert torch.all(batch.attention[row, n:] == 0)


@pytest.mark.parametrize(("cell", "attention", "frontend"),
                         list(itertools.product(CELLS, ATTENTIONS, ["none", "conv"])))
def test_bf16_autocast_trains_one_step_on_the_cpu(cell, attention, frontend):
    torch.manual_seed(0)
    model = small_model(cell, attention, True, 1, frontend)
    features, labels = torch.randn(4, 30, 10), torch.randint(0, 5, (4,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(features)
    assert logits.dtype == torch.bfloat16
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_attention_weights_come_only_when_asked_and_sum_to_one():
    model = small_model("gru", "mhsa", False, 1, "none").eval()
    x = torch.randn(2, 15, 10)
    assert model.classify(x).attention is None
    weights = model.classify(x, need_weights=True).attention
    assert weights.shape == (2, 15)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert small_model("gru", "none", False, 1, "none").classify(x, need_weights=True).attention \
        is None


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


@pytest.mark.parametrize("attention", ["none", "additive", "mhsa"])
def test_a_projected_lstm_reads_out_its_projection(attention):
    """Hello Edge's LSTM S: 144 units projected to 98, on 10 MFCC, 12 classes."""
    cfg = ModelConfig(cell="lstm", hidden_size=144, proj_size=98, attention=attention,
                      attention_heads=2)
    model = AudioClassifier(10, 12, cfg)
    lstm = 4 * (144 * 10 + 144 * 98 + 2 * 144) + 144 * 98
    if attention == "none":
        assert count_parameters(model) == lstm + 98 * 12 + 12 == 78_660
    assert model.encoder.output_size == 98
    logits = model(torch.randn(3, 7, 10))
    logits.sum().backward()
    assert logits.shape == (3, 12) and model.encoder.rnn.weight_hr_l0.grad is not None


def test_additive_attention_adds_its_projection_and_score_vector():
    plain = count_parameters(AudioClassifier(40, 12, ModelConfig(cell="gru", hidden_size=32)))
    attentive = AudioClassifier(40, 12, ModelConfig(cell="gru", hidden_size=32,
                                                    attention="additive"))
    assert count_parameters(attentive) == plain + (32 * 32 + 32) + 32


def test_an_unresolved_auto_hidden_size_is_refused():
    cfg = ModelConfig(hidden_size="auto", param_budget=1000)
    with pytest.raises(ValueError, match=r"model.hidden_size='auto' is not resolved"):
        AudioClassifier(4, 2, cfg)
