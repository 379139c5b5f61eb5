"""What a study's trials are scored under, kept on the study.

A study resumes by name, and its trial budget counts every finished trial. Resumed under other
settings (more epochs after a smoke test, another corpus), it would rank losses that do not
compare, count the old trials against the new budget, and refit the best of them. So a run
records the settings every trial shares, and once a trial has finished under them, a run
under others is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import TrialState

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError, SweepConfig
from rnnaudio.config.checks import shown_setting
from rnnaudio.sweep.space import trial_overrides
from rnnaudio.sweep.study import FINISHED, count
from rnnaudio.tracking.params import result_settings

SETTINGS_ATTR = "rnnaudio.trial_settings"
SHOWN = 3


def trial_settings(spec: SweepConfig, overrides: Sequence[str]) -> dict[str, str]:
    """Every config value the trials share: the config of a trial, less the swept keys."""
    shared = result_settings(compose_config(trial_overrides(spec, overrides, {})))
    return {key: value for key, value in shared.items() if key not in spec.space}


def check_settings(study: optuna.Study, spec: SweepConfig, settings: dict[str, str]) -> None:
    """Records ``settings`` on a study with no trial finished or running (new, or only failed
    and interrupted ones: no loss to compare with); refuses a study whose trials ran or run
    under others. A key one side lacks (a field added since) is not a difference."""
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is None or not count(study, *FINISHED, TrialState.RUNNING):
        study.set_user_attr(SETTINGS_ATTR, settings)
        return
    changed = [key for key in sorted(settings)
               if key in recorded and recorded[key] != settings[key]]
    if not changed:
        return
    shown = ", ".join(f"{key}={settings[key]} (its trials ran with {recorded[key]})"
                      for key in changed[:SHOWN])
    more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
    raise ConfigError(
        f"sweep.study_name={spec.study_name!r} in {shown_setting('sweep.storage', spec.storage)}"
        f" has trials run under other settings: {shown}{more}; their losses would not compare, "
        "so resume it with its settings, or start another study with sweep.study_name=<name>")
