"""The feature cache against real WAV files on disk and real concurrent processes."""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from rnnaudio.config import ConfigError, FeatureConfig
from rnnaudio.data.audio import load_clip
from rnnaudio.data.cache import FeatureCache, cache_key
from rnnaudio.data.data_report import TooManyBadFilesError
from rnnaudio.data.features import feature_transform
from unprivileged import config_error_of, skip_unless_modes_count

RATE = 16000
SAMPLES = 16000


def write_corpus(root: Path, clips: int = 6) -> pd.DataFrame:
    """Sines, noise and chirps at 8/16/44.1 kHz, mono and stereo, as a manifest."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(clips):
        rate = (8000, 16000, 44100)[i % 3]
        t = np.arange(round(rate * (0.6 + 0.2 * (i % 4)))) / rate
        kinds = [
            0.4 * np.sin(2 * np.pi * (200 + 150 * i) * t),
            0.1 * rng.standard_normal(len(t)),
            0.3 * np.sin(2 * np.pi * (300 * t + 800 * t**2)),
        ]
        wave = kinds[i % 3].astype(np.float32)
        if i % 2:
            wave = np.stack([wave, 0.5 * wave], axis=1)
        path = root / f"clip{i}.wav"
        sf.write(path, wave, rate)
        rows.append({"path": str(path), "label": "abc"[i % 3], "speaker": f"s{i % 4}"})
    manifest = pd.DataFrame(rows)
    manifest["split"] = "train"
    manifest["start"] = 0
    manifest["frames"] = -1
    manifest.attrs["classes"] = ["a", "b", "c"]
    return manifest


@pytest.fixture
def manifest(tmp_path) -> pd.DataFrame:
    audio = tmp_path / "audio"
    audio.mkdir()
    return write_corpus(audio)


@pytest.fixture
def cache(tmp_path) -> FeatureCache:
    return FeatureCache(tmp_path / "cache")


def compute(cache: FeatureCache, manifest: pd.DataFrame, cfg=None) -> torch.Tensor:
    return cache.load_or_compute(manifest, cfg or FeatureConfig(), RATE, SAMPLES, progress=False)


def key(manifest: pd.DataFrame, cfg=None) -> str:
    return cache_key(manifest, cfg or FeatureConfig(), RATE, SAMPLES)


def test_miss_computes_float16_features_in_manifest_order(cache, manifest):
    feats = compute(cache, manifest)
    assert cache.last_hit is False
    assert feats.shape == (len(manifest), 101, 40)
    assert feats.dtype == torch.float16
    transform = feature_transform(FeatureConfig(), RATE)
    for i in (0, 4):
        row = manifest.iloc[i]
        wave = load_clip(row.path, row.start, row.frames, RATE, SAMPLES)
        expected = transform(wave[None])[0].to(torch.float16)
        torch.testing.assert_close(feats[i], expected)


def test_second_call_is_a_hit_that_does_not_decode(cache, manifest):
    first = compute(cache, manifest)
    # Overwrite a file with garbage of the same size and timestamps: only a call that
    # decodes could notice.
    path = Path(manifest.path[0])
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = compute(cache, manifest)
    assert cache.last_hit is True
    assert torch.equal(first, second)


def test_a_fresh_cache_object_hits_the_stored_file(cache, manifest, tmp_path):
    first = compute(cache, manifest)
    other = FeatureCache(tmp_path / "cache")
    assert torch.equal(compute(other, manifest), first)
    assert other.last_hit is True


def test_hit_and_miss_are_logged_with_the_path(cache, manifest, caplog):
    caplog.set_level("INFO", logger="rnnaudio.data.cache")
    compute(cache, manifest)
    compute(cache, manifest)
    path = str(cache.path_for(key(manifest)))
    messages = [r.getMessage() for r in caplog.records]
    assert any("miss" in m and path in m for m in messages)
    assert any("hit" in m and path in m for m in messages)


def test_key_changes_when_a_file_is_touched(manifest):
    before = key(manifest)
    path = Path(manifest.path[2])
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime + 1_000_000, mtime + 1_000_000))
    assert key(manifest) != before


def test_key_changes_when_a_file_is_rewritten(cache, manifest):
    first = compute(cache, manifest)
    before = key(manifest)
    path = Path(manifest.path[1])
    stat = path.stat()
    sf.write(path, np.zeros(8000, dtype=np.float32), 16000)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a new size alone must count
    assert key(manifest) != before
    second = compute(cache, manifest)
    assert cache.last_hit is False
    assert not torch.equal(first[1], second[1])
    assert torch.equal(first[0], second[0])


def test_key_changes_when_the_file_list_or_offsets_change(manifest):
    base = key(manifest)
    assert key(manifest.iloc[:-1]) != base
    assert key(manifest.iloc[::-1]) != base
    shifted = manifest.copy()
    shifted.loc[0, "start"] = 100
    assert key(shifted) != base
    clipped = manifest.copy()
    clipped.loc[0, "frames"] = 4000
    assert key(clipped) != base


def test_key_ignores_labels_and_splits(manifest):
    relabelled = manifest.assign(label="z", speaker="q", split="test")
    assert key(relabelled) == key(manifest)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "logmel"},
        {"n_mfcc": 20},
        {"n_mels": 64},
        {"win_ms": 25.0},
        {"hop_ms": 20.0},
        {"f_min": 0.0},
        {"f_max": 7600.0},
    ],
)
def test_key_changes_with_every_feature_field(manifest, change):
    assert key(manifest, FeatureConfig(**change)) != key(manifest)


def test_key_changes_with_rate_and_length_but_not_cache_dir(manifest):
    cfg = FeatureConfig()
    base = cache_key(manifest, cfg, RATE, SAMPLES)
    assert cache_key(manifest, cfg, 8000, SAMPLES) != base
    assert cache_key(manifest, cfg, RATE, 8000) != base
    assert cache_key(manifest, FeatureConfig(cache_dir="elsewhere"), RATE, SAMPLES) == base


def test_store_is_one_file_named_by_key_with_no_temp_left(cache, manifest):
    compute(cache, manifest)
    assert sorted(p.name for p in cache.cache_dir.iterdir()) == [f"{key(manifest)}.pt"]


def test_a_cache_dir_that_cannot_be_created_fails_before_extracting(manifest, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache = FeatureCache(blocker / "cache")
    gone = manifest.assign(path=[f"{p}.missing" for p in manifest.path])  # would all be bad
    with pytest.raises(ConfigError, match=r"features.cache_dir='.*a_file/cache' cannot be "
                                          r"created \(Not a directory\)"):
        compute(cache, gone)


def test_a_cache_dir_that_cannot_be_written_fails_before_extracting(manifest, tmp_path):
    skip_unless_modes_count(tmp_path)
    (tmp_path / "cache").mkdir(mode=0o555)
    gone = tmp_path / "gone.pkl"  # a manifest of files that would all be bad
    manifest.assign(path=[f"{p}.missing" for p in manifest.path]).to_pickle(gone)
    assert config_error_of(
        "import pandas as pd; from rnnaudio.config import FeatureConfig; from rnnaudio.data."
        f"cache import FeatureCache; FeatureCache({str(tmp_path / 'cache')!r}).load_or_compute("
        f"pd.read_pickle({str(gone)!r}), FeatureConfig(), {RATE}, {SAMPLES}, progress=False)"
    ) == f"features.cache_dir='{tmp_path}/cache' is not writable; give a folder this user can write"


def test_an_entry_that_cannot_be_stored_still_gives_the_features(cache, manifest, caplog):
    expected = compute(FeatureCache(cache.cache_dir.with_name("other")), manifest)
    cache.path_for(key(manifest)).mkdir(parents=True)  # a folder where the entry would go
    (cache.path_for(key(manifest)) / "occupied").write_text("")
    assert torch.equal(compute(cache, manifest), expected)
    assert "could not be stored" in caplog.text
    assert not list(cache.cache_dir.glob(".*.tmp"))


FULL_DISK = """
import resource, signal, sys
import pandas as pd
from rnnaudio.config import FeatureConfig
from rnnaudio.data.cache import FeatureCache

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))  # the entry is ~48 KiB
features = FeatureCache(sys.argv[2]).load_or_compute(
    pd.read_pickle(sys.argv[1]), FeatureConfig(), 16000, 16000, progress=False)
print(float(features.float().sum()))
"""


def test_a_disk_that_fills_up_mid_store_still_gives_the_features(cache, manifest, tmp_path):
    """torch's zip writer reports the failed write as a RuntimeError, not an OSError."""
    manifest.to_pickle(tmp_path / "manifest.pkl")
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path / "manifest.pkl"), str(cache.cache_dir)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "could not be stored" in result.stderr
    expected = compute(FeatureCache(tmp_path / "other"), manifest)
    assert float(result.stdout) == pytest.approx(float(expected.float().sum()))
    assert not any(cache.cache_dir.iterdir())  # no entry, no temp file left


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_cache_file_is_rebuilt(cache, manifest, damage):
    good = compute(cache, manifest)
    path = cache.path_for(key(manifest))
    data = path.read_bytes()
    damaged = {"garbage": b"not a tensor" * 100, "truncated": data[: len(data) // 2], "empty": b""}
    path.write_bytes(damaged[damage])
    rebuilt = compute(cache, manifest)
    assert cache.last_hit is False
    assert torch.equal(rebuilt, good)
    assert torch.equal(compute(cache, manifest), good)
    assert cache.last_hit is True


def test_entry_with_the_wrong_shape_is_rebuilt(cache, manifest):
    good = compute(cache, manifest)
    path = cache.path_for(key(manifest))
    torch.save({"key": key(manifest), "features": good[:2]}, path)
    assert torch.equal(compute(cache, manifest), good)
    assert cache.last_hit is False


def test_undecodable_file_raises_config_error_naming_it(cache, manifest):
    bad = Path(manifest.path[3])
    bad.write_text("definitely not a wav file")
    with pytest.raises(ConfigError, match=re.escape(str(bad))):
        compute(cache, manifest)
    assert not cache.cache_dir.exists() or not any(cache.cache_dir.iterdir())


def test_missing_file_raises_config_error_naming_it(cache, manifest):
    Path(manifest.path[0]).unlink()
    with pytest.raises(ConfigError, match=r"clip0\.wav"):
        compute(cache, manifest)


def test_more_clips_than_one_batch_keep_their_order(cache, tmp_path):
    audio = tmp_path / "many"
    audio.mkdir()
    manifest = write_corpus(audio, clips=3)
    many = pd.concat([manifest] * 100, ignore_index=True)  # 300 rows > one batch of 256
    feats = compute(cache, many)
    assert feats.shape == (300, 101, 40)
    assert torch.equal(feats[0], feats[3]) and torch.equal(feats[2], feats[299])
    assert not torch.equal(feats[0], feats[1])


def test_two_processes_building_one_entry_agree(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    manifest = pd.concat([write_corpus(audio, clips=12)] * 40, ignore_index=True)
    cache = FeatureCache(tmp_path / "cache")
    build = functools.partial(
        cache.load_or_compute,
        cfg=FeatureConfig(),
        sample_rate=RATE,
        num_samples=SAMPLES,
        progress=False,
    )
    context = multiprocessing.get_context("spawn")
    # Both workers wait for each other before taking a task, so both build at once.
    barrier = context.Barrier(2)
    with context.Pool(2, initializer=barrier.wait) as pool:
        results = pool.map(build, [manifest, manifest], chunksize=1)
    assert torch.equal(results[0], results[1])
    stored = compute(FeatureCache(tmp_path / "cache"), manifest)
    assert torch.equal(stored, results[0])
    assert sorted(p.name for p in cache.cache_dir.iterdir()) == [f"{key(manifest)}.pt"]


# --- bad files: skipped, counted, cached with the features -----------------------------------


def with_bad_files(manifest: pd.DataFrame, root: Path) -> pd.DataFrame:
    """The manifest plus one planted file of each bad kind, and one missing, interleaved."""
    from miniature import PLANTED, plant

    paths = [str(plant(root / f"bad_{reason}.wav", reason)) for reason in PLANTED]
    paths.append(str(root / "bad_missing.wav"))
    bad = pd.DataFrame({"path": paths, "label": "a", "speaker": "sx", "split": "train",
                        "start": 0, "frames": -1})
    mixed = pd.concat([manifest.iloc[:3], bad, manifest.iloc[3:]], ignore_index=True)
    mixed.attrs = manifest.attrs
    return mixed


def extract(cache: FeatureCache, manifest: pd.DataFrame, **kwargs):
    kwargs.setdefault("max_bad_fraction", 1.0)
    return cache.load_or_extract(manifest, FeatureConfig(), RATE, SAMPLES, progress=False,
                                 **kwargs)


def test_bad_files_are_skipped_and_counted_by_reason(cache, manifest, tmp_path):
    mixed = with_bad_files(manifest, tmp_path / "audio")
    cached = extract(cache, mixed)
    good = [i for i, p in enumerate(mixed.path) if not Path(p).name.startswith("bad_")]
    assert cached.kept.tolist() == good
    assert cached.features.shape == (len(good), 101, 40)
    assert cached.report.counts() == {"missing": 1, "empty": 1, "not_audio": 1, "corrupt": 1,
                                      "truncated": 1, "non_finite": 1, "too_short": 1}
    assert cached.report.files == len(mixed) and cached.report.rows_dropped == 7
    # The good clips' features are those of a clean manifest, row for row.
    clean = compute(FeatureCache(tmp_path / "clean"), manifest)
    assert torch.equal(cached.features, clean)


def test_a_warm_cache_reports_the_same_without_decoding(cache, manifest, tmp_path):
    mixed = with_bad_files(manifest, tmp_path / "audio")
    cold = extract(cache, mixed)
    warm = extract(FeatureCache(cache.cache_dir), mixed)
    assert cache.last_hit is False
    assert warm.report == cold.report
    assert torch.equal(warm.kept, cold.kept) and torch.equal(warm.features, cold.features)


def test_too_many_bad_files_stop_with_their_names_and_store_nothing(cache, manifest, tmp_path):
    mixed = with_bad_files(manifest, tmp_path / "audio")
    with pytest.raises(TooManyBadFilesError) as caught:
        extract(cache, mixed, max_bad_fraction=0.2)
    message = str(caught.value)
    assert message.startswith("7 of 13 files are bad (53.8%), more than "
                              "dataset.max_bad_fraction=0.2: ")
    assert "bad_missing.wav (missing)" in message and "and 4 more" in message
    assert not cache.cache_dir.exists() or not any(cache.cache_dir.iterdir())


def test_a_stricter_limit_fails_on_a_cache_hit_too(cache, manifest, tmp_path):
    mixed = with_bad_files(manifest, tmp_path / "audio")
    extract(cache, mixed, max_bad_fraction=0.6)
    with pytest.raises(TooManyBadFilesError):
        extract(cache, mixed, max_bad_fraction=0.5)
    assert cache.last_hit is True


def test_nan_found_only_by_decoding_leaves_no_dead_rows(cache, manifest, tmp_path):
    from miniature import plant

    nan = str(plant(tmp_path / "audio" / "nan.wav", "non_finite"))
    rows = pd.concat([manifest, manifest.iloc[:1].assign(path=nan)], ignore_index=True)
    cached = extract(cache, rows)
    assert cached.features.shape[0] == len(manifest) == len(cached.kept) == len(cached.lengths)
    assert cached.features.untyped_storage().nbytes() == cached.features.nbytes
    stored = torch.load(cache.path_for(cache_key(rows, FeatureConfig(), RATE, SAMPLES)),
                        weights_only=True)
    assert stored["features"].untyped_storage().nbytes() == stored["features"].nbytes


# --- variable length ------------------------------------------------------------------------


def test_variable_length_keeps_each_clips_frames(cache, manifest):
    fixed = extract(cache, manifest)
    variable = extract(cache, manifest, variable=True)
    # Clips last 0.6-1.2 s: lengths follow the audio, time is the longest clip (capped at 1 s).
    durations = [sf.info(p).duration for p in manifest.path]
    expected = [1 + min(round(d * RATE), SAMPLES) // 160 for d in durations]
    assert variable.lengths.tolist() == expected
    assert variable.features.shape[1] == max(expected)
    assert (fixed.lengths == 101).all()
    # The valid frames are the fixed-length features': a clip's features never depend on
    # the policy or on its batch mates.
    for i, n in enumerate(expected):
        assert torch.equal(variable.features[i, :n], fixed.features[i, :n])


def test_the_length_policy_is_part_of_the_key(manifest):
    cfg = FeatureConfig()
    assert cache_key(manifest, cfg, RATE, SAMPLES, variable=True) != cache_key(
        manifest, cfg, RATE, SAMPLES
    )


def test_100k_one_second_clips_fit_in_under_a_gibibyte():
    # What an entry of 100k one-second clips of 101 x 40 MFCC holds: float16 features plus
    # two int64 vectors. The store is torch.save of exactly these tensors.
    clips = 100_000
    features = torch.empty(0, 101, 40, dtype=torch.float16)
    size = clips * 101 * 40 * features.element_size() + 2 * clips * 8
    assert size < 2**30
