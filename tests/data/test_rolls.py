"""The sequence task's data: a fixed chorale split, folds over train+validation, batches."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21")

from rnnaudio.config import DatasetConfig
from rnnaudio.config.data import JSBConfig
from rnnaudio.data.corpora.jsb import cache_path
from rnnaudio.data.rolls import RollDataModule, piano_rolls, roll_folds


@pytest.fixture(scope="module")
def rolls(tmp_path_factory):
    root = tmp_path_factory.mktemp("jsb")
    return piano_rolls(DatasetConfig(name="jsb", root=str(root), task="sequence",
                                     jsb=JSBConfig(chorales=20)))


def test_the_split_is_fixed_disjoint_and_covers_every_chorale(rolls, tmp_path: Path) -> None:
    assert len(rolls.ids) == 20 and len(set(rolls.ids)) == 20
    counts = {name: len(rolls.rows(name)) for name in ("train", "validation", "test")}
    assert counts == {"train": 12, "validation": 4, "test": 4}
    again = piano_rolls(DatasetConfig(name="jsb", root=str(tmp_path), task="sequence",
                                      jsb=JSBConfig(chorales=20)))
    assert again.ids == rolls.ids and list(again.split) == list(rolls.split)
    assert all(np.array_equal(a, b) for a, b in zip(again.rolls, rolls.rolls, strict=True))
    # dataset.split_seed, the corpus's own seed as for Speech Commands, draws another split.
    other = piano_rolls(DatasetConfig(name="jsb", root=str(tmp_path), task="sequence",
                                      split_seed=1, jsb=JSBConfig(chorales=20)))
    assert other.ids == rolls.ids and list(other.split) != list(rolls.split)
    summary = rolls.summary()
    assert summary["data.sequences"] == 20 and summary["data.test_sequences"] == 4
    assert summary["data.steps"] == sum(len(r) for r in rolls.rolls)


def test_folds_partition_train_and_validation_and_never_hold_test(rolls) -> None:
    folds = roll_folds(rolls, 4, seed=3)
    test = set(rolls.rows("test"))
    held = np.concatenate([val for _, val in folds])
    assert sorted(held) == sorted(rolls.rows("train", "validation"))
    for train, val in folds:
        assert not set(train) & set(val) and not (set(train) | set(val)) & test
    assert [list(v) for _, v in roll_folds(rolls, 4, seed=3)] == [list(v) for _, v in folds]
    with pytest.raises(ValueError, match=r"cv\.folds=17 exceeds the 16"):
        roll_folds(rolls, 17, seed=0)


def test_batches_pad_each_roll_and_carry_its_length(rolls) -> None:
    rows = rolls.rows("train")
    module = RollDataModule(rolls, rows, rolls.rows("validation"), batch_size=5, seed=0)
    seen = 0
    for batch, lengths in module.train_dataloader():
        assert batch.shape[0] == len(lengths) and batch.shape[2] == 88
        assert batch.shape[1] == int(lengths.max())
        for i, n in enumerate(lengths):
            assert not batch[i, int(n):].any()
        seen += len(lengths)
    assert seen == len(rows)
    # A fresh module with the same seed shuffles the same way (a rerun sees the same batches).
    again = RollDataModule(rolls, rows, rows[:0], batch_size=5, seed=0)
    order = [lengths.tolist() for _, lengths in module.train_dataloader()]
    assert order == [lengths.tolist() for _, lengths in again.train_dataloader()]


def test_grouped_training_batches_are_the_plain_ones(rolls) -> None:
    rows = rolls.rows("train")
    plain = RollDataModule(rolls, rows, rows[:0], batch_size=5, seed=0).train_dataloader()
    grouped = RollDataModule(rolls, rows, rows[:0], batch_size=5, seed=0,
                             steps_per_execution=3).train_dataloader()
    assert len(grouped) == -(-len(plain) // 3)
    for _ in range(2):
        # as Lightning reads a loader with a length: len(plain) batches, not one more
        expected = [lengths.tolist() for _, lengths in islice(plain, len(plain))]
        assert [lengths.tolist() for group in grouped
                for _, lengths in group.batches] == expected


@pytest.fixture(scope="module")
def every_chorale(tmp_path_factory) -> tuple[Path, object]:
    """All of music21's chorales (parsed once, about 20 s)."""
    root = tmp_path_factory.mktemp("jsb_all")
    return root, piano_rolls(DatasetConfig(name="jsb", root=str(root), task="sequence"))


def _digest(roll: np.ndarray) -> str:
    return hashlib.sha256(str(roll.shape).encode() + roll.astype(bool).tobytes()).hexdigest()


def test_each_chorale_counts_once_in_the_split_and_in_the_folds(every_chorale) -> None:
    root, rolls = every_chorale
    # music21 numbers 371 chorales: 21 numbers repeat a file, 2 files repeat another's notes.
    digests = [_digest(roll) for roll in rolls.rolls]
    assert len(rolls.ids) == len(set(rolls.ids)) == len(set(digests)) == 348
    assert "bach/bwv69.6-a" in rolls.ids and "bach/bwv69.6" not in rolls.ids
    counts = {name: len(rolls.rows(name)) for name in ("train", "validation", "test")}
    assert counts == {"train": 209, "validation": 70, "test": 69}  # 60/20/20 of 348
    parts = defaultdict(set)
    for digest, part in zip(digests, rolls.split, strict=True):
        parts[digest].add(str(part))
    assert all(len(held) == 1 for held in parts.values())
    for k, seed in ((2, 0), (5, 1)):
        for train, val in roll_folds(rolls, k, seed):
            assert not {digests[i] for i in train} & {digests[i] for i in val}
    # The cache keeps music21's numbering, repeats included; they are dropped once read.
    assert cache_path(root, 1, None).is_file()
    again = piano_rolls(DatasetConfig(name="jsb", root=str(root), task="sequence"))
    assert again.ids == rolls.ids and list(again.split) == list(rolls.split)
