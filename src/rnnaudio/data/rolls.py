"""Piano rolls as the data of the ``sequence`` task: the chorales, their split, folds, batches.

The classification corpora become one feature tensor (:mod:`rnnaudio.data.prepare`); rolls
have a length each, so they stay a list and are padded per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.model_selection import KFold
from torch.utils.data import DataLoader

from rnnaudio.config import DatasetConfig
from rnnaudio.data.corpora.jsb import N_KEYS, load_jsb_rolls, split_rolls
from rnnaudio.data.step_groups import StepGroups, step_groups

RollBatch = tuple[torch.Tensor, torch.Tensor]
SPLITS = ("train", "validation", "test")


def pad_rolls(rolls: list[np.ndarray]) -> RollBatch:
    """Rolls ``(T_i, K)`` to a zero-padded float batch ``(B, T_max, K)`` and ``lengths (B,)``.

    Usable as a ``DataLoader`` ``collate_fn`` over a list of rolls.
    """
    if not rolls:
        raise ValueError("pad_rolls needs at least one roll")
    lengths = torch.tensor([len(roll) for roll in rolls], dtype=torch.long)
    batch = torch.zeros(len(rolls), int(lengths.max()), rolls[0].shape[1])
    for i, roll in enumerate(rolls):
        batch[i, : len(roll)] = torch.as_tensor(roll, dtype=torch.float32)
    return batch, lengths


@dataclass(frozen=True)
class PianoRolls:
    """Every chorale as a binary roll ``(T_i, 88)``; ``split[i]`` is its part of the corpus."""

    ids: list[str]
    rolls: list[np.ndarray]
    split: np.ndarray  # "train" | "validation" | "test", one per roll

    n_keys: int = N_KEYS

    def rows(self, *splits: str) -> np.ndarray:
        """Indices of the rolls in ``splits``, in corpus order."""
        return np.flatnonzero(np.isin(self.split, splits))

    def take(self, rows: np.ndarray) -> list[np.ndarray]:
        return [self.rolls[i] for i in rows]

    def summary(self) -> dict[str, int]:
        """Counts logged beside the config, as a classification run logs its clips."""
        counts = {f"data.{name}_sequences": len(self.rows(name)) for name in SPLITS}
        return {"data.sequences": len(self.rolls), **counts,
                "data.steps": int(sum(len(roll) for roll in self.rolls)),
                "data.keys": self.n_keys, "cv.scheme": "kfold"}


def piano_rolls(cfg: DatasetConfig) -> PianoRolls:
    """The distinct chorales of ``cfg`` (rolls cached under ``cfg.root``), split by
    ``cfg.jsb.split`` with ``cfg.split_seed``.

    Repeated files and identical rolls are dropped before the split (:func:`load_jsb_rolls`),
    so the parts have the fractions of ``cfg.jsb.split`` (all chorales, 60/20/20: 209/70/69 of
    348) and no roll is in two parts.
    """
    jsb = cfg.jsb
    named = load_jsb_rolls(jsb.chorales, jsb.steps_per_quarter, cache_dir=Path(cfg.root))
    ids = [name for name, _ in named]
    parts = split_rolls(ids, cfg.split_seed, tuple(jsb.split))
    part_of = {name: split for split, names in zip(SPLITS, parts, strict=True) for name in names}
    return PianoRolls(ids, [roll for _, roll in named], np.array([part_of[i] for i in ids]))


def roll_folds(data: PianoRolls, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train rows, validation rows) over the train+validation chorales; the test
    chorales are never in a fold. A chorale is its own group: no speakers, no labels, and no
    two rolls are identical (:func:`piano_rolls`), so no chorale is on both sides of a fold."""
    rows = data.rows("train", "validation")
    if k > len(rows):
        raise ValueError(f"cv.folds={k} exceeds the {len(rows)} train+validation chorales")
    splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(rows[train], rows[val]) for train, val in splitter.split(rows)]


def roll_loader(data: PianoRolls, rows: np.ndarray, batch_size: int,
                shuffle_seed: int | None = None) -> DataLoader:
    """Padded batches of the rolls at ``rows``; shuffled by a seeded generator when asked."""
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return DataLoader(data.take(rows), batch_size=batch_size, shuffle=generator is not None,
                      generator=generator, collate_fn=pad_rolls, num_workers=0)


class RollDataModule(pl.LightningDataModule):
    """The training and validation chorales of one fold (no validation rows: a refit).

    Training batches come in groups of ``steps_per_execution`` (:class:`StepGroups`) when
    it is above 1.
    """

    def __init__(self, data: PianoRolls, train_rows: np.ndarray, val_rows: np.ndarray,
                 batch_size: int, seed: int, steps_per_execution: int = 1) -> None:
        super().__init__()
        self.data = data
        self.train_rows = train_rows
        self.val_rows = val_rows
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_execution = steps_per_execution

    def train_dataloader(self) -> DataLoader | StepGroups[RollBatch]:
        loader = roll_loader(self.data, self.train_rows, self.batch_size, self.seed)
        return step_groups(loader, self.steps_per_execution)

    def val_dataloader(self) -> DataLoader:
        return roll_loader(self.data, self.val_rows, self.batch_size)
