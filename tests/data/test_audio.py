"""Decoding: real WAV files of several rates and channel counts, written with soundfile."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaudio.config import ConfigError
from rnnaudio.data.audio import (
    AudioDecodeError,
    check_wave,
    fit_length,
    load_clip,
    probe_audio,
    read_clip,
)


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


# --- telling bad files apart ---------------------------------------------------------------


@pytest.mark.parametrize("reason", ["corrupt", "truncated", "empty", "not_audio"])
def test_probe_names_the_reason_from_the_header_alone(tmp_path, reason):
    from miniature import plant

    path = plant(tmp_path / f"{reason}.wav", reason)
    with pytest.raises(AudioDecodeError) as caught:
        probe_audio(path)
    assert caught.value.reason == reason
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_probe_of_a_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError) as caught:
        probe_audio(tmp_path / "absent.flac")
    assert caught.value.reason == "missing"


def test_probe_of_a_wav_with_no_frames_is_empty(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioDecodeError) as caught:
        probe_audio(path)
    assert caught.value.reason == "empty"


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_24"), ("FLAC", "PCM_16"),
                                              ("OGG", "VORBIS")])
def test_probe_reads_rate_and_length_of_good_files(tmp_path, fmt, subtype):
    path = tmp_path / f"good.{fmt.lower()}"
    sf.write(path, sine(300, 22050, 0.5), 22050, format=fmt, subtype=subtype)
    info = probe_audio(path)
    assert info.sample_rate == 22050 and info.frames == 11025


def test_a_wav_with_an_odd_data_chunk_and_no_pad_byte_is_not_truncated(tmp_path):
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(1001, dtype=np.float32), 8000, subtype="PCM_U8")
    data = path.read_bytes()
    if len(data) % 2 == 0:  # libsndfile wrote the pad byte: drop it, as some writers do
        path.write_bytes(data[:-1])
    assert probe_audio(path).frames >= 1000


def test_check_wave_rejects_nan_and_clips_shorter_than_a_window():
    with pytest.raises(AudioDecodeError) as caught:
        check_wave(torch.tensor([0.0, float("nan"), float("inf")]), "x.wav", 0, 16000)
    assert caught.value.reason == "non_finite" and "2 NaN or infinite" in str(caught.value)
    with pytest.raises(AudioDecodeError) as caught:
        check_wave(torch.zeros(100), "y.wav", 480, 16000)
    assert caught.value.reason == "too_short"
    assert "6.2 ms, less than one 30.0 ms analysis window" in str(caught.value)
    check_wave(torch.zeros(480), "z.wav", 480, 16000)
