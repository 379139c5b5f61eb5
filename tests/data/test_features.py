"""Feature math: shapes, equivalence with torchaudio, and normalisation statistics."""

from __future__ import annotations

import pytest
import torch
import torchaudio

from rnnaudio.config import ConfigError, FeatureConfig
from rnnaudio.data.features import feature_statistics, feature_transform, num_frames


def chirps(batch: int, samples: int, sample_rate: int = 16000) -> torch.Tensor:
    t = torch.arange(samples) / sample_rate
    start = torch.linspace(200, 2000, batch)[:, None]
    return 0.3 * torch.sin(2 * torch.pi * (start * t + 1500 * t**2))


@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
def test_one_second_at_16k_gives_101_frames_of_40_features(kind):
    cfg = FeatureConfig(kind=kind)
    feats = feature_transform(cfg, 16000)(chirps(3, 16000))
    assert feats.shape == (3, 101, 40)
    assert feats.dtype == torch.float32
    assert torch.isfinite(feats).all()
    assert num_frames(cfg, 16000, 16000) == 101


@pytest.mark.parametrize(
    ("cfg", "sample_rate", "samples"),
    [
        (FeatureConfig(n_mfcc=13, n_mels=26), 16000, 8000),
        (FeatureConfig(kind="logmel", n_mels=64, win_ms=25, hop_ms=10), 8000, 12345),
        (FeatureConfig(kind="logmel", win_ms=40, hop_ms=20, f_max=7000), 22050, 22050),
    ],
)
def test_num_frames_and_width_match_the_transform(cfg, sample_rate, samples):
    feats = feature_transform(cfg, sample_rate)(chirps(2, samples, sample_rate))
    assert feats.shape == (2, num_frames(cfg, sample_rate, samples), cfg.n_features)


def reference_melkwargs() -> dict:
    # 30 ms / 10 ms at 16 kHz, written out by hand.
    return {"n_fft": 480, "win_length": 480, "hop_length": 160, "n_mels": 40, "f_min": 20.0}


def test_mfcc_equals_torchaudio_mfcc_of_log_mels():
    wave = chirps(1, 16000)
    ours = feature_transform(FeatureConfig(kind="mfcc"), 16000)(wave)
    ref = torchaudio.transforms.MFCC(16000, 40, log_mels=True, melkwargs=reference_melkwargs())
    torch.testing.assert_close(ours, ref(wave).transpose(1, 2))


def test_logmel_equals_log_of_torchaudio_mel_spectrogram():
    wave = chirps(1, 16000)
    ours = feature_transform(FeatureConfig(kind="logmel"), 16000)(wave)
    mel = torchaudio.transforms.MelSpectrogram(16000, **reference_melkwargs())
    torch.testing.assert_close(ours, torch.log(mel(wave) + 1e-6).transpose(1, 2))


@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
def test_a_clips_features_do_not_depend_on_its_batch(kind):
    waves = chirps(4, 16000)
    waves[0, :8000] = 0  # a silent half, the case where batch-wide dB clipping bites
    waves[3] *= 1000
    transform = feature_transform(FeatureConfig(kind=kind), 16000)
    torch.testing.assert_close(transform(waves)[0], transform(waves[:1])[0])


def test_frequencies_above_nyquist_are_rejected():
    with pytest.raises(ConfigError, match=r"features\.f_max=9000"):
        feature_transform(FeatureConfig(f_max=9000.0), 16000)


def test_f_min_must_be_below_f_max():
    with pytest.raises(ConfigError, match=r"features\.f_min=4000"):
        feature_transform(FeatureConfig(f_min=4000.0, f_max=3000.0), 16000)


def test_statistics_equal_a_float64_reference():
    torch.manual_seed(0)
    feats = (torch.randn(50, 101, 40) * torch.linspace(0.5, 30, 40) + 200).to(torch.float16)
    mean, std = feature_statistics(feats, chunk_elements=1000)
    flat = feats.to(torch.float64).reshape(-1, 40)
    torch.testing.assert_close(mean, flat.mean(0).float())
    torch.testing.assert_close(std, flat.std(0, correction=0).float())
    assert mean.shape == std.shape == (40,)


def test_chunking_does_not_change_the_statistics():
    feats = torch.randn(7, 13, 5)
    whole = feature_statistics(feats)
    chunked = feature_statistics(feats, chunk_elements=17)
    torch.testing.assert_close(whole, chunked, rtol=1e-6, atol=1e-6)


def test_constant_feature_std_is_floored():
    feats = torch.randn(10, 20, 3)
    feats[..., 1] = 4.0
    _, std = feature_statistics(feats, eps=1e-5)
    assert std[1] == pytest.approx(1e-5)
    assert torch.all(std > 0)


def test_normalising_with_training_fold_statistics_standardises_it():
    torch.manual_seed(1)
    feats = feature_transform(FeatureConfig(), 16000)(
        chirps(30, 16000) + 0.01 * torch.randn(30, 16000)
    )
    feats = feats.to(torch.float16)
    train = feats[:20]
    mean, std = feature_statistics(train)
    normalised = (train.float() - mean) / std
    flat = normalised.reshape(-1, 40)
    torch.testing.assert_close(flat.mean(0), torch.zeros(40), atol=1e-3, rtol=0)
    torch.testing.assert_close(flat.std(0, correction=0), torch.ones(40), atol=1e-3, rtol=0)


def test_empty_features_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        feature_statistics(torch.empty(0, 101, 40))


def test_fold_statistics_match_the_statistics_of_the_copied_rows():
    from rnnaudio.data.features import fold_statistics

    features = (torch.randn(50, 21, 6, generator=torch.Generator().manual_seed(0)) * 3 + 1).half()
    rows = torch.tensor([3, 7, 8, 20, 41, 49])
    mean, std = fold_statistics(features, rows, chunk_elements=21 * 6 * 4)  # several chunks
    want_mean, want_std = feature_statistics(features[rows])
    torch.testing.assert_close(mean, want_mean)
    torch.testing.assert_close(std, want_std)


def test_fold_statistics_leave_padding_out():
    from rnnaudio.data.features import fold_statistics

    features = torch.randn(4, 10, 3, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([10, 4, 7, 1])
    padded = features.clone()
    for i, n in enumerate(lengths):
        padded[i, n:] = 1e4  # whatever lies in the padding must not count
    mean, std = fold_statistics(padded, torch.arange(4), lengths, chunk_elements=30)
    valid = torch.cat([features[i, :n] for i, n in enumerate(lengths)])
    torch.testing.assert_close(mean, valid.double().mean(0).float())
    torch.testing.assert_close(std, valid.double().std(0, correction=0).float())


def test_window_samples_is_the_analysis_window():
    from rnnaudio.data.features import window_samples

    assert window_samples(FeatureConfig(), 16000) == 480
    assert window_samples(FeatureConfig(win_ms=25.0), 8000) == 200
