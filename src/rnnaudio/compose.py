"""The Hydra tree on disk, composed into a validated :class:`~rnnaudio.config.Config`.

Composition errors from Hydra and OmegaConf are many lines long; :func:`describe_error`
turns each kind into one line that names the field, the value and what is valid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rnnaudio.config import Config, ConfigError, ReportConfig, register_configs, to_config
from rnnaudio.config.checks import first_line


def resource_dir(name: str) -> Path:
    """``name/`` (conf, sweeps) of a source checkout, or the copy a wheel carries inside."""
    packaged = Path(__file__).parent / name
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / name


CONF_DIR = resource_dir("conf")

# Spec groups: studies and tables a user writes and shares, kept beside conf/ rather than
# inside it (they are not building blocks of a single job). Each folder's <name>.yaml
# becomes the choice <group>=<name>; the environment variable adds a user's own folders
# (an environment variable, so spawned workers see them too).
SPEC_GROUPS: dict[str, tuple[str, str]] = {
    "sweep": ("sweeps", "RNNAUDIO_SWEEPS"),
    "experiment": ("experiments", "RNNAUDIO_EXPERIMENTS"),
}


def spec_dirs(group: str) -> list[Path]:
    """The shipped folder of ``group``, then those listed in its variable (later ones win)."""
    folder, variable = SPEC_GROUPS[group]
    extra = os.environ.get(variable, "")
    return [resource_dir(folder), *(Path(p) for p in extra.split(os.pathsep) if p)]


def register_specs() -> None:
    store = ConfigStore.instance()
    for group in SPEC_GROUPS:
        for folder in spec_dirs(group):
            for spec in sorted(folder.glob("*.yaml")):
                store.store(group=group, name=spec.stem, node=OmegaConf.load(spec))


def register_all() -> None:
    register_configs()
    register_specs()
    ConfigStore.instance().store(group="report", name="default", node=ReportConfig)


def merge_overrides(*layers: Sequence[str]) -> list[str]:
    """Override lists applied in order, the last value of each key winning.

    Hydra refuses a config group chosen twice (``dataset=a dataset=b``), so layers (a
    spec's defaults, the user's command line, a trial's choices) are merged before composing.
    """
    merged: dict[str, str] = {}
    for layer in layers:
        for override in layer:
            merged.pop(override.split("=", 1)[0], None)  # re-insert: order follows the winner
            merged[override.split("=", 1)[0]] = override
    return list(merged.values())


def compose_tree(overrides: Sequence[str] = ()) -> DictConfig:
    """The composed tree for ``overrides`` (``key=value`` strings), unvalidated."""
    register_all()
    if GlobalHydra.instance().is_initialized():
        # Inside a running Hydra app (a sweep composing its trials): reuse its search path.
        return compose("config", overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def compose_config(overrides: Sequence[str] = ()) -> Config:
    """A validated config; raises :class:`ConfigError` with a one-line message."""
    try:
        return to_config(compose_tree(overrides))
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(describe_error(error)) from error


def describe_error(error: BaseException) -> str:
    """One line for a Hydra or OmegaConf composition error."""
    if isinstance(error, MissingConfigException) and error.options and error.missing_cfg_file:
        group, _, choice = error.missing_cfg_file.rpartition("/")
        return f"{group}={choice!r} is not one of: {', '.join(error.options)}"
    if isinstance(error, OverrideParseException):
        return f"cannot parse override: {first_line(error)}"
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        return f"{cause.full_key} is not a config field; see `rnnaudio train --cfg job`"
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return f"{cause.full_key}: {first_line(cause.msg or cause)}"
    return first_line(error)
