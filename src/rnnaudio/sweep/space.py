"""A sweep's search space: Optuna suggestions, grids, and config overrides from choices."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna

from rnnaudio.config import ConfigError, SearchParam


def suggest(trial: optuna.Trial, space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """One value per config key, drawn by the trial's sampler."""
    return {key: _suggest_one(trial, key, param) for key, param in space.items()}


def _suggest_one(trial: optuna.Trial, key: str, param: SearchParam) -> Any:
    if param.type == "categorical":
        return trial.suggest_categorical(key, list(param.choices or []))
    if param.type == "int":
        step = int(param.step) if param.step else 1
        return trial.suggest_int(key, int(param.low), int(param.high), step=step, log=param.log)
    return trial.suggest_float(key, float(param.low), float(param.high), step=param.step,
                               log=param.log)


def grid(space: Mapping[str, SearchParam]) -> dict[str, list[Any]]:
    """Every value of every key, for ``GridSampler``: categorical, or int with a step."""
    values: dict[str, list[Any]] = {}
    for key, param in space.items():
        if param.type == "categorical":
            values[key] = list(param.choices or [])
        elif param.type == "int" and param.step and not param.log:
            values[key] = list(range(int(param.low), int(param.high) + 1, int(param.step)))
        else:
            raise ConfigError(
                f"sweep.space.{key}: sweep.sampler=grid needs categorical choices or an int "
                "range with a step"
            )
    return values


def grid_size(space: Mapping[str, SearchParam]) -> int:
    return math.prod(len(v) for v in grid(space).values())


def to_overrides(choices: Mapping[str, Any]) -> list[str]:
    """``{"model.cell": "gru"}`` -> ``["model.cell=gru"]``, as Hydra parses them back."""
    return [f"{key}={_format(value)}" for key, value in choices.items()]


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
