"""Cross-validation folds that keep every speaker on one side of each split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from rnnaudio.config import ConfigError


def speaker_disjoint_folds(
    labels: Sequence[str] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    k: int,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split clips into ``k`` folds, stratified by label and disjoint by speaker.

    Args:
        labels: class of each clip, length N.
        groups: speaker (or any grouping string) of each clip, length N; all clips
            of a group land in the same validation fold.
        k: number of folds, 2 up to the number of distinct groups.
        seed: shuffling seed; the same inputs and seed give the same folds.

    Returns:
        ``k`` pairs ``(train_idx, val_idx)`` of int64 indices into the inputs; every
        index is in exactly one ``val_idx``.

    Raises:
        ConfigError: ``k`` is below 2, above the number of distinct groups, or above
            the size of the largest class.
    """
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    if len(labels) != len(groups):
        raise ValueError(f"labels ({len(labels)}) and groups ({len(groups)}) differ in length")
    n_groups = len(np.unique(groups))
    if k > n_groups:
        raise ConfigError(
            f"cv.folds={k} exceeds the {n_groups} distinct speakers in train+validation; "
            f"valid values are 2..{n_groups}"
        )
    if k < 2:
        raise ConfigError(f"cv.folds={k} is below 2; valid values are 2..{n_groups}")
    largest_class = int(np.unique(labels, return_counts=True)[1].max())
    if k > largest_class:
        raise ConfigError(
            f"cv.folds={k} exceeds the {largest_class} clips of the largest class; "
            f"valid values are 2..{min(n_groups, largest_class)}"
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    dummy = np.zeros((len(labels), 1))
    return [
        (train.astype(np.int64), val.astype(np.int64))
        for train, val in splitter.split(dummy, labels, groups)
    ]


def cv_folds(manifest: pd.DataFrame, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds over the train+validation rows of a manifest, as row numbers into it.

    The test split never enters cross-validation.
    """
    pool = np.flatnonzero(manifest["split"].to_numpy() != "test")
    rows = manifest.iloc[pool]
    folds = speaker_disjoint_folds(rows["label"].to_numpy(), rows["speaker"].to_numpy(), k, seed)
    return [(pool[train], pool[val]) for train, val in folds]
