"""Feature-domain augmentation: what each transform does, only on training batches, seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaudio.config import AugmentConfig, ConfigError, DatasetConfig, FeatureConfig
from rnnaudio.data.augment import (
    FeatureAugment,
    build_augment,
    load_noise_bank,
    mix_noise,
    spec_masks,
    time_shift,
)
from rnnaudio.data.datamodule import FoldDataModule
from rnnaudio.data.features import feature_transform


def ramp(batch: int = 2, time: int = 6, features: int = 2) -> torch.Tensor:
    return torch.arange(batch * time * features, dtype=torch.float32).view(batch, time, features)


def test_time_shift_moves_frames_and_fills_with_silence():
    x = ramp()
    fill = torch.tensor([-1.0, -2.0])
    out = time_shift(x, torch.tensor([2, -1]), fill)
    assert torch.equal(out[0, 2:], x[0, :4]) and torch.equal(out[0, :2], fill.expand(2, 2))
    assert torch.equal(out[1, :5], x[1, 1:]) and torch.equal(out[1, 5], fill)


def test_time_shift_stays_inside_each_clip():
    x = ramp()
    out = time_shift(x, torch.tensor([1, 1]), torch.zeros(2), lengths=torch.tensor([6, 3]))
    assert torch.equal(out[1, 1:3], x[1, :2])  # the clip's own frames move
    assert torch.equal(out[1, 3:], x[1, 3:])  # padding is left alone


def test_noise_at_a_given_snr_adds_that_much_power():
    clip = torch.full((1, 4, 3), math.log(2.0))  # mel power 2 everywhere
    noise = torch.full((1, 4, 3), math.log(5.0))
    mixed = mix_noise(clip, noise, torch.tensor([0.0]))  # 0 dB: as much noise as signal
    torch.testing.assert_close(mixed, torch.full((1, 4, 3), math.log(4.0)))
    quiet = mix_noise(clip, noise, torch.tensor([60.0]))
    torch.testing.assert_close(quiet, clip, atol=1e-5, rtol=0)


def test_noise_power_is_measured_and_added_on_valid_frames_only():
    clip = torch.full((1, 4, 1), math.log(2.0))
    clip[0, 2:] = 50.0  # padding: huge values that must not count
    noise = torch.zeros(1, 4, 1)
    mixed = mix_noise(clip, noise, torch.tensor([0.0]), lengths=torch.tensor([2]))
    torch.testing.assert_close(mixed[0, :2], torch.full((2, 1), math.log(4.0)))
    assert torch.equal(mixed[0, 2:], clip[0, 2:])


def test_spec_masks_fill_with_the_clip_mean_and_follow_the_seed():
    x = torch.randn(8, 50, 20, generator=torch.Generator().manual_seed(0))
    out = spec_masks(x, time_width=10, freq_width=5, count=2, seed=3)
    changed = out != x
    assert changed.any()
    mean = x.mean(dim=1, keepdim=True).expand_as(x)
    assert torch.equal(out[changed], mean[changed])
    assert torch.equal(out, spec_masks(x, 10, 5, 2, seed=3))
    assert not torch.equal(out, spec_masks(x, 10, 5, 2, seed=4))


def test_spec_masks_leave_the_global_generator_alone():
    x = torch.ones(2, 10, 4)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    spec_masks(x, 3, 2, 1, seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_noise_on_features_equals_noise_on_log_mel(kind):
    # With as many coefficients as mel bands the DCT is invertible: mixing MFCC must equal
    # mixing log-mel energies and taking the DCT.
    features = FeatureConfig(kind=kind, n_mfcc=40, n_mels=40)
    t = torch.arange(16000) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * 440 * t)[None]
    noise_wave = 0.1 * torch.randn(1, 32000, generator=torch.Generator().manual_seed(0))
    logmel_cfg = FeatureConfig(kind="logmel", n_mels=40)
    clip_logmel = feature_transform(logmel_cfg, 16000)(wave)
    noise_logmel = feature_transform(logmel_cfg, 16000)(noise_wave)[0]
    cfg = AugmentConfig(noise_snr_db=[5.0, 5.0], noise_prob=1.0)
    augment = FeatureAugment(cfg, features, 16000, [noise_logmel])
    x = feature_transform(features, 16000)(wave)
    out = augment(x, None, torch.Generator().manual_seed(0))
    # Which segment was drawn: replay the generator's draws.
    g = torch.Generator().manual_seed(0)
    torch.rand(1, generator=g), torch.rand(1, generator=g), torch.randint(1, (1,), generator=g)
    start = int(float(torch.rand(1, generator=g)) * (noise_logmel.size(0) - x.size(1) + 1))
    segment = noise_logmel[start : start + x.size(1)][None]
    expected = mix_noise(clip_logmel, segment, torch.tensor([5.0]))
    if kind == "mfcc":
        expected = expected @ augment.dct
    torch.testing.assert_close(out, expected, atol=2e-3, rtol=1e-4)


def test_time_shift_fills_with_the_features_of_silence():
    features = FeatureConfig()
    augment = FeatureAugment(AugmentConfig(time_shift_ms=30.0), features, 16000)
    assert augment.max_shift == 3
    silence = feature_transform(features, 16000)(torch.zeros(1, 16000))[0, 50]
    torch.testing.assert_close(augment.silence, silence)


def test_everything_off_builds_nothing(tmp_path):
    dataset = DatasetConfig(root=str(tmp_path))
    assert build_augment(AugmentConfig(), dataset, FeatureConfig()) is None
    assert build_augment(AugmentConfig(time_shift_ms=2.0), dataset, FeatureConfig()) is None


def test_noise_needs_a_noise_folder(tmp_path):
    dataset = DatasetConfig(name="esc50", root=str(tmp_path), task="all")
    with pytest.raises(ConfigError) as caught:
        build_augment(AugmentConfig(noise_snr_db=[0.0, 20.0]), dataset, FeatureConfig())
    message = str(caught.value)
    assert message.startswith("augment.noise_snr_db=[0.0, 20.0] needs noise files and ")
    assert "_background_noise_ is not a folder; give augment.noise_dir=" in message


def test_noise_bank_reads_the_corpus_background_noise_and_skips_bad_files(tmp_path):
    from miniature import plant

    noise = tmp_path / "_background_noise_"
    noise.mkdir()
    sf.write(noise / "hum.wav", 0.1 * np.ones(24000, dtype=np.float32), 8000)
    plant(noise / "broken.wav", "not_audio")
    (noise / "README.md").write_text("noise")
    bank = load_noise_bank(noise, FeatureConfig(), 16000)
    assert len(bank) == 1 and bank[0].shape == (301, 40)
    dataset = DatasetConfig(root=str(tmp_path))
    augment = build_augment(AugmentConfig(noise_snr_db=[0.0, 10.0]), dataset, FeatureConfig())
    # The corpus's own noise: its first 80 %, the part training _silence_ clips come from.
    assert augment is not None and len(augment.noise) == 1
    assert augment.noise[0].shape == load_noise_bank(noise, FeatureConfig(), 16000,
                                                     (0.0, 0.8))[0].shape == (241, 40)
    given = build_augment(AugmentConfig(noise_snr_db=[0.0, 10.0], noise_dir=str(noise)),
                          dataset, FeatureConfig())
    assert given.noise[0].shape == (301, 40)  # a folder of the user's: all of each file


def fold(augment, lengths=None, seed=0):
    x = torch.randn(20, 30, 8, generator=torch.Generator().manual_seed(9)).half()
    labels = torch.arange(20) % 4
    rows = np.arange(20)
    return FoldDataModule(x, labels, rows[:12], rows[12:], 4, seed, lengths=lengths,
                          augment=augment), x


def batches(loader):
    return [batch[0] for batch in loader]


def test_augmentation_touches_training_batches_only_and_follows_the_seed():
    cfg = AugmentConfig(spec_time_mask=5, spec_freq_mask=2, time_shift_ms=20.0)
    augment = FeatureAugment(cfg, FeatureConfig(n_mfcc=8, n_mels=8), 16000)
    plain, _ = fold(None)
    augmented, _ = fold(augment)
    assert all(torch.equal(a, b) for a, b in zip(batches(plain.val_dataloader()),
                                                 batches(augmented.val_dataloader()), strict=True))
    train = batches(augmented.train_dataloader())
    assert any(not torch.equal(a, b) for a, b in zip(batches(plain.train_dataloader()), train,
                                                     strict=True))
    again = batches(fold(augment)[0].train_dataloader())
    assert all(torch.equal(a, b) for a, b in zip(train, again, strict=True))
    other = batches(fold(augment, seed=1)[0].train_dataloader())
    assert any(not torch.equal(a, b) for a, b in zip(train, other, strict=True))
