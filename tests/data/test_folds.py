"""Speaker-disjoint, label-stratified cross-validation folds."""

from __future__ import annotations

import numpy as np
import pytest

from rnnaudio.config import ConfigError
from rnnaudio.data.folds import speaker_disjoint_folds


def corpus(speakers: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each speaker says a random handful of words; silence/unknown are ordinary labels."""
    rng = np.random.default_rng(seed)
    words = np.array(["yes", "no", "up", "down", "_silence_", "_unknown_"])
    labels, groups = [], []
    for s in range(speakers):
        n = rng.integers(5, 30)
        labels += list(rng.choice(words, n, p=[0.2, 0.2, 0.2, 0.2, 0.05, 0.15]))
        groups += [f"{s:08x}"] * n
    return np.array(labels), np.array(groups)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_every_index_is_validated_exactly_once(k):
    labels, groups = corpus()
    folds = speaker_disjoint_folds(labels, groups, k=k, seed=0)
    assert len(folds) == k
    val = np.concatenate([v for _, v in folds])
    assert np.array_equal(np.sort(val), np.arange(len(labels)))
    for train, v in folds:
        assert np.array_equal(np.sort(np.concatenate([train, v])), np.arange(len(labels)))
        assert train.dtype == v.dtype == np.int64


def test_no_speaker_is_on_both_sides_of_a_fold():
    labels, groups = corpus()
    for train, val in speaker_disjoint_folds(labels, groups, k=5, seed=3):
        assert not set(groups[train]) & set(groups[val])


def test_label_proportions_follow_the_whole_set():
    labels, groups = corpus(speakers=200)
    classes, counts = np.unique(labels, return_counts=True)
    overall = counts / counts.sum()
    for _, val in speaker_disjoint_folds(labels, groups, k=5, seed=0):
        fold = np.array([(labels[val] == c).mean() for c in classes])
        np.testing.assert_allclose(fold, overall, atol=0.03)


def test_same_seed_same_folds_other_seed_other_folds():
    labels, groups = corpus()
    a = speaker_disjoint_folds(labels, groups, k=5, seed=7)
    b = speaker_disjoint_folds(list(labels), list(groups), k=5, seed=7)
    c = speaker_disjoint_folds(labels, groups, k=5, seed=8)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_as_many_folds_as_speakers_is_leave_one_speaker_out():
    labels, groups = corpus(speakers=6)
    folds = speaker_disjoint_folds(labels, groups, k=6, seed=0)
    assert sorted(len(set(groups[val])) for _, val in folds) == [1] * 6


def test_more_folds_than_speakers_is_a_config_error():
    labels, groups = corpus(speakers=4)
    message = (
        "cv.folds=5 exceeds the 4 distinct speakers in train+validation; valid values are 2..4"
    )
    with pytest.raises(ConfigError) as caught:
        speaker_disjoint_folds(labels, groups, k=5, seed=0)
    assert str(caught.value) == message


def test_fewer_than_two_folds_is_a_config_error():
    labels, groups = corpus(speakers=4)
    with pytest.raises(ConfigError, match=r"cv\.folds=1 .*2\.\.4"):
        speaker_disjoint_folds(labels, groups, k=1, seed=0)


def test_more_folds_than_clips_of_any_class_is_a_config_error():
    labels = np.array(["a", "a", "b", "b", "c", "c"])
    groups = np.array(["s1", "s2", "s3", "s4", "s5", "s6"])
    with pytest.raises(ConfigError, match=r"cv\.folds=3 exceeds the 2 clips of the largest class"):
        speaker_disjoint_folds(labels, groups, k=3, seed=0)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        speaker_disjoint_folds(["a", "b"], ["s1"], k=2, seed=0)


def test_cv_folds_never_touch_the_test_split():
    import pandas as pd

    from rnnaudio.data.folds import cv_folds

    speakers = [f"s{i}" for i in range(12) for _ in range(4)]
    manifest = pd.DataFrame({
        "label": ["a", "b"] * 24,
        "speaker": speakers,
        "split": ["test" if s in ("s0", "s1") else "train" for s in speakers],
    })
    folds = cv_folds(manifest, 3, seed=0)
    test_rows = set(range(8))
    for train, val in folds:
        assert test_rows.isdisjoint(train) and test_rows.isdisjoint(val)
    assert sorted(r for _, val in folds for r in val) == list(range(8, 48))


# --- predefined folds ----------------------------------------------------------------------


def predefined(folds: int = 5, per_fold: int = 6, corpus: str = "esc50"):
    import pandas as pd

    fold = [1 + i // per_fold for i in range(folds * per_fold)]
    manifest = pd.DataFrame({
        "label": ["a", "b", "c"] * (folds * per_fold // 3),
        "speaker": [f"src{i // 2}" for i in range(folds * per_fold)],
        "split": "train",
        "fold": fold,
    })
    manifest.attrs["corpus"] = corpus
    return manifest


def test_predefined_folds_are_the_cv_folds_exactly():
    from rnnaudio.data.folds import cv_folds, fold_names, fold_scheme

    manifest = predefined().sample(frac=1, random_state=0).reset_index(drop=True)
    folds = cv_folds(manifest, 5, seed=123)
    for name, (train, val) in zip(range(1, 6), folds, strict=True):
        assert set(manifest.fold[val]) == {name}
        assert sorted(np.concatenate([train, val])) == list(range(len(manifest)))
        assert name not in set(manifest.fold[train])
    assert fold_names(manifest, 5) == ["1", "2", "3", "4", "5"]
    assert fold_scheme(manifest) == "predefined"
    # The seed plays no part: the corpus fixed the folds.
    other = cv_folds(manifest, 5, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_another_k_for_predefined_folds_is_a_one_line_error():
    from rnnaudio.data.folds import cv_folds

    with pytest.raises(ConfigError) as caught:
        cv_folds(predefined(), 3, seed=0)
    assert str(caught.value) == (
        "cv.folds=3 does not match the 5 predefined folds of esc50; use cv.folds=5"
    )


def test_test_folds_leave_cv_and_shrink_the_expected_k():
    from rnnaudio.data.folds import cv_folds, fold_names, hold_out_test_folds

    manifest = hold_out_test_folds(predefined(), [5])
    assert set(manifest.fold[manifest.split == "test"]) == {5}
    assert (manifest.split[manifest.fold != 5] == "train").all()
    folds = cv_folds(manifest, 4, seed=0)
    assert fold_names(manifest, 4) == ["1", "2", "3", "4"]
    used = np.concatenate([v for _, v in folds])
    assert 5 not in set(manifest.fold[used])
    with pytest.raises(ConfigError) as caught:
        cv_folds(manifest, 5, seed=0)
    assert str(caught.value) == ("cv.folds=5 does not match the 4 predefined folds of esc50 "
                                 "left by dataset.test_folds=[5]; use cv.folds=4")


@pytest.mark.parametrize(
    ("test_folds", "message"),
    [
        ([6], "dataset.test_folds=[6] names fold 6, not one of the predefined folds of esc50: "
              "1, 2, 3, 4, 5"),
        ([1, 2, 3, 4], "dataset.test_folds=[1, 2, 3, 4] leaves 1 of the 5 predefined folds of "
                       "esc50 to cross-validate; at least 2 are needed"),
    ],
)
def test_bad_test_folds_are_one_line_errors(test_folds, message):
    from rnnaudio.data.folds import hold_out_test_folds

    with pytest.raises(ConfigError) as caught:
        hold_out_test_folds(predefined(), test_folds)
    assert str(caught.value) == message


def test_test_folds_need_predefined_folds():
    from rnnaudio.data.folds import hold_out_test_folds

    manifest = predefined().drop(columns="fold")
    manifest.attrs["corpus"] = "fsdd"
    with pytest.raises(ConfigError, match=r"dataset.test_folds=\[1\] needs predefined folds and "
                                          r"fsdd has none; valid is \[\]"):
        hold_out_test_folds(manifest, [1])
    assert hold_out_test_folds(manifest, []) is manifest


def test_scheme_names_speaker_disjoint_and_plain_stratified_folds():
    from rnnaudio.data.folds import fold_names, fold_scheme

    manifest = predefined().drop(columns="fold")
    assert fold_scheme(manifest) == "speaker_disjoint"
    assert fold_scheme(manifest.assign(speaker=[str(i) for i in range(len(manifest))])) == (
        "stratified"
    )
    assert fold_names(manifest, 3) == ["0", "1", "2"]


def test_a_fold_that_validates_no_clip_of_a_class_is_named(caplog):
    import pandas as pd

    from rnnaudio.data.folds import cv_folds

    # _silence_ in two groups (two noise files), three folds: one fold scores none of it.
    speakers = [f"s{i}" for i in range(6) for _ in range(4)] + ["noise0"] * 3 + ["noise1"] * 3
    manifest = pd.DataFrame({"label": ["a", "b"] * 12 + ["_silence_"] * 6,
                             "speaker": speakers, "split": "train"})
    with caplog.at_level("WARNING", logger="rnnaudio.data.folds"):
        folds = cv_folds(manifest, 3, seed=0)
    missing = [name for name, (_, val) in enumerate(folds)
               if "_silence_" not in set(manifest["label"].iloc[val])]
    assert len(missing) == 1
    assert caplog.messages == [f"cv fold {missing[0]} validates no clip of _silence_: 2 "
                               "groups hold _silence_, fewer than the 3 folds"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="rnnaudio.data.folds"):
        cv_folds(manifest, 2, seed=0)
    assert not caplog.messages


def test_a_predefined_fold_without_a_class_is_named_with_its_own_reason(caplog):
    from rnnaudio.data.folds import cv_folds

    manifest = predefined(folds=3, per_fold=6)
    manifest.loc[manifest["fold"] == 2, "label"] = "a"
    with caplog.at_level("WARNING", logger="rnnaudio.data.folds"):
        cv_folds(manifest, 3, seed=0)
    assert caplog.messages == ["cv fold 2 validates no clip of b, c: the corpus's folds put "
                               "none there"]
