"""From a dataset config to labelled feature tensors: corpus on disk, manifest, cached features."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from rnnaudio.config import DatasetConfig, FeatureConfig
from rnnaudio.data.cache import FeatureCache
from rnnaudio.data.corpora.speech_commands import load_speech_commands
from rnnaudio.data.synth import build_synth_commands, is_built

SYNTH_HINT = "build it with: rnnaudio data synth"

ManifestLoader = Callable[[DatasetConfig, int], pd.DataFrame]


def _speech_commands_manifest(cfg: DatasetConfig, seed: int) -> pd.DataFrame:
    hint = SYNTH_HINT if cfg.name == "synth_commands" else None
    return load_speech_commands(
        Path(cfg.root),
        cfg.task,
        silence_fraction=cfg.silence_fraction,
        unknown_fraction=cfg.unknown_fraction,
        clip_seconds=cfg.clip_seconds,
        seed=seed,
        build_hint=hint,
    )


# The embedded corpus is written in the Speech Commands layout, so one loader serves both.
MANIFEST_LOADERS: dict[str, ManifestLoader] = {
    "synth_commands": _speech_commands_manifest,
    "speech_commands": _speech_commands_manifest,
}


@dataclass(frozen=True)
class LabelledFeatures:
    """Every clip of a corpus as features ``(N, time, F)`` (float16), labels ``(N,)`` and rows.

    ``manifest`` row ``i`` describes clip ``i``; ``classes[label]`` names its class.
    """

    features: torch.Tensor
    labels: torch.Tensor
    manifest: pd.DataFrame
    classes: list[str]

    @property
    def n_features(self) -> int:
        return self.features.size(-1)


def ensure_corpus(cfg: DatasetConfig, progress: bool = True) -> Path:
    """The corpus root, generating the embedded corpus there on first use."""
    root = Path(cfg.root)
    if cfg.name == "synth_commands" and not is_built(root):
        build_synth_commands(root, cfg.synth, progress=progress)
    return root


def load_manifest(cfg: DatasetConfig, seed: int) -> pd.DataFrame:
    return MANIFEST_LOADERS[cfg.name](cfg, seed)


def labelled_features(
    dataset: DatasetConfig, features: FeatureConfig, seed: int, progress: bool = True
) -> LabelledFeatures:
    """Corpus, manifest and feature cache in one call; the cache makes repeats cheap."""
    ensure_corpus(dataset, progress)
    manifest = load_manifest(dataset, seed)
    classes = list(manifest.attrs["classes"])
    num_samples = round(dataset.sample_rate * dataset.clip_seconds)
    tensor = FeatureCache(features.cache_dir).load_or_compute(
        manifest, features, dataset.sample_rate, num_samples, progress=progress
    )
    index = {name: i for i, name in enumerate(classes)}
    labels = torch.tensor([index[label] for label in manifest["label"]], dtype=torch.long)
    return LabelledFeatures(tensor, labels, manifest, classes)
