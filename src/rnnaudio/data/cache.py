"""On-disk cache of a manifest's features, one float16 tensor file per (manifest, config).

The key hashes the feature config, the target rate, length and length policy, and every
row's path, offsets, size and modification time, so editing a file, the file list or a
feature field gives a new entry; stale entries are left for the user to delete.

An entry holds the features of the *good* rows only, which rows those are, each clip's
valid frames, and the :class:`DataReport` of the rows that were skipped (see
:mod:`rnnaudio.data.extract`), so a cache hit reports the same bad files as the run that
built it without decoding anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import torch
import torchaudio

from rnnaudio.config import ConfigError, FeatureConfig
from rnnaudio.data.data_report import DataReport
from rnnaudio.data.extract import ExtractedFeatures, extract_features
from rnnaudio.data.features import num_frames

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # bump when feature code changes what a given config produces


def _file_stamp(path: str) -> tuple[int, int]:
    # A missing file still gets a key; extraction then reports it as missing.
    try:
        stat = os.stat(path)
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def cache_key(
    manifest: pd.DataFrame,
    cfg: FeatureConfig,
    sample_rate: int,
    num_samples: int,
    variable: bool = False,
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
        "variable": variable,
    }
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    rows = zip(manifest["path"], manifest["start"], manifest["frames"], strict=True)
    for path, start, frames in rows:
        size, mtime_ns = _file_stamp(path)
        # repr() quotes the path, so no path can forge a row boundary.
        digest.update(f"{path!r}\t{start}\t{frames}\t{size}\t{mtime_ns}\n".encode())
    return digest.hexdigest()


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

    def load_or_extract(
        self,
        manifest: pd.DataFrame,
        cfg: FeatureConfig,
        sample_rate: int,
        num_samples: int,
        *,
        variable: bool = False,
        max_bad_fraction: float = 0.0,
        progress: bool = True,
    ) -> ExtractedFeatures:
        """The good clips of ``manifest`` and the report of the bad ones, cached.

        A hit memory-maps the stored file; a miss (or an unreadable file) extracts and
        stores it. ``self.last_hit`` tells which happened. More bad files than
        ``max_bad_fraction`` raises :class:`TooManyBadFilesError` (and stores nothing).
        """
        key = cache_key(manifest, cfg, sample_rate, num_samples, variable)
        path = self.path_for(key)
        full = num_frames(cfg, sample_rate, num_samples)
        cached = self._load(path, key, cfg.n_features, None if variable else full)
        self.last_hit = cached is not None
        if cached is not None:
            log.info("feature cache hit: %s", path)
            cached.report.check(max_bad_fraction)
            return cached
        log.info("feature cache miss: computing %d clips into %s", len(manifest), path)
        self._make_dir()  # before the extraction, which a bad folder would waste
        cached = extract_features(
            manifest, cfg, sample_rate, num_samples, variable=variable, progress=progress
        )
        cached.report.check(max_bad_fraction)
        try:
            self._store(path, key, cached)
        except OSError as err:  # a full disk: the features are computed, the run goes on
            log.warning("feature cache entry %s could not be stored (%s); going on without "
                        "it, the next run extracts again", path, err)
        return cached

    def load_or_compute(
        self,
        manifest: pd.DataFrame,
        cfg: FeatureConfig,
        sample_rate: int,
        num_samples: int,
        *,
        progress: bool = True,
    ) -> torch.Tensor:
        """Features of every row of ``manifest``: float16 ``(N, time, n_features)``.

        Strict: any bad file raises :class:`TooManyBadFilesError` naming it.
        """
        return self.load_or_extract(
            manifest, cfg, sample_rate, num_samples, progress=progress
        ).features

    def _load(
        self, path: Path, key: str, n_features: int, time: int | None
    ) -> ExtractedFeatures | None:
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            features, lengths, kept = entry["features"], entry["lengths"], entry["kept"]
            report = DataReport.from_json(entry["report"])
            valid = (
                entry["key"] == key
                and features.dtype == torch.float16
                and features.dim() == 3
                and features.size(2) == n_features
                and (time is None or features.size(1) == time)
                and len(lengths) == len(kept) == features.size(0)
            )
        except Exception as err:  # any unreadable entry is rebuilt, whatever broke it
            log.warning("feature cache entry %s is unreadable (%s); rebuilding", path, err)
            return None
        if not valid:
            log.warning("feature cache entry %s does not match its key; rebuilding", path)
            return None
        return ExtractedFeatures(features, lengths, kept, report)

    def _make_dir(self) -> None:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            problem = f"cannot be created ({err.strerror or err})"
        else:
            if os.access(self.cache_dir, os.W_OK | os.X_OK):
                return
            problem = "is not writable"
        raise ConfigError(f"features.cache_dir={str(self.cache_dir)!r} {problem}; give a "
                          "folder this user can write")

    def _store(self, path: Path, key: str, cached: ExtractedFeatures) -> None:
        entry = {
            "key": key,
            "features": cached.features,
            "lengths": cached.lengths,
            "kept": cached.kept,
            "report": cached.report.to_json(),
        }
        # The temp file lives in the target directory so os.replace is a same-filesystem
        # rename, atomic on POSIX and Windows.
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                _save(entry, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _save(entry: dict, handle: BinaryIO) -> None:
    try:
        torch.save(entry, handle)
    # torch's zip writer reports a failed write (a full disk) as a RuntimeError; the entry
    # is plain tensors and strings, whose pickling has no other way to fail.
    except RuntimeError as err:
        raise OSError(f"cannot write the entry: {err}") from err
