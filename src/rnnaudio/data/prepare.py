"""From a dataset config to labelled feature tensors: corpus on disk, manifest, cached features.

Bad files are skipped and counted here (see :mod:`rnnaudio.data.data_report`): the
returned manifest, features and labels hold the good clips only, row for row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from filelock import FileLock
from rich.console import Console

from rnnaudio.config import AugmentConfig, ConfigError, DatasetConfig, FeatureConfig
from rnnaudio.data.augment import FeatureAugment, build_augment
from rnnaudio.data.cache import FeatureCache
from rnnaudio.data.corpora.esc50 import load_esc50
from rnnaudio.data.corpora.folder import load_folder
from rnnaudio.data.corpora.fsdd import load_fsdd
from rnnaudio.data.corpora.speech_commands import load_speech_commands
from rnnaudio.data.corpora.urbansound8k import load_urbansound8k
from rnnaudio.data.data_report import DataReport, TooManyBadFilesError
from rnnaudio.data.features import fold_statistics
from rnnaudio.data.folds import hold_out_test_folds
from rnnaudio.data.synth import (
    build_synth_commands,
    check_split_speakers,
    is_built,
    min_test_speakers,
)

log = logging.getLogger(__name__)

SYNTH_HINT = "build it with: rnnaudio data synth"

ManifestLoader = Callable[[DatasetConfig, int], pd.DataFrame]


def _speech_commands_manifest(cfg: DatasetConfig, seed: int) -> pd.DataFrame:
    # The corpus's composition is drawn with dataset.split_seed, not the run's seed: every
    # seed of an experiment is scored on the same _unknown_ and _silence_ clips.
    hint = SYNTH_HINT if cfg.name == "synth_commands" else None
    return load_speech_commands(
        Path(cfg.root),
        cfg.task,
        silence_fraction=cfg.silence_fraction,
        unknown_fraction=cfg.unknown_fraction,
        clip_seconds=cfg.clip_seconds,
        split_seed=cfg.split_seed,
        build_hint=hint,
    )


# One loader per on-disk layout; the embedded corpus is written in the Speech Commands one.
MANIFEST_LOADERS: dict[str, ManifestLoader] = {
    "synth_commands": _speech_commands_manifest,
    "speech_commands": _speech_commands_manifest,
    "esc50": lambda cfg, seed: load_esc50(Path(cfg.root), cfg.task),
    "urbansound8k": lambda cfg, seed: load_urbansound8k(Path(cfg.root), cfg.task),
    "fsdd": lambda cfg, seed: load_fsdd(Path(cfg.root), cfg.task),
    "folder": lambda cfg, seed: load_folder(Path(cfg.root), cfg.task),
}

_LISTED = "a list of at least one <word>/<speaker>_nohash_<n>.wav of the corpus"
_FSDD_TEST = "at least one <digit>_<speaker>_<index>.wav with index 0-4"


class FixedTestSplit(NamedTuple):
    """Where a corpus's layout puts its test split (``where``, under the root), the rule
    that picks its clips, and what a non-empty one looks like."""

    where: str
    rule: str
    valid: str


# Corpora whose layout fixes the test split. The others (DatasetConfig.TEST_FROM_FOLDS) have
# one only when dataset.test_folds holds folds out; cross-validation alone needs none.
FIXED_TEST_SPLITS: dict[str, FixedTestSplit] = {
    "synth_commands": FixedTestSplit("testing_list.txt", "testing_list.txt", _LISTED),
    "speech_commands": FixedTestSplit("testing_list.txt", "testing_list.txt", _LISTED),
    "fsdd": FixedTestSplit("recordings", "recordings with index 0-4", _FSDD_TEST),
}


@dataclass(frozen=True)
class LabelledFeatures:
    """Every good clip of a corpus as features ``(N, time, F)`` (float16), labels ``(N,)``.

    ``manifest`` row ``i`` describes clip ``i``; ``classes[label]`` names its class.
    ``lengths`` ``(N,)`` counts each clip's valid frames under ``dataset.length=variable``
    (frames past it are padding the model must ignore); ``None`` under ``fixed``, where
    every frame counts. ``report`` lists the files that were skipped; ``augment`` is the
    training-batch augmentation (None when off).
    """

    features: torch.Tensor
    labels: torch.Tensor
    manifest: pd.DataFrame
    classes: list[str]
    lengths: torch.Tensor | None = None
    report: DataReport = field(default_factory=DataReport)
    augment: FeatureAugment | None = None

    @property
    def n_features(self) -> int:
        return self.features.size(-1)

    def statistics(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature ``(mean, std)`` ``(F,)`` over the valid frames of ``rows``, in chunks
        (no copy of the fold): the normalisation of a model trained on ``rows``."""
        return fold_statistics(self.features, rows, self.lengths)


def ensure_corpus(cfg: DatasetConfig, progress: bool = True) -> Path:
    """The corpus root, generating the embedded corpus there on first use.

    Processes that start together (a sweep's workers) take turns: a second build would
    move the first one's tree aside while its builder reads it.
    """
    root = Path(cfg.root)
    if cfg.name != "synth_commands" or is_built(root):
        return root
    check_split_speakers(cfg.synth)
    root.absolute().parent.mkdir(parents=True, exist_ok=True)
    with FileLock(root.absolute().with_name(f".{root.name}.lock")):
        if not is_built(root):  # built by the process we waited for
            build_synth_commands(root, cfg.synth, progress=progress)
    return root


def load_manifest(cfg: DatasetConfig, seed: int) -> pd.DataFrame:
    """The corpus's manifest, its name in ``attrs["corpus"]``, test folds held out.

    Raises :class:`ConfigError` when a split the run needs has no clip (see
    :func:`check_splits`): every corpus passes here before any feature or fold.
    """
    manifest = MANIFEST_LOADERS[cfg.name](cfg, seed)
    manifest.attrs["corpus"] = cfg.name
    manifest = hold_out_test_folds(manifest, cfg.test_folds)
    check_splits(manifest, cfg)
    return manifest


def check_splits(manifest: pd.DataFrame, cfg: DatasetConfig, context: str = "") -> None:
    """One line, before any fold trains, for a manifest with no clip to train on, or with
    an empty test split where the corpus's layout fixes one (:data:`FIXED_TEST_SPLITS`).

    ``context`` says what emptied the split when it is not the layout (bad files skipped).
    """
    split = manifest["split"].to_numpy()
    root = Path(cfg.root).expanduser().resolve()
    fixed = FIXED_TEST_SPLITS.get(cfg.name)
    if not (split != "test").any():
        rule = fixed.rule if fixed else f"dataset.test_folds={list(cfg.test_folds)}"
        raise ConfigError(
            f"{root} has no clip outside the test split ({rule}){context}, so none to train "
            "on; valid is a corpus with at least one clip outside it"
        )
    if fixed is not None and not (split == "test").any():
        raise ConfigError(
            f"{root / fixed.where} gives the test split no clip{context}, and the final "
            f"evaluation needs one; valid is {fixed.valid}{_rebuild_hint(cfg)}"
        )


def _rebuild_hint(cfg: DatasetConfig) -> str:
    # An embedded corpus built with too few speakers before data synth refused them.
    if cfg.name != "synth_commands":
        return ""
    return (f", or rebuild it with: rnnaudio data synth dataset.root={cfg.root} "
            f"dataset.synth.speakers={max(min_test_speakers(), cfg.synth.speakers)}")


def labelled_features(
    dataset: DatasetConfig,
    features: FeatureConfig,
    seed: int,
    progress: bool = True,
    augment: AugmentConfig | None = None,
) -> LabelledFeatures:
    """Corpus, manifest and feature cache in one call; the cache makes repeats cheap.

    Prints the data report when a file was skipped. Raises :class:`TooManyBadFilesError`
    (after printing it) when more than ``dataset.max_bad_fraction`` of the files are bad.
    """
    ensure_corpus(dataset, progress)
    manifest = load_manifest(dataset, seed)
    classes = list(manifest.attrs["classes"])
    num_samples = round(dataset.sample_rate * dataset.clip_seconds)
    variable = dataset.length == "variable"
    try:
        cached = FeatureCache(features.cache_dir).load_or_extract(
            manifest, features, dataset.sample_rate, num_samples, variable=variable,
            max_bad_fraction=dataset.max_bad_fraction, progress=progress,
        )
    except TooManyBadFilesError as error:
        print_report(error.report)
        raise
    if cached.report.bad_files:
        print_report(cached.report)
    if len(cached.kept) == 0:
        raise ConfigError(f"dataset.root={dataset.root!r} has no usable clip; see the report")
    kept = manifest.iloc[cached.kept.numpy()].reset_index(drop=True)
    kept.attrs = dict(manifest.attrs)
    check_splits(kept, dataset, " once the bad files are skipped (see the report)")
    index = {name: i for i, name in enumerate(classes)}
    labels = torch.tensor([index[label] for label in kept["label"]], dtype=torch.long)
    lengths = cached.lengths if variable else None
    train_augment = build_augment(augment, dataset, features) if augment is not None else None
    return LabelledFeatures(cached.features, labels, kept, classes, lengths, cached.report,
                            train_augment)


def print_report(report: DataReport, console: Console | None = None) -> None:
    """The skipped files as a table on stderr, so they are seen before training starts."""
    log.warning("%d of %d files skipped as bad: %s", report.bad_files, report.files,
                ", ".join(f"{n} {reason}" for reason, n in report.counts().items() if n))
    (console or Console(stderr=True)).print(report.table())
