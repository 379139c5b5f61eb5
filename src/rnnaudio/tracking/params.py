"""Config to MLflow params: flat ``group.field`` keys with string values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# MLflow rejects longer param values.
MAX_PARAM_LENGTH = 6000


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
