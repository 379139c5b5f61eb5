"""Decoding clips to fixed-length mono waveforms.

Decoding goes through soundfile (libsndfile bundled in the wheel): torchaudio's own
``load`` needs torchcodec and FFmpeg, which these machines do not have.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import soundfile as sf
import torch
import torchaudio

from rnnaudio.config import ConfigError


class AudioDecodeError(ConfigError):
    """A file that cannot be decoded as audio; the message names the file in one line."""


def read_clip(path: str | Path, start: int = 0, frames: int = -1) -> tuple[torch.Tensor, int]:
    """Read part of an audio file as a mono waveform at its native rate.

    Args:
        path: audio file (WAV, FLAC, OGG, ... anything libsndfile reads).
        start: first sample to read, in samples at the native rate.
        frames: number of samples to read at the native rate; ``-1`` reads to the end.

    Returns:
        ``(wave, sample_rate)``: float32 ``(samples,)`` in [-1, 1], channels averaged,
        and the native sample rate in Hz.

    Raises:
        AudioDecodeError: the file is missing, unreadable or not audio.
    """
    try:
        data, sample_rate = sf.read(
            str(path), start=start, frames=frames, dtype="float32", always_2d=True
        )
    except (sf.SoundFileError, OSError, RuntimeError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise AudioDecodeError(f"cannot decode audio file {path}: {reason}") from err
    return torch.from_numpy(data).mean(dim=1), int(sample_rate)


def fit_length(wave: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Zero-pad or trim the end of ``wave`` ``(..., samples)`` to ``(..., num_samples)``.

    End padding and end trimming follow the Speech Commands convention: clips are
    at most one second and start at the word onset, so the tail is what varies.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples={num_samples} must be >= 0")
    missing = num_samples - wave.shape[-1]
    if missing > 0:
        return torch.nn.functional.pad(wave, (0, missing))
    return wave[..., :num_samples]


@lru_cache(maxsize=16)
def _resampler(orig_freq: int, new_freq: int) -> torchaudio.transforms.Resample:
    # The windowed-sinc kernel costs more to build than to apply to one short clip,
    # so a corpus with a few native rates builds each kernel once.
    return torchaudio.transforms.Resample(orig_freq, new_freq)


def resample(wave: torch.Tensor, orig_freq: int, new_freq: int) -> torch.Tensor:
    """Resample ``wave`` ``(..., samples)`` from ``orig_freq`` to ``new_freq`` Hz.

    Output length is ``ceil(samples * new_freq / orig_freq)``.
    """
    if orig_freq == new_freq:
        return wave
    if wave.shape[-1] == 0:
        # torchaudio cannot reshape an empty signal; an empty clip stays empty.
        return wave
    with torch.no_grad():
        return _resampler(orig_freq, new_freq)(wave)


def load_clip(
    path: str | Path, start: int, frames: int, sample_rate: int, num_samples: int
) -> torch.Tensor:
    """Read a clip, resample it to ``sample_rate`` Hz and fit it to ``num_samples``.

    ``start`` and ``frames`` count samples at the file's native rate (as the
    manifest stores them). Returns float32 ``(num_samples,)``.

    Raises:
        AudioDecodeError: the file cannot be decoded.
    """
    wave, native_rate = read_clip(path, start, frames)
    return fit_length(resample(wave, native_rate, sample_rate), num_samples)
