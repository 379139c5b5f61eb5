"""Cross-validation folds: a corpus's own predefined folds, or speaker-disjoint ones.

A manifest with a ``fold`` column (ESC-50, UrbanSound8K, a folder CSV with folds) is
cross-validated on exactly those folds; any other is split by label-stratified,
speaker-disjoint folds. ``dataset.test_folds`` moves whole predefined folds to the test split.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from rnnaudio.config import ConfigError

log = logging.getLogger(__name__)


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


def predefined_folds(manifest: pd.DataFrame) -> list[int] | None:
    """The distinct predefined folds of the cross-validation pool, ascending; None if none."""
    if "fold" not in manifest.columns:
        return None
    pool = manifest["split"].to_numpy() != "test"
    return sorted(int(fold) for fold in np.unique(manifest["fold"].to_numpy()[pool]))


def fold_scheme(manifest: pd.DataFrame) -> str:
    """How :func:`cv_folds` splits this manifest, for the run's record.

    ``predefined`` (the corpus's own folds), ``speaker_disjoint`` (StratifiedGroupKFold over
    speakers), or ``stratified`` (every clip its own group, so plain stratified folds).
    """
    if predefined_folds(manifest) is not None:
        return "predefined"
    pool = manifest[manifest["split"] != "test"]
    return "stratified" if pool["speaker"].is_unique else "speaker_disjoint"


def fold_names(manifest: pd.DataFrame, k: int) -> list[str]:
    """Name of each fold :func:`cv_folds` returns: the corpus's fold number, or 0..k-1."""
    names = predefined_folds(manifest)
    return [str(name) for name in names] if names is not None else [str(i) for i in range(k)]


def hold_out_test_folds(manifest: pd.DataFrame, test_folds: Sequence[int]) -> pd.DataFrame:
    """A copy of ``manifest`` whose rows in ``test_folds`` are the test split.

    Raises:
        ConfigError: test folds asked of a corpus without predefined folds, a fold the
            corpus does not have, or fewer than two folds left to cross-validate.
    """
    if not test_folds:
        return manifest
    corpus = manifest.attrs.get("corpus", "this corpus")
    given = f"dataset.test_folds={list(test_folds)}"
    if "fold" not in manifest.columns:
        raise ConfigError(f"{given} needs predefined folds and {corpus} has none; valid is []")
    available = sorted(int(f) for f in manifest["fold"].unique())
    unknown = [f for f in test_folds if f not in available]
    if unknown:
        raise ConfigError(
            f"{given} names fold {unknown[0]}, not one of the predefined folds of {corpus}: "
            f"{', '.join(map(str, available))}"
        )
    if len(available) - len(test_folds) < 2:
        raise ConfigError(
            f"{given} leaves {len(available) - len(test_folds)} of the {len(available)} "
            f"predefined folds of {corpus} to cross-validate; at least 2 are needed"
        )
    in_test = manifest["fold"].isin(test_folds)
    held = manifest.assign(split=manifest["split"].where(~in_test, "test"))
    held.attrs = {**manifest.attrs, "test_folds": list(test_folds)}
    return held


def cv_folds(manifest: pd.DataFrame, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds over the train+validation rows of a manifest, as row numbers into it.

    The test split never enters cross-validation. With a ``fold`` column the corpus's own
    folds are used, in ascending order, exactly; ``k`` must equal their number.

    Raises:
        ConfigError: ``k`` does not match the predefined folds, or does not fit the speakers.
    """
    pool = np.flatnonzero(manifest["split"].to_numpy() != "test")
    names = predefined_folds(manifest)
    if names is not None:
        if k != len(names):
            corpus = manifest.attrs.get("corpus", "this corpus")
            held = manifest.attrs.get("test_folds")
            after = f" left by dataset.test_folds={held}" if held else ""
            raise ConfigError(
                f"cv.folds={k} does not match the {len(names)} predefined folds of {corpus}"
                f"{after}; use cv.folds={len(names)}"
            )
        fold = manifest["fold"].to_numpy()[pool]
        folds = [(pool[fold != name], pool[fold == name]) for name in names]
    else:
        rows = manifest.iloc[pool]
        folds = [(pool[train], pool[val]) for train, val in speaker_disjoint_folds(
            rows["label"].to_numpy(), rows["speaker"].to_numpy(), k, seed)]
    groups = None if names is not None else manifest["speaker"].to_numpy()
    _warn_missing_labels(manifest["label"].to_numpy(), groups, pool, folds,
                         fold_names(manifest, k))
    return folds


def _warn_missing_labels(labels: np.ndarray, groups: np.ndarray | None, pool: np.ndarray,
                         folds: list[tuple[np.ndarray, np.ndarray]], names: list[str]) -> None:
    """A fold that validates no clip of a class scores its accuracy and macro-F1 over fewer
    classes than the others. ``groups`` (None: the corpus's own folds) go to one fold whole,
    so a class held by fewer groups than folds (``_silence_``: one group per noise file)
    leaves some folds without it."""
    every = np.unique(labels[pool])
    for name, (_, val) in zip(names, folds, strict=True):
        missing = sorted(set(every) - set(np.unique(labels[val])))
        if missing:
            log.warning("cv fold %s validates no clip of %s: %s", name,
                        ", ".join(map(str, missing)), _why(labels, groups, pool, missing,
                                                           len(folds)))


def _why(labels: np.ndarray, groups: np.ndarray | None, pool: np.ndarray,
         missing: list[str], k: int) -> str:
    if groups is None:
        return "the corpus's folds put none there"
    held = {label: len(np.unique(groups[pool][labels[pool] == label])) for label in missing}
    few = {label: n for label, n in held.items() if n < k}
    if few:
        counts = ", ".join(f"{n} groups hold {label}" for label, n in few.items())
        return f"{counts}, fewer than the {k} folds"
    return "the label-stratified grouping put none there"
