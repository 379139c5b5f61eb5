import dataclasses

import pytest
import torch

from rnnaudio.config import ModelConfig
from rnnaudio.models.classifier import AudioClassifier, count_parameters
from rnnaudio.models.sizing import (
    hidden_size_step,
    model_parameters,
    param_budget_hidden_size,
    resolve_hidden_size,
)

N_FEATURES, N_CLASSES = 40, 12


def best_by_brute_force(cfg: ModelConfig, budget: int, largest: int = 400) -> int:
    step = hidden_size_step(cfg)
    sizes = range(step, largest + 1, step)
    return min(sizes, key=lambda h: (abs(count(cfg, h) - budget), h))


def count(cfg: ModelConfig, hidden: int) -> int:
    sized = dataclasses.replace(cfg, hidden_size=hidden, param_budget=None)
    return model_parameters(N_FEATURES, N_CLASSES, sized)


@pytest.mark.parametrize("cfg", [
    ModelConfig(cell="rnn"),
    ModelConfig(cell="lstm"),
    ModelConfig(cell="gru"),
    ModelConfig(cell="lstm", num_layers=2, bidirectional=True),
    ModelConfig(cell="gru", attention="additive", frontend="conv"),
    ModelConfig(cell="rnn", attention="mhsa", attention_heads=4),
    ModelConfig(cell="gru", attention="mhsa", attention_heads=4, bidirectional=True),
    ModelConfig(cell="lstm", attention="dot", frontend="conv", num_layers=2),
], ids=lambda cfg: f"{cfg.cell}-{cfg.attention}-{cfg.frontend}-l{cfg.num_layers}"
                   f"{'-bi' if cfg.bidirectional else ''}")
@pytest.mark.parametrize("budget", [30_000, 100_000])
def test_budget_sizing_lands_within_one_hidden_unit_of_the_best(cfg, budget):
    chosen = param_budget_hidden_size(N_FEATURES, N_CLASSES, cfg, budget)
    best = best_by_brute_force(cfg, budget)
    assert abs(chosen - best) <= 1
    assert abs(count(cfg, chosen) - budget) == abs(count(cfg, best) - budget)


def test_mhsa_sizes_are_multiples_its_heads_can_divide():
    cfg = ModelConfig(cell="gru", attention="mhsa", attention_heads=8, bidirectional=True)
    assert hidden_size_step(cfg) == 4
    assert param_budget_hidden_size(N_FEATURES, N_CLASSES, cfg, 50_000) % 4 == 0


def test_a_budget_below_the_smallest_model_gives_one_unit():
    assert param_budget_hidden_size(N_FEATURES, N_CLASSES, ModelConfig(cell="lstm"), 10) == 1


def test_meta_device_count_equals_the_real_model():
    cfg = ModelConfig(cell="gru", hidden_size=24, attention="mhsa", frontend="conv")
    real = count_parameters(AudioClassifier(N_FEATURES, N_CLASSES, cfg))
    assert model_parameters(N_FEATURES, N_CLASSES, cfg) == real


def test_gated_cells_get_fewer_units_for_the_same_budget():
    sizes = {cell: param_budget_hidden_size(N_FEATURES, N_CLASSES, ModelConfig(cell=cell), 100_000)
             for cell in ("rnn", "gru", "lstm")}
    assert sizes["rnn"] > sizes["gru"] > sizes["lstm"]


def test_resolve_replaces_auto_and_keeps_the_rest():
    cfg = ModelConfig(cell="gru", hidden_size="auto", param_budget=50_000, dropout=0.3)
    resolved = resolve_hidden_size(cfg, N_FEATURES, N_CLASSES)
    assert isinstance(resolved.hidden_size, int) and resolved.param_budget is None
    assert resolved.dropout == 0.3 and resolved.cell == "gru"
    fixed = ModelConfig(hidden_size=32)
    assert resolve_hidden_size(fixed, N_FEATURES, N_CLASSES) is fixed
    assert not any(p.is_meta for p in AudioClassifier(N_FEATURES, N_CLASSES, resolved)
                   .parameters())
    assert torch.get_default_device().type == "cpu"
