"""Free Spoken Digit Dataset from its published layout: recordings/<digit>_<speaker>_<n>.wav."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from miniature import FSDD_SPEAKERS, build_fsdd, train_and_read, train_overrides

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.fsdd import load_fsdd
from rnnaudio.data.folds import cv_folds
from rnnaudio.data.prepare import labelled_features


@pytest.fixture
def fsdd(tmp_path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "free-spoken-digit-dataset"
    return root, build_fsdd(root)


def test_digit_speaker_and_the_readme_test_split(fsdd):
    root, _ = fsdd
    (root / "recordings" / "README.txt").write_text("not a recording")
    df = load_fsdd(root)
    assert df.attrs["classes"] == ["0", "1", "2", "3"]
    names = [Path(p).stem.split("_") for p in df.path]
    assert list(df.label) == [n[0] for n in names]
    assert list(df.speaker) == [n[1] for n in names]
    assert list(df.split) == ["test" if int(n[2]) < 5 else "train" for n in names]
    assert "fold" not in df.columns


def test_folds_are_speaker_disjoint_over_the_train_part(fsdd, tmp_path):
    root, planted = fsdd
    cfg = compose_config(train_overrides("fsdd", root, tmp_path, "dataset.max_bad_fraction=0.1"))
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)
    assert (cfg.dataset.sample_rate, cfg.dataset.length) == (8000, "variable")
    assert data.report.counts() == {"missing": 0, **{r: 1 for r in planted}}
    assert set(data.manifest.speaker) == set(FSDD_SPEAKERS)  # lucas had only bad files
    folds = cv_folds(data.manifest, 3, seed=0)
    test_rows = set(np.flatnonzero(data.manifest.split == "test"))
    for train, val in folds:
        assert not set(data.manifest.speaker[train]) & set(data.manifest.speaker[val])
        assert not test_rows & (set(train) | set(val))


def test_a_folder_without_recordings_is_one_line(tmp_path):
    (tmp_path / "recordings").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_fsdd(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} has no recordings/<digit>_<speaker>_<index>.wav; expected the fsdd layout "
        "recordings/<digit>_<speaker>_<index>.wav"
    )


@pytest.mark.slow
def test_trains_one_epoch_in_speaker_disjoint_folds(fsdd, tmp_path):
    root, planted = fsdd
    overrides = train_overrides("fsdd", root, tmp_path, "dataset.max_bad_fraction=0.1",
                                "cv.folds=2", "model.pooling=mean")
    result, parent, folds, _ = train_and_read(overrides, tmp_path)
    assert parent["params.cv.scheme"] == "speaker_disjoint"
    assert len(folds) == 2 and np.isfinite(result.summary["cv_val_loss_mean"])
    assert parent["params.data.bad_files"] == str(len(planted))
