"""Augmentation of training batches, in the feature domain: time shift, noise, SpecAugment.

Features come from the cache, so augmentation works on features, not waveforms; each
transform is the feature-domain twin of its waveform version:

* **time shift**: frames move by up to ``augment.time_shift_ms`` either way; the frames
  uncovered are the features of silence (what a shifted, zero-padded waveform gives).
* **background noise**: noise files are featurised once as log-mel energies; a random
  segment is added to each clip *in the mel power domain* at an SNR drawn from
  ``augment.noise_snr_db``. Adding powers assumes clip and noise are uncorrelated, which is
  the expectation of the waveform sum's power. Log-mel features mix exactly (up to that
  assumption). MFCC are the orthonormal DCT of log-mel; with fewer coefficients than mel
  bands the log-mel is recovered only as its smooth envelope, so the *change* the noise
  makes is computed on that envelope and added back to the MFCC (no noise, no change).
* **SpecAugment** (Park et al. 2019): time and frequency masks drawn by torchaudio's
  ``TimeMasking``/``FrequencyMasking``; masked cells take the clip's own per-feature mean
  (the cache holds raw features, so 0 would be a loud value, not the mean).

Only frames inside a clip's length are changed. Every draw comes from the generator the
caller passes, so a seed fixes the augmented batches.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import torch
import torchaudio

from rnnaudio.config import AugmentConfig, ConfigError, DatasetConfig, FeatureConfig
from rnnaudio.data.audio import AudioDecodeError, check_wave, read_clip, resample
from rnnaudio.data.corpora.manifest import AUDIO_EXTENSIONS
from rnnaudio.data.corpora.speech_commands import NOISE_PARTS
from rnnaudio.data.features import feature_transform, window_samples

log = logging.getLogger(__name__)


def _valid_mask(lengths: torch.Tensor | None, batch: int, time: int) -> torch.Tensor:
    """Boolean ``(batch, time, 1)``: True on frames inside each clip."""
    if lengths is None:
        return torch.ones(batch, time, 1, dtype=torch.bool)
    return (torch.arange(time) < lengths.unsqueeze(1)).unsqueeze(-1)


def time_shift(
    features: torch.Tensor, shifts: torch.Tensor, fill: torch.Tensor,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Move each clip ``(B, T, F)`` by ``shifts`` ``(B,)`` frames (positive: later).

    Frames shifted in from outside the clip become ``fill`` ``(F,)``; padding past a clip's
    length stays as it was.
    """
    batch, time, n_features = features.shape
    limit = torch.full((batch,), time) if lengths is None else lengths
    steps = torch.arange(time).unsqueeze(0)
    source = steps - shifts.unsqueeze(1)
    inside = steps < limit.unsqueeze(1)
    take = inside & (source >= 0) & (source < limit.unsqueeze(1))
    index = source.clamp(0, time - 1).unsqueeze(-1).expand(batch, time, n_features)
    moved = torch.where(take.unsqueeze(-1), features.gather(1, index), fill.to(features.dtype))
    return torch.where(inside.unsqueeze(-1), moved, features)


def mix_noise(
    logmel: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Log-mel of clip + noise at ``snr_db`` ``(B,)`` dB; ``logmel``, ``noise`` ``(B, T, M)``.

    The SNR compares mean mel power over each clip's valid frames; frames past a clip's
    length are returned unchanged.
    """
    mask = _valid_mask(lengths, logmel.size(0), logmel.size(1)).to(logmel.dtype)
    frames = mask.sum(dim=(1, 2)).clamp_min(1) * logmel.size(2)
    clip_power = (logmel.exp() * mask).sum(dim=(1, 2)) / frames
    noise_power = (noise.exp() * mask).sum(dim=(1, 2)) / frames
    gain = clip_power / (noise_power * 10 ** (snr_db / 10))
    mixed = torch.logaddexp(logmel, noise + gain.log().view(-1, 1, 1))
    return torch.where(mask.bool(), mixed, logmel)


def spec_masks(
    features: torch.Tensor, time_width: int, freq_width: int, count: int, seed: int,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """SpecAugment masks on ``(B, T, F)``: ``count`` time and ``count`` frequency masks per
    clip, of widths up to ``time_width`` frames and ``freq_width`` features; masked cells
    take the clip's per-feature mean over its valid frames."""
    batch, time, n_features = features.shape
    keep = torch.ones(batch, n_features, time)
    # torchaudio draws from the global generator: fork it so a seed of ours decides, and
    # the draws of dropout and the sampler stay as they would be without augmentation.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(count):
            if time_width:
                keep = torchaudio.transforms.TimeMasking(time_width, iid_masks=True)(keep)
            if freq_width:
                keep = torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)(keep)
    mask = _valid_mask(lengths, batch, time).to(features.dtype)
    mean = (features * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp_min(1)
    return torch.where(keep.transpose(1, 2) > 0.5, features, mean)


class FeatureAugment:
    """Training-batch augmentation: raw features ``(B, T, F)`` in, same shape out.

    Args:
        cfg: which transforms, and how strong.
        features: the feature config the cache was built with.
        sample_rate: the feature rate in Hz.
        noise: log-mel energies ``(T_i, n_mels)`` of each noise file (see
            :func:`load_noise_bank`); required when ``cfg.noise_snr_db`` is set.
    """

    def __init__(
        self, cfg: AugmentConfig, features: FeatureConfig, sample_rate: int,
        noise: list[torch.Tensor] | None = None,
    ) -> None:
        if cfg.noise_snr_db is not None and not noise:
            raise ValueError("augment.noise_snr_db is set but no noise features were given")
        self.cfg = cfg
        self.max_shift = round(cfg.time_shift_ms / features.hop_ms)
        silence = torch.zeros(1, window_samples(features, sample_rate))
        self.silence = feature_transform(features, sample_rate)(silence)[0, 0]
        # (n_mels, n_mfcc): mfcc = logmel @ dct; its transpose maps back (orthonormal rows).
        self.dct = (
            torchaudio.functional.create_dct(features.n_mfcc, features.n_mels, "ortho")
            if features.kind == "mfcc" else None
        )
        self.noise = noise or []

    @property
    def enabled(self) -> bool:
        """False when every transform is off (a shift under half a frame counts as off)."""
        cfg = self.cfg
        return bool(self.max_shift or self.noise or cfg.spec_time_mask or cfg.spec_freq_mask)

    def __call__(
        self, features: torch.Tensor, lengths: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        batch = features.size(0)
        if self.max_shift:
            shifts = torch.randint(-self.max_shift, self.max_shift + 1, (batch,),
                                   generator=generator)
            features = time_shift(features, shifts, self.silence, lengths)
        if self.cfg.noise_snr_db is not None:
            features = self._add_noise(features, lengths, generator)
        if self.cfg.spec_time_mask or self.cfg.spec_freq_mask:
            seed = int(torch.randint(2**62, (1,), generator=generator))
            features = spec_masks(features, self.cfg.spec_time_mask, self.cfg.spec_freq_mask,
                                  self.cfg.spec_masks, seed, lengths)
        return features

    def _add_noise(
        self, features: torch.Tensor, lengths: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        batch, time, _ = features.shape
        low, high = self.cfg.noise_snr_db  # type: ignore[misc]
        chosen = torch.rand(batch, generator=generator) < self.cfg.noise_prob
        snr_db = low + (high - low) * torch.rand(batch, generator=generator)
        picks = torch.randint(len(self.noise), (batch,), generator=generator)
        starts = torch.rand(batch, generator=generator)
        segments = torch.stack([
            _segment(self.noise[int(pick)], time, float(start))
            for pick, start in zip(picks, starts, strict=True)
        ])
        logmel = features if self.dct is None else features @ self.dct.T
        mixed = mix_noise(logmel, segments, snr_db, lengths)
        noisy = mixed if self.dct is None else features + (mixed - logmel) @ self.dct
        return torch.where(chosen.view(-1, 1, 1), noisy, features)


def _segment(noise: torch.Tensor, time: int, position: float) -> torch.Tensor:
    """``time`` frames of ``noise`` ``(T_i, M)`` from a relative ``position`` in [0, 1),
    tiled when the noise is shorter than the clip."""
    if noise.size(0) < time:
        noise = noise.repeat(math.ceil(time / noise.size(0)), 1)
    start = int(position * (noise.size(0) - time + 1))
    return noise[start : start + time]


def load_noise_bank(
    folder: Path, features: FeatureConfig, sample_rate: int,
    part: tuple[float, float] = (0.0, 1.0),
) -> list[torch.Tensor]:
    """Log-mel energies ``(T_i, n_mels)`` (float32) of every audio file in ``folder``, or of
    the ``part`` of each (fractions of its length).

    Unreadable or too-short noise files are skipped with a warning.
    Raises :class:`ConfigError` when none is usable.
    """
    logmel = feature_transform(dataclasses.replace(features, kind="logmel"), sample_rate)
    min_samples = window_samples(features, sample_rate)
    bank = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        try:
            wave, rate = read_clip(path)
            check_wave(wave, path, 0, rate)
            wave = wave[round(part[0] * len(wave)):round(part[1] * len(wave))]
            wave = resample(wave, rate, sample_rate)
            check_wave(wave, path, min_samples, sample_rate)
        except AudioDecodeError as err:
            log.warning("skipping noise file: %s", err)
            continue
        with torch.no_grad():
            bank.append(logmel(wave.unsqueeze(0))[0])
    if not bank:
        raise ConfigError(f"augment.noise_dir: {folder} holds no usable .wav/.flac/.ogg file")
    return bank


def build_augment(
    cfg: AugmentConfig, dataset: DatasetConfig, features: FeatureConfig
) -> FeatureAugment | None:
    """The training augmentation ``cfg`` asks for, or None when everything is off.

    Noise comes from ``augment.noise_dir``, else from the training part of the corpus's own
    ``<root>/_background_noise_/`` (Speech Commands and the embedded corpus have one): the
    rest is where the validation and test ``_silence_`` clips are cut.
    """
    noise = None
    if cfg.noise_snr_db is not None:
        cfg.check_noise_folder(dataset)
        part = (0.0, 1.0) if cfg.noise_dir else NOISE_PARTS["train"]
        noise = load_noise_bank(cfg.noise_folder(dataset), features, dataset.sample_rate, part)
    augment = FeatureAugment(cfg, features, dataset.sample_rate, noise)
    return augment if augment.enabled else None
