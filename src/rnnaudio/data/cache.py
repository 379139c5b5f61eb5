"""On-disk cache of a manifest's features, one float16 tensor file per (manifest, config).

The key hashes the feature config, the target rate and length, and every row's path,
offsets, size and modification time, so editing a file, the file list or a feature
field gives a new entry; stale entries are left for the user to delete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import pandas as pd
import torch
import torchaudio
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rnnaudio.config import FeatureConfig
from rnnaudio.data.audio import load_clip
from rnnaudio.data.features import feature_transform, num_frames

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when feature code changes what a given config produces
BATCH_CLIPS = 256


def _file_stamp(path: str) -> tuple[int, int]:
    # A missing file still gets a key; decoding it then fails with one clear message.
    try:
        stat = os.stat(path)
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def cache_key(
    manifest: pd.DataFrame, cfg: FeatureConfig, sample_rate: int, num_samples: int
) -> str:
    """Hex sha256 naming the features of ``manifest`` under ``cfg``; stat calls only."""
    settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    settings.pop("cache_dir")
    header = {
        "format": CACHE_FORMAT,
        "torchaudio": torchaudio.__version__,
        "features": settings,
        "sample_rate": sample_rate,
        "num_samples": num_samples,
    }
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    rows = zip(manifest["path"], manifest["start"], manifest["frames"], strict=True)
    for path, start, frames in rows:
        size, mtime_ns = _file_stamp(path)
        # repr() quotes the path, so no path can forge a row boundary.
        digest.update(f"{path!r}\t{start}\t{frames}\t{size}\t{mtime_ns}\n".encode())
    return digest.hexdigest()


def decode_row(
    path: str, start: int, frames: int, sample_rate: int, num_samples: int
) -> torch.Tensor:
    """One manifest row → float32 ``(num_samples,)``; raises ``AudioDecodeError``.

    The single place a file is decoded, so skipping bad files later is one ``except``.
    """
    return load_clip(path, int(start), int(frames), sample_rate, num_samples)


def compute_features(
    manifest: pd.DataFrame,
    cfg: FeatureConfig,
    sample_rate: int,
    num_samples: int,
    *,
    progress: bool = True,
) -> torch.Tensor:
    """Decode and featurise every row: float16 ``(N, time, n_features)`` in manifest order."""
    transform = feature_transform(cfg, sample_rate)
    frames_out = num_frames(cfg, sample_rate, num_samples)
    out = torch.empty(len(manifest), frames_out, cfg.n_features, dtype=torch.float16)
    rows = list(zip(manifest["path"], manifest["start"], manifest["frames"], strict=True))
    with _progress_bar(progress) as bar:
        task = bar.add_task("extracting features", total=len(rows))
        for begin in range(0, len(rows), BATCH_CLIPS):
            batch = rows[begin : begin + BATCH_CLIPS]
            waves = torch.stack([decode_row(*row, sample_rate, num_samples) for row in batch])
            with torch.no_grad():
                out[begin : begin + len(batch)] = transform(waves).to(torch.float16)
            bar.advance(task, len(batch))
    return out


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )


class FeatureCache:
    """Features of whole manifests, stored as ``<cache_dir>/<cache_key>.pt``.

    Several processes may build the same entry at once: each writes a private temp
    file and renames it into place, so readers see a whole file or none.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.last_hit = False

    def path_for(self, key: str) -> Path:
        return self.cache_dir / f"{key}.pt"

    def load_or_compute(
        self,
        manifest: pd.DataFrame,
        cfg: FeatureConfig,
        sample_rate: int,
        num_samples: int,
        *,
        progress: bool = True,
    ) -> torch.Tensor:
        """Features of ``manifest``: float16 ``(N, time, n_features)``, rows in manifest order.

        A hit memory-maps the stored file; a miss (or an unreadable file) computes
        and stores it. ``self.last_hit`` tells which happened.
        """
        key = cache_key(manifest, cfg, sample_rate, num_samples)
        path = self.path_for(key)
        expected = (len(manifest), num_frames(cfg, sample_rate, num_samples), cfg.n_features)
        features = self._load(path, key, expected)
        self.last_hit = features is not None
        if features is not None:
            log.info("feature cache hit: %s", path)
            return features
        log.info("feature cache miss: computing %d clips into %s", len(manifest), path)
        features = compute_features(manifest, cfg, sample_rate, num_samples, progress=progress)
        self._store(path, key, features)
        return features

    def _load(self, path: Path, key: str, expected: tuple[int, ...]) -> torch.Tensor | None:
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            features = entry["features"]
            valid = entry["key"] == key and tuple(features.shape) == expected
        except Exception as err:  # any unreadable entry is rebuilt, whatever broke it
            log.warning("feature cache entry %s is unreadable (%s); rebuilding", path, err)
            return None
        if not valid or features.dtype != torch.float16:
            log.warning("feature cache entry %s does not match its key; rebuilding", path)
            return None
        return features

    def _store(self, path: Path, key: str, features: torch.Tensor) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # The temp file lives in the target directory so os.replace is a same-filesystem
        # rename, atomic on POSIX and Windows.
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save({"key": key, "features": features}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
