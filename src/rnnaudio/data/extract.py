"""Decoding a manifest's clips into features, skipping and counting the bad ones.

Two passes: file headers first (cheap; catches missing, empty, non-audio, corrupt and
truncated files, and clips shorter than one window, and sizes the output), then decoding in
batches (catches NaN and infinite samples). Each bad file lands in a :class:`DataReport`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rnnaudio.config import FeatureConfig
from rnnaudio.data.audio import (
    AudioDecodeError,
    AudioInfo,
    check_wave,
    fit_length,
    probe_audio,
    read_clip,
    resample,
    resampled_length,
    too_short_detail,
)
from rnnaudio.data.data_report import DataReport
from rnnaudio.data.features import feature_transform, num_frames, window_samples

BATCH_CLIPS = 256


@dataclasses.dataclass(frozen=True)
class ExtractedFeatures:
    """The good clips of a manifest.

    ``features``: float16 ``(n, time, n_features)``; ``lengths``: int64 ``(n,)`` valid frames
    of each clip (``time`` for every clip under the fixed policy); ``kept``: int64 ``(n,)``
    manifest row of each clip, ascending; ``report``: the rows that were skipped, and why.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    kept: torch.Tensor
    report: DataReport


@dataclasses.dataclass(frozen=True)
class _Span:
    row: int
    path: str
    start: int
    frames: int


def decode_row(
    path: str, start: int, frames: int, sample_rate: int, num_samples: int, min_samples: int = 0
) -> tuple[torch.Tensor, int]:
    """One manifest row → float32 ``(num_samples,)`` and its valid samples (before padding).

    The single place a file is decoded. Raises ``AudioDecodeError`` (with a reason) for a
    file that cannot be read, holds NaN or infinite samples, or is shorter than
    ``min_samples`` at ``sample_rate`` Hz.
    """
    wave, native_rate = read_clip(path, int(start), int(frames))
    check_wave(wave, path, 0, native_rate)
    wave = resample(wave, native_rate, sample_rate)
    check_wave(wave, path, min_samples, sample_rate)
    return fit_length(wave, num_samples), min(wave.shape[-1], num_samples)


def _span_samples(info: AudioInfo, span: _Span, sample_rate: int, num_samples: int) -> int:
    available = max(0, info.frames - span.start)
    native = available if span.frames < 0 else min(span.frames, available)
    return min(resampled_length(native, info.sample_rate, sample_rate), num_samples)


def _plan(
    manifest: pd.DataFrame, sample_rate: int, num_samples: int, min_samples: int,
    report: DataReport,
) -> tuple[list[_Span], list[int]]:
    """Rows whose headers look usable, and their expected samples; reads headers only."""
    infos: dict[str, AudioInfo | AudioDecodeError] = {}
    spans, samples = [], []
    columns = zip(manifest["path"], manifest["start"], manifest["frames"], strict=True)
    for row, (path, start, frames) in enumerate(columns):
        if path not in infos:
            try:
                infos[path] = probe_audio(path)
            except AudioDecodeError as err:
                infos[path] = err
        info = infos[path]
        if isinstance(info, AudioDecodeError):
            report.add(path, info.reason, info.detail)
            continue
        span = _Span(row, path, int(start), int(frames))
        expected = _span_samples(info, span, sample_rate, num_samples)
        if expected < min_samples:
            report.add(path, "too_short", too_short_detail(expected, min_samples, sample_rate))
            continue
        spans.append(span)
        samples.append(expected)
    return spans, samples


def extract_features(
    manifest: pd.DataFrame,
    cfg: FeatureConfig,
    sample_rate: int,
    num_samples: int,
    *,
    variable: bool = False,
    progress: bool = True,
) -> ExtractedFeatures:
    """Decode and featurise every usable row; skip and count the rest.

    Every clip is resampled to ``sample_rate`` Hz and zero-padded or trimmed to
    ``num_samples`` before features, so a clip's features never depend on its batch mates.
    ``variable=False``: ``time`` is the frames of ``num_samples``. ``variable=True``: ``time``
    is the longest clip's frames, and ``lengths`` counts each clip's own.
    """
    report = DataReport(files=int(manifest["path"].nunique()), rows=len(manifest))
    transform = feature_transform(cfg, sample_rate)
    min_samples = window_samples(cfg, sample_rate)
    spans, samples = _plan(manifest, sample_rate, num_samples, min_samples, report)
    full = num_frames(cfg, sample_rate, num_samples)
    expected = [num_frames(cfg, sample_rate, n) for n in samples]
    time = max(expected, default=1) if variable else full
    out = torch.empty(len(spans), time, cfg.n_features, dtype=torch.float16)
    lengths = torch.empty(len(spans), dtype=torch.long)
    kept = torch.empty(len(spans), dtype=torch.long)
    done = 0  # rows written; never ahead of the batch being read, so writes never overlap
    with _progress_bar(progress) as bar:
        task = bar.add_task("extracting features", total=len(spans))
        for begin in range(0, len(spans), BATCH_CLIPS):
            waves, rows, valid = [], [], []
            for span in spans[begin : begin + BATCH_CLIPS]:
                try:
                    wave, n = decode_row(span.path, span.start, span.frames, sample_rate,
                                         num_samples, min_samples)
                except AudioDecodeError as err:
                    report.add(span.path, err.reason, err.detail)
                    continue
                waves.append(wave)
                rows.append(span.row)
                valid.append(min(time, num_frames(cfg, sample_rate, n)) if variable else time)
            if waves:
                with torch.no_grad():
                    feats = transform(torch.stack(waves))[:, :time]
                out[done : done + len(waves)] = feats.to(torch.float16)
                lengths[done : done + len(waves)] = torch.tensor(valid)
                kept[done : done + len(waves)] = torch.tensor(rows)
                done += len(waves)
            bar.advance(task, min(BATCH_CLIPS, len(spans) - begin))
    if done < len(spans):
        # Only when decoding found bad files the headers hid (NaN samples, say): a copy of the
        # good rows, so the stored file holds no dead storage.
        out, lengths, kept = out[:done].clone(), lengths[:done].clone(), kept[:done].clone()
    return ExtractedFeatures(out, lengths, kept, report)


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
