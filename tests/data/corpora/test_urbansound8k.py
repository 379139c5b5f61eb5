"""UrbanSound8K from its published layout: metadata CSV, audio/fold1..fold10, mixed formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from miniature import US8K_CLASSES, build_urbansound8k, train_and_read, train_overrides

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.urbansound8k import load_urbansound8k
from rnnaudio.data.folds import cv_folds
from rnnaudio.data.prepare import labelled_features


@pytest.fixture
def us8k(tmp_path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "UrbanSound8K"
    return root, build_urbansound8k(root)


def test_manifest_reads_the_folds_and_paths_of_the_csv(us8k):
    root, _ = us8k
    df = load_urbansound8k(root)
    assert df.attrs["classes"] == [US8K_CLASSES[k] for k in sorted(US8K_CLASSES)]
    assert sorted(df.fold.unique()) == list(range(1, 11))
    for path, fold in zip(df.path, df.fold, strict=True):
        assert Path(path).parent == root / "audio" / f"fold{fold}"
    assert df.speaker.str.fullmatch(r"\d+").all()  # the Freesound recording id


def test_the_miniature_is_as_mixed_as_the_real_corpus(us8k):
    root, planted = us8k
    bad = {p for paths in planted.values() for p in paths}
    infos = [sf.info(p) for p in load_urbansound8k(root).path if p not in bad]
    assert len({i.samplerate for i in infos}) >= 5
    assert {i.channels for i in infos} == {1, 2}
    assert {"PCM_16", "PCM_24", "PCM_U8", "FLOAT"} <= {i.subtype for i in infos}
    assert max(i.duration for i in infos) == pytest.approx(4.0)


def test_every_clip_is_resampled_downmixed_and_its_length_kept(us8k, tmp_path):
    root, planted = us8k
    cfg = compose_config(train_overrides("urbansound8k", root, tmp_path,
                                         "dataset.max_bad_fraction=0.5"))
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)
    assert cfg.dataset.length == "variable"
    assert data.features.shape == (30, 401, 40)  # the longest clip: 4 s at 100 frames/s
    durations = np.array([sf.info(p).duration for p in data.manifest.path])
    np.testing.assert_allclose(data.lengths.numpy(), 1 + np.floor(durations * 100), atol=1)
    assert data.report.counts() == {"missing": 0, **{r: 1 for r in planted}}


def test_predefined_folds_are_honoured_exactly(us8k, tmp_path):
    root, planted = us8k
    cfg = compose_config(train_overrides("urbansound8k", root, tmp_path,
                                         "dataset.max_bad_fraction=0.5"))
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)
    folds = cv_folds(data.manifest, 10, seed=0)
    csv = load_urbansound8k(root)
    bad = {p for paths in planted.values() for p in paths}
    for k, (_, val) in enumerate(folds, start=1):
        expected = set(csv.path[(csv.fold == k) & ~csv.path.isin(bad)])
        assert set(data.manifest.path[val]) == expected
    with pytest.raises(ConfigError, match=r"^cv\.folds=5 does not match the 10 predefined folds "
                                          r"of urbansound8k; use cv\.folds=10$"):
        cv_folds(data.manifest, 5, seed=0)


def test_a_missing_metadata_file_names_path_and_layout(tmp_path):
    (tmp_path / "audio").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_urbansound8k(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path} has no metadata/UrbanSound8K.csv; expected the "
                              "urbansound8k layout metadata/UrbanSound8K.csv")


@pytest.mark.slow
def test_trains_one_epoch_with_variable_lengths(us8k, tmp_path):
    root, planted = us8k
    overrides = train_overrides("urbansound8k", root, tmp_path, "dataset.max_bad_fraction=0.5",
                                "dataset.test_folds=[3,4,5,6,7,8,9,10]", "cv.folds=2")
    result, parent, folds, _ = train_and_read(overrides, tmp_path)
    assert np.isfinite(result.summary["cv_val_loss_mean"])
    assert list(folds["params.cv.val_fold"]) == ["1", "2"]
    assert parent["params.cv.scheme"] == "predefined"
    assert parent["params.dataset.length"] == "variable"
    assert {reason: parent[f"params.data.bad.{reason}"] for reason in planted} == {
        reason: "1" for reason in planted
    }
