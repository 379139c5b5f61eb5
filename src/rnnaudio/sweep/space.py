"""A sweep's search space: Optuna suggestions, grids, and config overrides from choices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from rnnaudio.compose import compose_config, merge_overrides
from rnnaudio.config import ConfigError, SearchParam, SweepConfig


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


def trial_overrides(spec: SweepConfig, overrides: Sequence[str],
                    choices: Mapping[str, Any]) -> list[str]:
    """What a trial composes: the spec's overrides, the command line's minus the sweep's
    own keys (they configure the study, not the trial), then the trial's choices."""
    own = [o for o in overrides if not o.lstrip("+~").startswith("sweep")]
    return merge_overrides(spec.overrides, own, to_overrides(choices))


def check_trials(spec: SweepConfig, overrides: Sequence[str]) -> None:
    """Every choice and every range end of the space composes into a valid config, and a
    refit has a test split to score on.

    Before any trial: a misspelt key or choice would otherwise fail trial after trial, and
    a bad choice between good ones never fails three trials in a row to stop the sweep.
    One composition per position across the keys' values; more only after a failure.
    """
    values = {key: _checked_values(param) for key, param in spec.space.items()}
    positions = _positions(values)
    for choices in positions:
        try:
            cfg = compose_config(trial_overrides(spec, overrides, choices))
        except ConfigError:
            _refuse_a_value_no_trial_takes(spec, overrides, choices, positions)
            continue  # only this combination fails: trials drawing others still run
        if spec.refit:
            cfg.dataset.check_test_split("sweep.refit=true", ", or set sweep.refit=false")


def _positions(values: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The i-th value of every key (the shorter lists cycled), for each i."""
    count = max(map(len, values.values()), default=0)
    return [{key: vals[i % len(vals)] for key, vals in values.items()} for i in range(count)]


def _refuse_a_value_no_trial_takes(spec: SweepConfig, overrides: Sequence[str],
                                   failed: Mapping[str, Any],
                                   positions: list[dict[str, Any]]) -> None:
    """Raises for a value of ``failed`` that composes neither beside the other keys'
    defaults nor beside any position's values of them: no trial drawing it could run."""
    for key, value in failed.items():
        errors: list[ConfigError] = []
        for choices in [{key: value}, *({**other, key: value} for other in positions)]:
            try:
                compose_config(trial_overrides(spec, overrides, choices))
                break
            except ConfigError as error:
                errors.append(error)
        else:
            raise ConfigError(f"sweep.space.{key}: {value!r} gives no valid config: "
                              f"{errors[0]}") from errors[0]


def _checked_values(param: SearchParam) -> list[Any]:
    """Each choice, or the ends of the range as Optuna draws them."""
    if param.type == "categorical":
        return list(param.choices or [])
    cast = int if param.type == "int" else float
    low, high = cast(param.low), cast(param.high)
    if param.step:  # no draw lies above the last whole step from low
        step = cast(param.step)
        high = low + (high - low) // step * step
    return [low, high]


def to_overrides(choices: Mapping[str, Any]) -> list[str]:
    """``{"model.cell": "gru"}`` -> ``["model.cell=gru"]``, as Hydra parses them back."""
    return [f"{key}={_format(value)}" for key, value in choices.items()]


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
