"""The Hydra tree on disk, composed into a validated :class:`~rnnaudio.config.Config`.

Composition errors from Hydra and OmegaConf are many lines long; :func:`describe_error`
turns each kind into one line that names the field, the value and what is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rnnaudio.config import Config, ConfigError, register_configs, to_config


def conf_dir() -> Path:
    """``conf/`` of a source checkout, or the copy a wheel carries inside the package."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


CONF_DIR = conf_dir()


def compose_tree(overrides: Sequence[str] = ()) -> DictConfig:
    """The composed tree for ``overrides`` (``key=value`` strings), unvalidated."""
    register_configs()
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
        return f"cannot parse override: {_first_line(str(error))}"
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        return f"{cause.full_key} is not a config field; see `rnnaudio train --cfg job`"
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return f"{cause.full_key}: {_first_line(cause.msg or str(cause))}"
    return _first_line(str(error))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid configuration"
