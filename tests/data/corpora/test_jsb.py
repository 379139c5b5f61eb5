"""JSB Chorales rolls: the builder on hand-made streams and on real chorales from music21."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

music21 = pytest.importorskip("music21")
from music21 import chord, corpus, note, pitch, stream  # noqa: E402

from rnnaudio.data.corpora.jsb import (  # noqa: E402
    N_KEYS,
    cache_path,
    distinct_rolls,
    load_jsb_rolls,
    piano_roll,
    split_rolls,
)


def _note(midi: int, quarters: float) -> note.Note:
    return note.Note(pitch.Pitch(midi=midi), quarterLength=quarters)


def _known_score() -> stream.Score:
    """Two parts over 4 quarters: C4, E4 (half), a G4+C5 chord, a held A0, an eighth D4 at
    1.5, and B-1 / C#8, out of the piano's range."""
    upper, lower = stream.Part(), stream.Part()
    upper.insert(0.0, _note(60, 1.0))
    upper.insert(1.0, _note(64, 2.0))
    upper.insert(3.0, chord.Chord([pitch.Pitch(midi=67), pitch.Pitch(midi=72)], quarterLength=1))
    upper.insert(1.5, _note(62, 0.5))
    lower.insert(0.0, _note(21, 4.0))
    lower.insert(0.0, _note(20, 1.0))
    lower.insert(2.0, _note(109, 1.0))
    score = stream.Score()
    score.insert(0, upper)
    score.insert(0, lower)
    return score


def _expected(steps_per_quarter: int, spans: dict[int, tuple[float, float]]) -> np.ndarray:
    roll = np.zeros((4 * steps_per_quarter, N_KEYS), dtype=bool)
    for midi, (start, stop) in spans.items():
        roll[round(start * steps_per_quarter):round(stop * steps_per_quarter), midi - 21] = True
    return roll


def test_known_stream_at_quarter_resolution() -> None:
    # The eighth D4 at 1.5 lies between two sample times and is not seen.
    expected = _expected(1, {21: (0, 4), 60: (0, 1), 64: (1, 3), 67: (3, 4), 72: (3, 4)})
    roll = piano_roll(_known_score())
    assert roll.dtype == bool
    np.testing.assert_array_equal(roll, expected)


def test_known_stream_at_eighth_resolution() -> None:
    spans = {21: (0, 4), 60: (0, 1), 64: (1, 3), 62: (1.5, 2), 67: (3, 4), 72: (3, 4)}
    np.testing.assert_array_equal(piano_roll(_known_score(), 2), _expected(2, spans))


def test_pitch_to_column_mapping() -> None:
    score = stream.Stream([_note(21, 1.0), _note(108, 1.0)])
    roll = piano_roll(score)
    assert roll.shape == (2, N_KEYS)
    assert np.flatnonzero(roll[0]).tolist() == [0]
    assert np.flatnonzero(roll[1]).tolist() == [87]


@pytest.fixture(scope="module")
def three_chorales(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    cache = tmp_path_factory.mktemp("jsb")
    return cache, load_jsb_rolls(3, cache_dir=cache)


def test_real_chorales_are_binary_88_key_rolls(three_chorales: tuple[Path, list]) -> None:
    _, rolls = three_chorales
    assert len(rolls) == 3
    assert len({name for name, _ in rolls}) == 3
    for name, roll in rolls:
        assert roll.dtype == bool and roll.ndim == 2 and roll.shape[1] == N_KEYS
        quarters = float(corpus.parse(name).flatten().highestTime)
        assert abs(roll.shape[0] - quarters) <= 1
        voices = roll.sum(axis=1)
        assert np.mean(voices == 4) > 0.7  # SATB: four notes at most sample times


def test_resolution_doubles_length(three_chorales: tuple[Path, list]) -> None:
    cache, rolls = three_chorales
    doubled = load_jsb_rolls(3, steps_per_quarter=2, cache_dir=cache)
    for (name, roll), (name2, roll2) in zip(rolls, doubled, strict=True):
        assert name == name2
        assert abs(roll2.shape[0] - 2 * roll.shape[0]) <= 1
        np.testing.assert_array_equal(roll2[::2][: len(roll)], roll[: len(roll2[::2])])


def test_cache_round_trip(three_chorales: tuple[Path, list]) -> None:
    cache, rolls = three_chorales
    path = cache_path(cache, 1, 3)
    assert path.is_file() and music21.__version__ in path.name
    again = load_jsb_rolls(3, cache_dir=cache)  # read back from the .npz
    assert [name for name, _ in again] == [name for name, _ in rolls]
    for (_, a), (_, b) in zip(again, rolls, strict=True):
        assert a.dtype == bool
        np.testing.assert_array_equal(a, b)


def test_split_is_deterministic_and_disjoint() -> None:
    ids = [f"bach/bwv{i}" for i in range(100)]
    train, valid, test = split_rolls(ids, seed=3)
    assert (len(train), len(valid), len(test)) == (60, 20, 20)
    assert sorted(train + valid + test) == sorted(ids)
    assert split_rolls(list(reversed(ids)), seed=3) == (train, valid, test)
    assert split_rolls(ids, seed=4) != (train, valid, test)
    with pytest.raises(ValueError, match="fractions"):
        split_rolls(ids, seed=0, fractions=(0.5, 0.2, 0.2))


def test_split_refuses_repeated_ids() -> None:
    with pytest.raises(ValueError, match=r"distinct ids.*bwv1"):
        split_rolls(["bach/bwv1", "bach/bwv2", "bach/bwv1"], seed=0)


def test_repeated_ids_and_identical_rolls_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    # bwv274 holds the notes of bwv62.6; music21's numbering names bwv267 twice.
    names = ["bach/bwv62.6", "bach/bwv267", "bach/bwv274", "bach/bwv267"]
    parsed = {name: piano_roll(corpus.parse(name)) for name in set(names)}
    np.testing.assert_array_equal(parsed["bach/bwv62.6"], parsed["bach/bwv274"])
    with caplog.at_level(logging.INFO, logger="rnnaudio.data.corpora.jsb"):
        kept = distinct_rolls([(name, parsed[name]) for name in names])
    assert [name for name, _ in kept] == ["bach/bwv62.6", "bach/bwv267"]
    assert "dropped 1 repeated ids and 1 identical rolls" in caplog.text
    assert "bach/bwv274 = bach/bwv62.6" in caplog.text
