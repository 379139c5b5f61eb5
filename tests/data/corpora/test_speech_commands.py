"""One loader for Google Speech Commands v1/v2 and the embedded corpus in the same layout."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnaudio.config import ConfigError, DatasetConfig
from rnnaudio.data.corpora.speech_commands import (
    COLUMNS,
    COMMAND_WORDS,
    NOISE_PARTS,
    load_speech_commands,
    which_set,
)
from rnnaudio.data.prepare import load_manifest

TWELVE = [*COMMAND_WORDS, "_unknown_", "_silence_"]
V2_WORDS = [
    *("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward"),
    *("four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on"),
    *("one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up"),
    *("visual", "wow", "yes", "zero"),
]


def lines(path: Path) -> list[str]:
    return path.read_text().split()


def speakers_by_split(df):
    spoken = df[df.label != "_silence_"]
    return {split: set(group.speaker) for split, group in spoken.groupby("split")}


# --- which_set -------------------------------------------------------------------------


def test_which_set_depends_only_on_the_speaker():
    first = which_set("yes/0a1b2c3d_nohash_0.wav", 10, 10)
    assert which_set("no/0a1b2c3d_nohash_4.wav", 10, 10) == first
    assert which_set("0a1b2c3d_nohash_1.wav", 10, 10) == first


def test_which_set_percentages():
    names = [f"{i:08x}_nohash_0.wav" for i in range(5000)]
    sets = [which_set(name, 10, 10) for name in names]
    assert 0.08 < sets.count("validation") / len(sets) < 0.12
    assert 0.08 < sets.count("testing") / len(sets) < 0.12
    assert {which_set(name, 0, 0) for name in names[:50]} == {"training"}
    assert {which_set(name, 100, 0) for name in names[:50]} == {"validation"}


# --- the manifest ----------------------------------------------------------------------


def test_columns_and_types(synth_corpus):
    df = load_speech_commands(synth_corpus)
    assert tuple(df.columns) == COLUMNS
    assert set(df.split) == {"train", "validation", "test"}
    assert df.start.dtype == np.int64 and df.frames.dtype == np.int64
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df.path)


def test_split_counts_match_the_list_files(synth_corpus):
    df = load_speech_commands(synth_corpus, "all_words")
    counts = df.split.value_counts()
    validation = lines(synth_corpus / "validation_list.txt")
    testing = lines(synth_corpus / "testing_list.txt")
    assert counts["validation"] == len(validation)
    assert counts["test"] == len(testing)
    assert counts["train"] == len(list(synth_corpus.glob("[!_]*/*.wav"))) - len(validation) - len(
        testing
    )
    relative = {Path(p).relative_to(synth_corpus).as_posix() for p in df[df.split == "test"].path}
    assert relative == set(testing)


def test_speaker_is_the_file_name_before_nohash(synth_corpus):
    df = load_speech_commands(synth_corpus, "all_words")
    assert all(
        Path(p).name.startswith(f"{s}_nohash_") for p, s in zip(df.path, df.speaker, strict=True)
    )


def test_twelve_class_labels(synth_corpus):
    df = load_speech_commands(synth_corpus, "12class")
    assert df.attrs["classes"] == TWELVE
    assert set(df.label) == set(TWELVE)


def test_unknown_and_silence_are_a_tenth_of_the_command_words_per_split(synth_corpus):
    df = load_speech_commands(synth_corpus, "12class")
    for split, rows in df.groupby("split"):
        n_command = rows.label.isin(COMMAND_WORDS).sum()
        assert (rows.label == "_unknown_").sum() == math.ceil(0.1 * n_command), split
        assert (rows.label == "_silence_").sum() == math.ceil(0.1 * n_command), split


def test_fractions_are_parameters(synth_corpus):
    df = load_speech_commands(synth_corpus, "12class", unknown_fraction=0.5, silence_fraction=0)
    train = df[df.split == "train"]
    n_command = train.label.isin(COMMAND_WORDS).sum()
    assert (train.label == "_unknown_").sum() == math.ceil(0.5 * n_command)
    assert "_silence_" not in set(df.label)
    assert df.attrs["classes"] == TWELVE


def test_unknown_clips_come_from_other_words_of_the_same_split(synth_corpus):
    df = load_speech_commands(synth_corpus, "12class")
    words = load_speech_commands(synth_corpus, "all_words").set_index("path")
    unknown = df[df.label == "_unknown_"]
    assert not words.loc[unknown.path, "label"].isin(COMMAND_WORDS).any()
    assert (words.loc[unknown.path, "split"].to_numpy() == unknown.split.to_numpy()).all()


def test_split_seed_fixes_the_subsample(synth_corpus):
    first = load_speech_commands(synth_corpus, split_seed=1)
    assert first.equals(load_speech_commands(synth_corpus, split_seed=1))
    assert not first.equals(load_speech_commands(synth_corpus, split_seed=2))


def drawn(manifest, split):
    """The rows of ``split`` that the subsample and silence cuts drew, as a set."""
    rows = manifest[(manifest.split == split) & manifest.label.isin(["_unknown_", "_silence_"])]
    return set(zip(rows.path, rows.label, rows.start, rows.frames, strict=True))


def test_every_run_seed_gets_the_same_corpus_and_split_seed_changes_it(synth_corpus):
    # The run's seed decides init, folds, shuffling and augmentation, never which clips a
    # split holds: seeds of one experiment are scored on one test set. split_seed decides.
    def manifest(seed, **dataset):
        cfg = DatasetConfig(name="synth_commands", root=str(synth_corpus), **dataset)
        return load_manifest(cfg, seed=seed)

    base = manifest(0)
    assert base.equals(manifest(1))
    assert base.equals(manifest(7))
    assert base.equals(load_speech_commands(synth_corpus, "12class"))  # split_seed=0
    other = manifest(0, split_seed=1)
    assert base.attrs["classes"] == other.attrs["classes"]
    for split in ("train", "validation", "test"):
        assert drawn(base, split), split
        assert drawn(base, split) != drawn(other, split), split
        # Only the draw moves: the command words and the row counts stay.
        assert (base.split == split).sum() == (other.split == split).sum()
        words = base[(base.split == split) & base.label.isin(COMMAND_WORDS)]
        assert words.equals(other[(other.split == split) & other.label.isin(COMMAND_WORDS)])


def test_split_seed_below_zero_is_refused(synth_corpus):
    with pytest.raises(ConfigError, match=r"dataset\.split_seed=-1 is out of range"):
        DatasetConfig(name="synth_commands", root=str(synth_corpus), split_seed=-1)


def test_rows_are_ordered_by_split_class_and_path(synth_corpus):
    df = load_speech_commands(synth_corpus)
    split_rank = df.split.map({"train": 0, "validation": 1, "test": 2})
    class_rank = df.label.map(TWELVE.index)
    keys = list(zip(split_rank, class_rank, df.path, df.start, strict=True))
    assert keys == sorted(keys)


def test_silence_rows_are_readable_one_second_segments(synth_corpus):
    df = load_speech_commands(synth_corpus, clip_seconds=0.5)
    silence = df[df.label == "_silence_"]
    assert all(s.startswith("_silence_/") for s in silence.speaker)
    for row in silence.itertuples():
        assert Path(row.path).parent.name == "_background_noise_"
        audio, rate = sf.read(row.path, start=row.start, frames=row.frames)
        assert row.frames == 0.5 * rate == len(audio)


def test_all_words_has_one_class_per_folder(synth_corpus):
    df = load_speech_commands(synth_corpus, "all_words")
    folders = sorted(p.name for p in synth_corpus.iterdir() if p.is_dir() and p.name[0] != "_")
    assert df.attrs["classes"] == folders
    assert sorted(set(df.label)) == folders
    assert (df.frames == -1).all() and (df.start == 0).all()


@pytest.mark.parametrize("task", ["12class", "all_words"])
def test_speakers_never_cross_splits(synth_corpus, task):
    groups = speakers_by_split(load_speech_commands(synth_corpus, task))
    assert not groups["train"] & groups["validation"]
    assert not groups["train"] & groups["test"]
    assert not groups["validation"] & groups["test"]


# --- real v2 layout ----------------------------------------------------------------------


@pytest.fixture
def v2_copy(synth_corpus, tmp_path):
    """35 word folders as in Speech Commands v2, with the clutter of the real archive."""
    root = tmp_path / "speech_commands_v0.02"
    sources = sorted(synth_corpus.glob("yes/*.wav"))[:3]
    for word in V2_WORDS:
        (root / word).mkdir(parents=True)
        for source in sources:
            shutil.copy(source, root / word / source.name)
    (root / "yes" / ".DS_Store").write_bytes(b"\0")
    (root / "LICENSE").write_text("CC BY 4.0")
    shutil.copytree(synth_corpus / "_background_noise_", root / "_background_noise_")
    (root / "_background_noise_" / "README.md").write_text("noise")
    held_out = sources[0].name
    (root / "validation_list.txt").write_text(f"bed/{held_out}\nwow/{held_out}\n")
    (root / "testing_list.txt").write_text(f"yes/{sources[1].name}\n")
    return root


def test_v2_layout_loads_every_word_as_a_class(v2_copy):
    df = load_speech_commands(v2_copy, "all_words")
    assert df.attrs["classes"] == sorted(V2_WORDS) and len(df.attrs["classes"]) == 35
    assert len(df) == 35 * 3
    assert df.split.value_counts().to_dict() == {"train": 102, "validation": 2, "test": 1}


def test_v2_layout_loads_as_twelve_classes(v2_copy):
    df = load_speech_commands(v2_copy, "12class")
    assert df.attrs["classes"] == TWELVE
    assert (df.label.isin(COMMAND_WORDS)).sum() == 30


# --- bad input ---------------------------------------------------------------------------


def test_missing_root_is_one_line_naming_path_layout_and_hint(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as error:
        load_speech_commands(missing, build_hint="build it with: rnnaudio data synth")
    message = str(error.value)
    assert "\n" not in message
    assert str(missing) in message
    assert "<word>/<speaker>_nohash_<n>.wav plus validation_list.txt and testing_list.txt" in (
        message
    )
    assert message.endswith("build it with: rnnaudio data synth")


def test_folder_without_list_files_is_rejected(synth_corpus, tmp_path):
    shutil.copytree(synth_corpus / "yes", tmp_path / "yes")
    with pytest.raises(ConfigError, match=r"validation_list\.txt") as error:
        load_speech_commands(tmp_path)
    assert str(tmp_path) in str(error.value) and "\n" not in str(error.value)


def test_folder_without_word_folders_is_rejected(tmp_path):
    (tmp_path / "validation_list.txt").write_text("")
    (tmp_path / "testing_list.txt").write_text("")
    (tmp_path / "_background_noise_").mkdir()
    with pytest.raises(ConfigError, match="no <word>/"):
        load_speech_commands(tmp_path, "all_words")


def test_silence_needs_background_noise(v2_copy):
    shutil.rmtree(v2_copy / "_background_noise_")
    with pytest.raises(ConfigError, match="silence_fraction=0"):
        load_speech_commands(v2_copy)
    assert "_silence_" not in set(load_speech_commands(v2_copy, silence_fraction=0).label)


def test_unknown_task_names_the_choices(synth_corpus):
    with pytest.raises(ConfigError) as error:
        load_speech_commands(synth_corpus, "35class")
    assert str(error.value) == "dataset.task='35class' is not one of: 12class, all_words"


# --- a v2 miniature, bad files included, end to end ------------------------------------------


@pytest.mark.slow
def test_v2_miniature_trains_35_words_and_reports_its_bad_files(tmp_path):
    from miniature import build_speech_commands_v2, train_and_read, train_overrides

    root = tmp_path / "speech_commands_v0.02"
    planted = build_speech_commands_v2(root)
    overrides = train_overrides(
        "speech_commands", root, tmp_path, "dataset.task=all_words", "cv.folds=2",
        "dataset.max_bad_fraction=0.05", "augment.noise_snr_db=[5,15]",
    )
    result, parent, folds, _ = train_and_read(overrides, tmp_path)
    assert parent["params.data.classes"] == "35"
    assert parent["params.data.test_clips"] == "35"
    assert parent["params.cv.scheme"] == "speaker_disjoint"
    assert parent["params.data.bad_files"] == str(len(planted)) == "6"
    assert len(folds) == 2 and math.isfinite(result.summary["cv_val_loss_mean"])


def _noise_of_odd_lengths(tmp_path, synth_corpus) -> Path:
    copy = tmp_path / "corpus"
    shutil.copytree(synth_corpus, copy)
    for extra, wav in enumerate(sorted((copy / "_background_noise_").glob("*.wav"))):
        audio, rate = sf.read(wav)
        sf.write(wav, audio[: 20 * rate + 2 * extra + 1], rate)  # 20 s and 1-9 samples
    return copy


def test_each_split_cuts_its_silence_from_its_own_part_of_each_noise_file(tmp_path,
                                                                          synth_corpus):
    """No sample of a test or validation _silence_ clip is heard in training, and a file's
    cuts are one CV group: otherwise CV and test would score cuts of the noise trained on."""
    df = load_speech_commands(_noise_of_odd_lengths(tmp_path, synth_corpus))
    silence = df[df.label == "_silence_"]
    assert set(silence.split) == {"train", "validation", "test"}
    for path, cuts in silence.groupby("path"):
        total = sf.info(path).frames
        assert total % 2 == 1
        spans = {}
        for row in cuts.itertuples():
            low, high = NOISE_PARTS[row.split]
            assert round(low * total) <= row.start
            assert row.start + row.frames <= round(high * total)
            spans.setdefault(row.split, []).append((row.start, row.start + row.frames))
            assert row.speaker == f"_silence_/{Path(path).name}"
        for one, other in [("train", "validation"), ("train", "test"), ("validation", "test")]:
            for start, end in spans.get(one, []):
                assert all(end <= s or e <= start for s, e in spans.get(other, []))


def test_noise_too_short_for_a_splits_part_is_one_line(tmp_path, synth_corpus):
    copy = tmp_path / "corpus"
    shutil.copytree(synth_corpus, copy)
    for wav in (copy / "_background_noise_").glob("*.wav"):
        audio, rate = sf.read(wav)
        sf.write(wav, audio[: 5 * rate], rate)  # 5 s: its test tenth is half a second
    with pytest.raises(ConfigError, match=r"_background_noise_ has no \.wav file whose "
                                          r"validation part \(80%-90% of it\) holds a 1\.0 s"):
        load_speech_commands(copy)
