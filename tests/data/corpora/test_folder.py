"""Any folder of clips: <label>/*.wav|flac|ogg, or a CSV of path,label[,group][,fold]."""

from __future__ import annotations

from pathlib import Path

import pytest
from miniature import (
    FOLDER_LABELS,
    build_folder,
    build_folder_csv,
    train_and_read,
    train_overrides,
)

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.folder import load_folder
from rnnaudio.data.folds import cv_folds, fold_scheme


def test_one_class_per_sub_folder_of_every_audio_extension(tmp_path):
    planted = build_folder(tmp_path)
    df = load_folder(tmp_path)
    assert df.attrs["classes"] == list(FOLDER_LABELS)
    assert {Path(p).suffix for p in df.path} == {".wav", ".flac", ".ogg", ".WAV"}
    assert not any(p.endswith("notes.txt") or "_background_noise_" in p for p in df.path)
    assert len(df) == 3 * 6 + len(planted)
    assert df.speaker.is_unique and fold_scheme(df) == "stratified"


def test_a_csv_gives_groups_and_predefined_folds(tmp_path):
    csv = build_folder_csv(tmp_path)
    df = load_folder(csv)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df.path)
    assert sorted(df.fold.unique()) == [1, 2, 3, 4]
    assert set(df.speaker) == {"g0", "g1", "g2", "g3"}
    for fold, (_, val) in zip([1, 2, 3, 4], cv_folds(df, 4, seed=0), strict=True):
        assert set(df.fold[val]) == {fold}


def test_a_csv_without_folds_is_split_by_group(tmp_path):
    csv = build_folder_csv(tmp_path)
    csv.write_text("\n".join(",".join(line.split(",")[:3]) for line in
                             csv.read_text().splitlines()) + "\n")
    df = load_folder(csv)
    assert "fold" not in df.columns and fold_scheme(df) == "speaker_disjoint"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("file,label\na.wav,x\n", "has list.csv without the column 'path'"),
        ("path,label,fold\na.wav,x,1\nb.wav,y,one\n",
         "has a fold that is not an integer (row 2 after the header, path b.wav, fold 'one')"),
        ("path,label\na.wav,x\nb.wav,y\nc.wav,\n",
         "has a row without a label (row 3 after the header, path c.wav)"),
        ("path,label\na.wav,x\n,y\n", "has a row without a path (row 2 after the header)"),
        ("path,label\n", "lists no clips"),
    ],
)
def test_a_bad_csv_is_one_line_naming_it(tmp_path, content, problem):
    csv = tmp_path / "list.csv"
    csv.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_folder(csv)
    message = str(caught.value)
    assert problem in message and "\n" not in message and "expected the folder layout" in message


def test_a_folder_without_clips_is_one_line(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(ConfigError, match=r"has no <label>/\*\.wav\|flac\|ogg files; expected"):
        load_folder(tmp_path)


def test_check_root_accepts_a_csv_file(tmp_path):
    csv = build_folder_csv(tmp_path)
    compose_config(["dataset=folder", f"dataset.root={csv}"]).dataset.check_root()
    with pytest.raises(ConfigError, match="is not a directory"):
        compose_config(["dataset=folder", f"dataset.root={tmp_path / 'nope'}"]).dataset.check_root()


@pytest.mark.slow
def test_trains_with_every_augmentation_on_and_it_changes_the_fit(tmp_path):
    root = tmp_path / "clips"
    planted = build_folder(root)
    common = ("dataset.max_bad_fraction=0.3", "cv.folds=2")
    augmented = train_overrides(
        "folder", root, tmp_path / "augmented", *common,
        "augment.spec_time_mask=10", "augment.spec_freq_mask=4",
        "augment.noise_snr_db=[0,10]", "augment.time_shift_ms=50",
    )
    result, parent, folds, _ = train_and_read(augmented, tmp_path / "augmented")
    assert parent["params.cv.scheme"] == "stratified" and len(folds) == 2
    assert parent["params.augment.noise_snr_db"] == "[0.0, 10.0]"
    assert parent["params.data.bad_files"] == str(len(planted))
    # Same data, folds and seed without augmentation: only the training batches differ.
    plain = train_and_read(train_overrides("folder", root, tmp_path / "plain", *common),
                           tmp_path / "plain")[0]
    assert plain.summary != result.summary


@pytest.mark.slow
def test_trains_from_a_csv_with_a_held_out_fold(tmp_path):
    csv = build_folder_csv(tmp_path)
    overrides = train_overrides("folder", csv, tmp_path, "dataset.test_folds=[4]", "cv.folds=3")
    _, parent, folds, _ = train_and_read(overrides, tmp_path)
    assert list(folds["params.cv.val_fold"]) == ["1", "2", "3"]
    assert parent["params.data.test_clips"] == "6" and parent["params.data.bad_files"] == "0"
