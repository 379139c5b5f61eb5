"""Parameter-budget sizing: the hidden size that gives a model a chosen parameter count.

Comparing cells at one hidden size favours the LSTM (four gates) over the tanh RNN (one);
Chung et al. (2014) compared them at matched parameter counts instead. Counts come from
building the real model on the meta device (no memory, no initialisation cost), so every
front end, attention and head is counted exactly as trained.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

from rnnaudio.config import ModelConfig
from rnnaudio.models.classifier import AudioClassifier, count_parameters


def model_parameters(n_features: int, n_classes: int, cfg: ModelConfig) -> int:
    """Trainable parameters of the classifier ``cfg`` describes (``hidden_size`` a number)."""
    with torch.device("meta"):
        return count_parameters(AudioClassifier(n_features, n_classes, cfg))


def hidden_size_step(cfg: ModelConfig) -> int:
    """Hidden sizes must be multiples of this: ``mhsa`` heads must divide the state size."""
    if cfg.attention != "mhsa":
        return 1
    directions = 2 if cfg.bidirectional else 1
    return cfg.attention_heads // math.gcd(cfg.attention_heads, directions)


def param_budget_hidden_size(
    n_features: int, n_classes: int, cfg: ModelConfig, budget: int
) -> int:
    """The valid hidden size whose whole model has the parameter count closest to ``budget``.

    The count grows with the hidden size, so a bisection finds the first size at or over the
    budget; the answer is it or the valid size just below (ties go to the smaller model).
    Everything in ``cfg`` but ``hidden_size`` and ``param_budget`` is kept.
    """
    step = hidden_size_step(cfg)

    def count(multiple: int) -> int:
        sized = dataclasses.replace(cfg, hidden_size=multiple * step, param_budget=None)
        return model_parameters(n_features, n_classes, sized)

    return closest_to_budget(count, budget) * step


def closest_to_budget(count: Callable[[int], int], budget: int) -> int:
    """The size >= 1 whose ``count(size)`` is closest to ``budget`` (ties: the smaller).

    ``count`` must grow with the size: doubling brackets the budget, bisection finds the
    smallest size reaching it, and that size or the one below it is the closest.
    """
    low, high = 1, 1
    while count(high) < budget:
        low, high = high, high * 2
    while low < high:
        middle = (low + high) // 2
        if count(middle) >= budget:
            high = middle
        else:
            low = middle + 1
    candidates = [size for size in (high - 1, high) if size >= 1]
    return min(candidates, key=lambda size: (abs(count(size) - budget), size))


def resolve_hidden_size(cfg: ModelConfig, n_features: int, n_classes: int) -> ModelConfig:
    """``cfg`` with ``hidden_size="auto"`` replaced by the size that meets ``param_budget``."""
    if cfg.hidden_size != "auto":
        return cfg
    assert cfg.param_budget is not None  # ModelConfig refuses auto without a budget
    hidden = param_budget_hidden_size(n_features, n_classes, cfg, cfg.param_budget)
    return dataclasses.replace(cfg, hidden_size=hidden, param_budget=None)
