"""The Hydra tree on disk, composed into a validated :class:`~rnnaudio.config.Config`.

Composition errors from Hydra and OmegaConf are many lines long; :func:`describe_error`
turns each kind into one line that names the field, the value and what is valid.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rnnaudio.config import Config, ConfigError, ReportConfig, register_configs, to_config
from rnnaudio.config.checks import first_line

log = logging.getLogger(__name__)

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


# "<group>/<name>" of each spec file that could not be read -> the one line saying why. Such
# a file is left out, so that the specs beside it still work, and is named if chosen.
UNREADABLE: dict[str, str] = {}


def register_specs() -> None:
    store = ConfigStore.instance()
    for group in SPEC_GROUPS:
        for folder in spec_dirs(group):
            for spec in sorted(folder.glob("*.yaml")):
                node = _load_spec(group, spec)
                if node is not None:
                    store.store(group=group, name=spec.stem, node=node)


def _load_spec(group: str, spec: Path) -> DictConfig | ListConfig | None:
    try:
        node = OmegaConf.load(spec)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = f"{spec} is not readable YAML: {_yaml_problem(error)}"
        if UNREADABLE.get(f"{group}/{spec.stem}") != reason:
            log.warning("%s spec left out: %s", group, reason)  # once per file and reason
        UNREADABLE[f"{group}/{spec.stem}"] = reason
        return None
    UNREADABLE.pop(f"{group}/{spec.stem}", None)
    return node


def _yaml_problem(error: BaseException) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return first_line(error)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


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
    check_specs_readable(overrides)
    if GlobalHydra.instance().is_initialized():
        # Inside a running Hydra app (a sweep composing its trials): reuse its search path.
        return compose("config", overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def compose_config(overrides: Sequence[str] = ()) -> Config:
    """A validated config; raises :class:`ConfigError` with a one-line message."""
    check_groups_chosen(overrides)
    try:
        return to_config(compose_tree(overrides))
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(describe_error(error)) from error


# The optional parts of a config (None unless a spec is chosen) and how a user chooses one.
HOW_CHOSEN = {
    "sweep": "`rnnaudio sweep sweep=<name>`, +sweep=<name> in `rnnaudio train`, or as the "
             "rows' sweeps in `rnnaudio run experiment=<name>`",
    "experiment": "`rnnaudio run experiment=<name>`; its rows' settings go in its spec",
    "report": "`rnnaudio report`",
}


def check_groups_chosen(overrides: Sequence[str]) -> None:
    """A field of an optional part that no override chooses: OmegaConf would fail on it
    with a bare assertion about a ``None`` root."""
    keys = [override.lstrip("+~").split("=", 1)[0] for override in overrides]
    for key in keys:
        group = key.split(".", 1)[0]
        if "." in key and group in HOW_CHOSEN and group not in keys:
            raise ConfigError(f"{key}: no {group} is chosen here, so it has no fields to set; "
                              f"{group} settings come with {HOW_CHOSEN[group]}")


def check_specs_readable(overrides: Sequence[str]) -> None:
    """A chosen spec whose file is unreadable, even where an earlier folder's file of that
    name would compose in its place: the user meant the one that failed. Reads
    :data:`UNREADABLE` as the last :func:`register_specs` left it."""
    for override in overrides:
        key, _, name = override.lstrip("+").partition("=")
        if f"{key}/{name}" in UNREADABLE:
            raise ConfigError(UNREADABLE[f"{key}/{name}"])


def describe_error(error: BaseException) -> str:
    """One line for a Hydra or OmegaConf composition error."""
    if isinstance(error, MissingConfigException) and error.options and error.missing_cfg_file:
        group, _, choice = error.missing_cfg_file.rpartition("/")
        return f"{group}={choice!r} is not one of: {', '.join(error.options)}"
    if isinstance(error, OverrideParseException):
        return f"cannot parse override: {first_line(error)}"
    in_file = _IN_FILE.match(str(error))
    if isinstance(error, ConfigCompositionException) and in_file:
        return _describe_in_file(in_file)
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        if cause.full_key in RENAMED:
            return f"{cause.full_key} is now {RENAMED[cause.full_key]}"
        return f"{cause.full_key} is not a config field; see `rnnaudio train --cfg job`"
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return f"{cause.full_key}: {first_line(cause.msg or cause)}"
    return first_line(error)


# Fields that moved: an old command line gets the new name, not a bare "not a field".
RENAMED = {"dataset.jsb.split_seed": "dataset.split_seed (it draws every corpus's split)"}

# Hydra reports an error inside one config file as text, with no exception to inspect:
# "In 'sweep/x': ConfigKeyError raised while composing config:\n<reason>\n    full_key: k".
_IN_FILE = re.compile(r"In '(?P<source>[^']+)': (?P<kind>\w+) raised while composing config:"
                      r"\s*(?P<reason>[^\n]*)(?:.*?full_key: (?P<key>\S+))?", re.DOTALL)


def _describe_in_file(found: re.Match[str]) -> str:
    group, _, name = found["source"].rpartition("/")
    where = _spec_file(group, name) or found["source"]
    if found["kind"] in ("ConfigKeyError", "ConfigAttributeError") and found["key"]:
        return f"{found['key']} in {where} is not a config field; see `rnnaudio train --cfg job`"
    if found["kind"] == "ConfigTypeError" and "ListConfig" in found["reason"]:
        return f"{where} is a list; a {group or 'config'} file is a mapping of field: value"
    return f"{where}: {found['reason'] or found['kind']}"


def _spec_file(group: str, name: str) -> str | None:
    """The file behind ``group/name`` if it is a spec (the last folder holding it wins)."""
    if group not in SPEC_GROUPS:
        return None
    files = [folder / f"{name}.yaml" for folder in spec_dirs(group)]
    found = [path for path in files if path.is_file()]
    return str(found[-1]) if found else None
