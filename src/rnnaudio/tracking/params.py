"""Config to MLflow params: flat ``group.field`` keys with string values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# MLflow rejects longer param values.
MAX_PARAM_LENGTH = 6000
# Config keys (and override prefixes) that change how a run is shown, where its inputs and
# outputs are, or which runs a command makes: never a result. A run or a study under settings
# that differ only in these is the same; a corpus may sit under another root on each machine.
NOT_SETTINGS = ("trainer.progress", "trainer.accelerator", "trainer.steps_per_execution",
                "tracking.", "features.cache_dir",
                "dataset.root", "augment.noise_dir", "dataset.synth.workers", "diagnostics.",
                "report.", "hydra.", "sweep.", "experiment.")


def result_settings(config: Any) -> dict[str, str]:
    """The flattened values of a config dataclass that can change a result (less
    :data:`NOT_SETTINGS`): what runs and studies compare to know they are alike."""
    flat = flatten(dataclasses.asdict(config))
    return {key: value for key, value in flat.items() if not key.startswith(NOT_SETTINGS)}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"model": {"cell": "lstm"}}`` -> ``{"model.cell": "lstm"}``; lists stay one value."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat
