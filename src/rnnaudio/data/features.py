"""Frame-level features: MFCC or log-mel energies, and their normalisation statistics.

Framing follows the Speech Commands literature: 30 ms Hann windows every 10 ms
(``n_fft`` equals the window length, 480 samples at 16 kHz), centred frames, so a
one-second clip at 16 kHz gives 101 frames.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from rnnaudio.config import ConfigError, FeatureConfig

LOG_OFFSET = 1e-6  # added to mel power before the log; torchaudio's MFCC uses the same


def _samples(ms: float, sample_rate: int) -> int:
    return max(1, round(ms * sample_rate / 1000))


def _mel_kwargs(cfg: FeatureConfig, sample_rate: int) -> dict:
    nyquist = sample_rate / 2
    f_max = nyquist if cfg.f_max is None else cfg.f_max
    if f_max > nyquist:
        raise ConfigError(
            f"features.f_max={cfg.f_max!r} is above the Nyquist frequency of "
            f"sample_rate={sample_rate}; valid values are <= {nyquist}"
        )
    if cfg.f_min >= f_max:
        raise ConfigError(
            f"features.f_min={cfg.f_min!r} is not below f_max={f_max}; valid values are < {f_max}"
        )
    win_length = _samples(cfg.win_ms, sample_rate)
    return {
        "n_fft": win_length,
        "win_length": win_length,
        "hop_length": _samples(cfg.hop_ms, sample_rate),
        "n_mels": cfg.n_mels,
        "f_min": cfg.f_min,
        "f_max": f_max,
        "center": True,
    }


class FrameFeatures(torch.nn.Module):
    """Waveforms ``(batch, samples)`` → features ``(batch, time, n_features)``, float32.

    Wraps a torchaudio transform whose output is ``(batch, n_features, time)``.
    """

    def __init__(self, spectral: torch.nn.Module, log: bool) -> None:
        super().__init__()
        self.spectral = spectral
        self.log = log

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        feats = self.spectral(waves.to(torch.float32))
        if self.log:
            feats = torch.log(feats + LOG_OFFSET)
        return feats.transpose(-1, -2).contiguous()


def feature_transform(cfg: FeatureConfig, sample_rate: int) -> FrameFeatures:
    """Build the transform for ``cfg`` at ``sample_rate`` Hz.

    ``kind="mfcc"``: ``n_mfcc`` DCT-II (ortho) coefficients of ``log(mel power + 1e-6)``.
    ``kind="logmel"``: ``log(mel power + 1e-6)`` of ``n_mels`` bands.

    The MFCC takes the natural log of mel power (``log_mels=True``) rather than
    torchaudio's default decibels: the decibel path clips at 80 dB below the loudest
    value of the *whole batch*, so a clip's features would depend on its batch mates.

    Raises:
        ConfigError: ``f_max`` above Nyquist or ``f_min`` not below ``f_max``.
    """
    mel_kwargs = _mel_kwargs(cfg, sample_rate)
    if cfg.kind == "mfcc":
        mfcc = torchaudio.transforms.MFCC(
            sample_rate, n_mfcc=cfg.n_mfcc, log_mels=True, melkwargs=mel_kwargs
        )
        return FrameFeatures(mfcc, log=False)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, **mel_kwargs)
    return FrameFeatures(mel, log=True)


def num_frames(cfg: FeatureConfig, sample_rate: int, num_samples: int) -> int:
    """Frames produced for a clip of ``num_samples`` samples (centred framing)."""
    return 1 + num_samples // _samples(cfg.hop_ms, sample_rate)


def window_samples(cfg: FeatureConfig, sample_rate: int) -> int:
    """Samples in one analysis window; a shorter clip has no frame worth the name."""
    return _samples(cfg.win_ms, sample_rate)


def feature_statistics(
    features: torch.Tensor, eps: float = 1e-5, chunk_elements: int = 1 << 22
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and standard deviation over every clip and frame.

    Args:
        features: ``(N, time, F)`` of any float dtype (float16 from the cache is fine).
        eps: floor for the standard deviation, so constant features divide safely.
        chunk_elements: elements converted to float64 at a time (bounds memory).

    Returns:
        ``(mean, std)``, each float32 ``(F,)``; std is the population std (ddof=0).
        Pass statistics of the training fold only, then ``(x - mean) / std``.
    """
    n_features = features.shape[-1]
    flat = features.reshape(-1, n_features)
    if flat.shape[0] == 0:
        raise ValueError("feature_statistics needs at least one frame; got an empty tensor")
    rows = max(1, chunk_elements // n_features)
    chunks = [flat[i : i + rows] for i in range(0, flat.shape[0], rows)]
    # Two passes (mean, then squared deviations) avoid the cancellation of E[x²] - E[x]².
    total = sum(chunk.to(torch.float64).sum(dim=0) for chunk in chunks)
    mean = total / flat.shape[0]
    squares = sum(((chunk.to(torch.float64) - mean) ** 2).sum(dim=0) for chunk in chunks)
    std = (squares / flat.shape[0]).sqrt().clamp_min(eps)
    return mean.to(torch.float32), std.to(torch.float32)


def fold_statistics(
    features: torch.Tensor,
    rows: torch.Tensor | np.ndarray,
    lengths: torch.Tensor | None = None,
    eps: float = 1e-5,
    chunk_elements: int = 1 << 22,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std over the valid frames of ``features[rows]``, without copying it.

    Args:
        features: ``(N, time, F)`` of any float dtype (the float16 cache, memory-mapped).
        rows: clip indices of the fold, ``(n,)``.
        lengths: valid frames per clip ``(N,)``; frames past a clip's length are padding and
            left out. ``None``: every frame is valid.
        eps: floor for the standard deviation.
        chunk_elements: elements converted to float64 at a time (bounds memory; a fold of
            100k one-second clips is never materialised as one float32 copy).

    Returns:
        ``(mean, std)``, each float32 ``(F,)``, population std; with ``lengths=None``,
        :func:`feature_statistics` of ``features[rows]`` up to float64 rounding.
    """
    rows = torch.as_tensor(rows, dtype=torch.long)
    time, n_features = features.shape[1], features.shape[2]
    step = max(1, chunk_elements // max(1, time * n_features))
    chunks = [rows[i : i + step] for i in range(0, len(rows), step)]

    def valid(chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        block = features[chunk].to(torch.float64)
        if lengths is None:
            return block, torch.ones(1, 1, 1, dtype=torch.float64)
        mask = torch.arange(time) < lengths[chunk].unsqueeze(1)
        return block, mask.unsqueeze(-1).to(torch.float64)

    frames = len(rows) * time if lengths is None else int(lengths[rows].clamp(max=time).sum())
    if frames == 0:
        raise ValueError("fold_statistics needs at least one frame; got no rows or no frames")
    # Two passes (mean, then squared deviations) avoid the cancellation of E[x²] - E[x]².
    total = torch.zeros(n_features, dtype=torch.float64)
    for chunk in chunks:
        block, mask = valid(chunk)
        total += (block * mask).sum(dim=(0, 1))
    mean = total / frames
    squares = torch.zeros(n_features, dtype=torch.float64)
    for chunk in chunks:
        block, mask = valid(chunk)
        squares += (((block - mean) ** 2) * mask).sum(dim=(0, 1))
    std = (squares / frames).sqrt().clamp_min(eps)
    return mean.to(torch.float32), std.to(torch.float32)
