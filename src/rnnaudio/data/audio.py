"""Decoding clips to mono waveforms, and telling a bad file from a good one.

Decoding goes through soundfile (libsndfile bundled in the wheel): torchaudio's own
``load`` needs torchcodec and FFmpeg, which these machines do not have.

Every failure is an :class:`AudioDecodeError` whose ``reason`` is one of
:data:`BAD_REASONS`, so a corpus with bad files can skip and count them by reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from rnnaudio.config import ConfigError

# Why a file (or a clip cut from it) was skipped.
BAD_REASONS = (
    "missing",  # listed, but no such file
    "empty",  # zero bytes, or no audio frames
    "not_audio",  # no audio container signature: a text or other file with an audio extension
    "corrupt",  # looks like an audio container, but libsndfile cannot read it
    "truncated",  # the RIFF header promises more bytes than the file holds
    "non_finite",  # NaN or infinite samples
    "too_short",  # fewer samples than one analysis window at the feature rate
)

# First bytes of the containers libsndfile reads (WAV/RF64/W64, FLAC, Ogg, AIFF, AU, CAF, NIST).
_AUDIO_SIGNATURES = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"riff", b"fLaC", b"OggS", b"FORM",
                     b".snd", b"caff", b"NIST", b"ID3")


class AudioDecodeError(ConfigError):
    """A file that cannot be used as audio; the message names the file in one line.

    ``reason`` is one of :data:`BAD_REASONS`; ``detail`` is the message without the path.
    """

    def __init__(self, path: str | Path, detail: str, reason: str = "corrupt") -> None:
        super().__init__(f"cannot use audio file {path}: {detail}")
        self.path = str(path)
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: native rate in Hz and length in samples (per channel)."""

    sample_rate: int
    frames: int


def _signature(path: str | Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(12)


def _open_error(path: str | Path, err: Exception) -> AudioDecodeError:
    """Classify a libsndfile failure: a missing, empty, foreign or damaged file."""
    # libsndfile repeats the path ("Error opening '<path>': ..."); the error names it once.
    detail = " ".join(str(err).replace(f"Error opening {str(path)!r}: ", "").split())
    if not os.path.exists(path):
        return AudioDecodeError(path, "no such file", "missing")
    try:
        head = _signature(path)
    except OSError:
        return AudioDecodeError(path, detail, "corrupt")
    if not head:
        return AudioDecodeError(path, "the file is empty", "empty")
    reason = "corrupt" if head.startswith(_AUDIO_SIGNATURES) else "not_audio"
    return AudioDecodeError(path, detail, reason)


def _riff_shortfall(head: bytes, size: int) -> int:
    """Bytes a RIFF/WAVE file lacks against its own header (0 when whole or unknown).

    libsndfile silently shortens a WAV cut off mid-data, so only the header tells.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    declared = int.from_bytes(head[4:8], "little")
    if declared in (0, 0xFFFFFFFF):  # streaming writers leave the size unset
        return 0
    # One byte of slack: some writers count the pad byte of an odd-sized chunk they omit.
    return max(0, declared + 8 - size - 1)


def probe_audio(path: str | Path) -> AudioInfo:
    """Read only the header of ``path``; raises :class:`AudioDecodeError` with a reason.

    Catches missing, empty, non-audio, unreadable and truncated WAV files without decoding.
    """
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise AudioDecodeError(path, "no such file", "missing") from err
    if size == 0:
        raise AudioDecodeError(path, "the file is empty", "empty")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, OSError, RuntimeError, ValueError) as err:
        raise _open_error(path, err) from err
    shortfall = _riff_shortfall(_signature(path), size)
    if shortfall:
        raise AudioDecodeError(path, f"{shortfall} bytes short of its RIFF header", "truncated")
    if info.frames <= 0:
        raise AudioDecodeError(path, "no samples", "empty")
    return AudioInfo(int(info.samplerate), int(info.frames))


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
        raise _open_error(path, err) from err
    # numpy, not torch, for the per-clip work: torch's threaded reductions cost milliseconds
    # per short clip on a busy two-core machine, numpy's single-threaded ones microseconds.
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(mono)), int(sample_rate)


def check_wave(wave: torch.Tensor, path: str | Path, min_samples: int, sample_rate: int) -> None:
    """Raise :class:`AudioDecodeError` for a clip ``(samples,)`` that no feature can describe.

    ``min_samples`` is one analysis window at ``sample_rate`` Hz.
    """
    finite = np.isfinite(wave.detach().cpu().numpy())
    if not finite.all():
        bad = int((~finite).sum())
        raise AudioDecodeError(path, f"{bad} NaN or infinite samples", "non_finite")
    if wave.shape[-1] < min_samples:
        raise AudioDecodeError(path, too_short_detail(wave.shape[-1], min_samples, sample_rate),
                               "too_short")


def too_short_detail(samples: int, min_samples: int, sample_rate: int) -> str:
    ms, window_ms = 1000 * samples / sample_rate, 1000 * min_samples / sample_rate
    return f"lasts {ms:.1f} ms, less than one {window_ms:.1f} ms analysis window"


def resampled_length(samples: int, orig_freq: int, new_freq: int) -> int:
    """Samples after :func:`resample` of ``samples`` from ``orig_freq`` to ``new_freq`` Hz."""
    return samples if orig_freq == new_freq else math.ceil(samples * new_freq / orig_freq)


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
