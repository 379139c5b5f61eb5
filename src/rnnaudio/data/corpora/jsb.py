"""JSB Chorales as 88-key piano rolls, parsed from the Bach chorales shipped with ``music21``.

Chung et al. (2014) modelled the chorales of Boulanger-Lewandowski et al. (2012): binary
piano rolls over the piano's 88 keys (MIDI 21..108), sampled once per quarter note. Here a
roll has one row per step of ``1 / steps_per_quarter`` quarter notes; a note sounds at step
``k`` when its onset is at or before the step's time ``k / steps_per_quarter`` and its end
after it, so a chorale sampled at quarter notes has (mostly) its four voices at every step
and passing notes between two sample times are not seen, as in the 2012 data.

``music21`` numbers 371 chorales, but its numbering names 20 files more than once (21
repeats: ``bwv36.4-2`` three times) and two pairs of files hold the same notes (``bwv274`` is
``bwv62.6``, ``bwv69.6`` is ``bwv69.6-a``). Each chorale counts once: :func:`distinct_rolls`
keeps the first of every repeated id and of every identical roll, in numbering order, so the
whole corpus is 348 chorales and no chorale can sit in two parts of the split or two folds.

Parsing the chorales takes a while, so :func:`load_jsb_rolls` caches the parsed rolls of the
numbering (repeats included) in one compressed ``.npz`` keyed by the ``music21`` version, the
resolution and the count; the repeats are dropped after the cache is read, so a cache written
before they were dropped still serves the same distinct chorales.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from music21.base import Music21Object
    from music21.stream import Stream

LOWEST_MIDI = 21  # A0, column 0
N_KEYS = 88  # up to C8 (MIDI 108), column 87
DEFAULT_CACHE = Path("data/cache/jsb")
_EPS = 1e-6  # quarter lengths are floats (or Fractions); tolerate rounding at step times

log = logging.getLogger(__name__)


def piano_roll(score: Stream, steps_per_quarter: int = 1) -> np.ndarray:
    """Binary roll ``(T, 88)`` of ``score``, ``T = ceil(duration in quarters × steps_per_quarter)``.

    Column ``c`` is MIDI pitch ``21 + c``; pitches outside 21..108 and rests are dropped.
    Notes of chords and of every part are merged (a roll has no voices).
    """
    if steps_per_quarter < 1:
        raise ValueError(f"steps_per_quarter={steps_per_quarter} must be >= 1")
    flat = score.flatten()
    n_steps = math.ceil(float(flat.highestTime) * steps_per_quarter - _EPS)
    roll = np.zeros((max(n_steps, 0), N_KEYS), dtype=bool)
    for element in flat.getElementsByClass(["Note", "Chord"]):
        start, stop = _sounding_steps(element, flat, steps_per_quarter)
        for pitch in element.pitches:
            column = pitch.midi - LOWEST_MIDI
            if 0 <= column < N_KEYS:
                roll[start:stop, column] = True
    return roll


def _sounding_steps(
    element: Music21Object, flat: Stream, steps_per_quarter: int
) -> tuple[int, int]:
    """Steps ``[start, stop)`` whose sample time lies in the element's ``[onset, end)``."""
    onset = float(flat.elementOffset(element)) * steps_per_quarter
    end = onset + float(element.duration.quarterLength) * steps_per_quarter
    return math.ceil(onset - _EPS), math.ceil(end - _EPS)


def chorale_ids() -> list[str]:
    """Ids of the Bach chorales in ``music21``'s corpus, in Riemenschneider order (371).

    The numbering repeats some files (350 distinct ids); :func:`distinct_rolls` drops them.
    """
    from music21 import corpus

    iterator = corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename")
    return [str(name) for name in iterator]


def cache_path(cache_dir: Path, steps_per_quarter: int, n: int | None) -> Path:
    """The ``.npz`` holding the rolls of one (music21 version, resolution, count)."""
    import music21

    count = "all" if n is None else str(n)
    return Path(cache_dir) / f"jsb_m21-{music21.__version__}_spq{steps_per_quarter}_n{count}.npz"


def load_jsb_rolls(
    n: int | None = None, steps_per_quarter: int = 1, cache_dir: Path | str = DEFAULT_CACHE
) -> list[tuple[str, np.ndarray]]:
    """``(chorale id, roll (T, 88) bool)`` for the distinct chorales among the first ``n``
    numbers of :func:`chorale_ids` (all when ``None``), in its order.

    Rolls are read from the cache when there, else parsed and written to it; then repeated
    ids and identical rolls are dropped (:func:`distinct_rolls`).
    """
    path = cache_path(Path(cache_dir), steps_per_quarter, n)
    if path.is_file():
        return distinct_rolls(_read_cache(path))
    from music21 import corpus

    ids = chorale_ids()[:n] if n is not None else chorale_ids()
    parsed = {name: piano_roll(corpus.parse(name), steps_per_quarter)
              for name in dict.fromkeys(ids)}  # a repeated id is parsed once
    rolls = [(name, parsed[name]) for name in ids]
    _write_cache(path, rolls)
    return distinct_rolls(rolls)


def roll_digest(roll: np.ndarray) -> str:
    """A hash of a roll's shape and notes: two rolls share it when they are identical."""
    roll = np.ascontiguousarray(roll, dtype=bool)
    return hashlib.sha256(f"{roll.shape}".encode() + roll.tobytes()).hexdigest()


def distinct_rolls(rolls: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """``rolls`` less every one whose id, or whose roll, an earlier one already has.

    The first of each is kept, so the order (and the result) is fixed by the input order.
    How many were dropped, and which, is logged.
    """
    ids: set[str] = set()
    first: dict[str, str] = {}  # roll digest -> id of its first holder
    kept: list[tuple[str, np.ndarray]] = []
    repeated_ids, same_rolls = 0, []
    for name, roll in rolls:
        if name in ids:
            repeated_ids += 1
            continue
        ids.add(name)
        digest = roll_digest(roll)
        if digest in first:
            same_rolls.append(f"{name} = {first[digest]}")
            continue
        first[digest] = name
        kept.append((name, roll))
    if repeated_ids or same_rolls:
        log.info("JSB: %d distinct chorales of %d; dropped %d repeated ids and %d identical "
                 "rolls%s", len(kept), len(rolls), repeated_ids, len(same_rolls),
                 f" ({', '.join(same_rolls)})" if same_rolls else "")
    return kept


def _write_cache(path: Path, rolls: list[tuple[str, np.ndarray]]) -> None:
    """All rolls in one compressed archive; written to a temporary name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"roll_{i}": roll for i, (_, roll) in enumerate(rolls)}
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, ids=np.array([name for name, _ in rolls]), **arrays)
    partial.replace(path)


def _read_cache(path: Path) -> list[tuple[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as archive:
        ids = [str(name) for name in archive["ids"]]
        return [(name, archive[f"roll_{i}"].astype(bool)) for i, name in enumerate(ids)]


def split_rolls(
    ids: list[str], seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> tuple[list[str], list[str], list[str]]:
    """Disjoint (train, valid, test) chorale ids: a seeded shuffle of the sorted ids, cut by
    ``fractions`` (rounded; the test part takes the remainder). Same ids and seed, same split.

    The ids must be distinct (:func:`distinct_rolls`): a repeated id would sit in two parts.
    """
    repeated = sorted(name for name, count in Counter(ids).items() if count > 1)
    if repeated:
        raise ValueError(f"split_rolls needs distinct ids; repeated: {repeated[:5]}")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions={fractions} must be three non-negative numbers summing to 1")
    order = sorted(ids)
    np.random.default_rng(seed).shuffle(order)
    n_train = round(fractions[0] * len(order))
    n_valid = round(fractions[1] * len(order))
    return order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:]
