"""Decoding: real WAV files of several rates and channel counts, written with soundfile."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaudio.config import ConfigError
from rnnaudio.data.audio import AudioDecodeError, fit_length, load_clip, read_clip


def sine(freq: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    return float(spectrum.argmax()) * sample_rate / len(wave)


def test_read_clip_returns_float32_mono_and_native_rate(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, sine(440, 8000, 0.5), 8000, subtype="PCM_16")
    wave, rate = read_clip(path)
    assert rate == 8000
    assert wave.dtype == torch.float32
    assert wave.shape == (4000,)
    assert peak_hz(wave, rate) == pytest.approx(440, abs=2)


def test_stereo_is_downmixed_by_channel_mean(tmp_path):
    left, right = sine(300, 16000, 0.25), sine(1000, 16000, 0.25, amplitude=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    wave, _ = read_clip(path)
    torch.testing.assert_close(wave, torch.from_numpy((left + right) / 2))


def test_start_and_frames_select_a_span_at_native_rate(tmp_path):
    ramp = np.arange(1000, dtype=np.float32) / 1000
    path = tmp_path / "ramp.wav"
    sf.write(path, ramp, 8000, subtype="FLOAT")
    wave, _ = read_clip(path, start=100, frames=50)
    torch.testing.assert_close(wave, torch.from_numpy(ramp[100:150]))
    tail, _ = read_clip(path, start=900)
    assert tail.shape == (100,)


@pytest.mark.parametrize("native_rate", [8000, 44100])
def test_load_clip_resamples_to_target_rate_keeping_frequency(tmp_path, native_rate):
    path = tmp_path / f"sine_{native_rate}.wav"
    sf.write(path, sine(1000, native_rate, 1.0), native_rate, subtype="PCM_16")
    wave = load_clip(path, 0, -1, sample_rate=16000, num_samples=16000)
    assert wave.shape == (16000,)
    assert wave.dtype == torch.float32
    assert peak_hz(wave, 16000) == pytest.approx(1000, abs=2)
    # Amplitude survives resampling (away from the filter's edge effects).
    assert wave[2000:14000].abs().max() == pytest.approx(0.5, abs=0.02)


def test_load_clip_offsets_count_native_samples(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, sine(500, 44100, 2.0), 44100)
    wave = load_clip(path, start=44100, frames=22050, sample_rate=16000, num_samples=16000)
    # Half a second at 44.1 kHz becomes 8000 samples at 16 kHz, then zero padding.
    assert wave[:7900].abs().max() > 0.4
    assert torch.all(wave[8000:] == 0)


def test_fit_length_pads_zeros_at_the_end():
    wave = torch.arange(1, 6, dtype=torch.float32)
    padded = fit_length(wave, 8)
    assert padded.tolist() == [1, 2, 3, 4, 5, 0, 0, 0]


def test_fit_length_trims_the_end():
    wave = torch.arange(10, dtype=torch.float32)
    assert fit_length(wave, 4).tolist() == [0, 1, 2, 3]
    assert torch.equal(fit_length(wave, 10), wave)


def test_fit_length_works_on_batches():
    assert fit_length(torch.ones(3, 7), 9).shape == (3, 9)
    assert fit_length(torch.ones(3, 7), 2).shape == (3, 2)


def test_empty_span_becomes_silence(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, sine(440, 44100, 0.1), 44100)
    wave = load_clip(path, start=10**6, frames=-1, sample_rate=16000, num_samples=160)
    assert torch.equal(wave, torch.zeros(160))


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 40])
def test_undecodable_file_raises_one_line_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError) as caught:
        read_clip(path)
    assert isinstance(caught.value, ConfigError)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_raises_decode_error(tmp_path):
    with pytest.raises(AudioDecodeError, match=r"nowhere\.wav"):
        load_clip(tmp_path / "nowhere.wav", 0, -1, 16000, 16000)
