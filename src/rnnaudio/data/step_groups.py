"""Consecutive training batches handed to Lightning as one group: several optimiser steps
per pass of its loop.

Lightning's training loop costs about 0.25 ms of CPU per batch it fetches (its data fetcher,
progress counters, callback and logger hooks), whatever the model: 5-10 % of a small
recurrent model's step on the CPU (``bench/overhead.py``). Keras amortises the same cost
with ``steps_per_execution``; here the training loader yields a :class:`StepGroup` of up to
``steps_per_execution`` batches and the module takes one step per batch of the group
(:class:`~rnnaudio.training.manual_step.ManualStepModule`). The batches, their order and
every optimiser step are the ones the plain loader gives, and metrics are logged at the same
steps; what counts passes of the loop counts groups (``on_train_batch_start``/``end``,
the progress bar, ``limit_train_batches``, ``val_check_interval``), and on a GPU the
prefetcher holds one group ahead instead of one batch. A fit trains on one device
(``trainer.devices=1``), so no loader is sharded across devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset, default_convert

BatchT = TypeVar("BatchT")


@dataclass
class StepGroup(Generic[BatchT]):
    """Batches for consecutive optimiser steps, in order. A dataclass, so that Lightning
    moves it to the device whole (``apply_to_collection`` recurses into its field)."""

    batches: list[BatchT]


class DeferredBatch(Generic[BatchT]):
    """A batch gathered only when its step takes it: :meth:`gather` is what a loader over
    ``dataset`` would have yielded for ``positions``.

    Lightning fetches the next group before it runs the current one, so a batch gathered
    with its group waits ``size`` to ``2 * size - 1`` steps (8-15 by default) for its own;
    on the CPU it has left the cache by then, and reading it back cost an rnn-64 step about
    0.2 ms (``bench/overhead.py``'s ``eager_groups``). A plain class, not a dataclass:
    Lightning's device transfer leaves it as it is.
    """

    __slots__ = ("dataset", "positions")

    def __init__(self, dataset: Dataset[BatchT], positions: torch.Tensor) -> None:
        self.dataset = dataset
        self.positions = positions

    def gather(self) -> BatchT:
        # The step runs inside Lightning's autocast context (bf16-mixed); the loader's
        # fetch, and any augmentation in it, runs outside one, and must give the same batch.
        with torch.autocast("cpu", enabled=False):
            return default_convert(self.dataset[self.positions])


class Deferring(Dataset[DeferredBatch[BatchT]]):
    """``dataset`` whose items are deferred batches: a loader over it draws its batches'
    positions (and its own seed) exactly as over ``dataset``, and gathers nothing. For a
    loader without worker processes: a worker would pickle ``dataset`` into every item."""

    def __init__(self, dataset: Dataset[BatchT]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, positions: torch.Tensor) -> DeferredBatch[BatchT]:
        return DeferredBatch(self.dataset, positions)


def gathered(batch: BatchT | DeferredBatch[BatchT]) -> BatchT:
    """``batch`` itself, or the batch a :class:`DeferredBatch` stands for."""
    return batch.gather() if isinstance(batch, DeferredBatch) else batch


class StepGroups(Generic[BatchT]):
    """Iterates ``loader`` in groups of ``size`` consecutive batches; the last may be
    shorter.

    Each pass starts a new pass of ``loader`` and takes exactly ``len(loader)`` batches, as
    Lightning takes them from a loader with a length. It never asks for one more: the end of
    a pass can draw from the loader's generator (``RandomSampler`` draws its next
    permutation there), and the next epoch's shuffle would differ from the ungrouped fit's.
    """

    def __init__(self, loader: DataLoader, size: int) -> None:
        if size < 1:
            raise ValueError(f"a group holds at least one batch, not {size}")
        self.loader = loader
        self.size = size

    def __iter__(self) -> Iterator[StepGroup[BatchT]]:
        batches, total = iter(self.loader), len(self.loader)
        for first in range(0, total, self.size):
            yield StepGroup(list(islice(batches, min(self.size, total - first))))

    def __len__(self) -> int:
        return -(-len(self.loader) // self.size)


def step_groups(loader: DataLoader, size: int) -> DataLoader | StepGroups:
    """``loader`` itself for one step per group, else its :class:`StepGroups`."""
    return loader if size == 1 else StepGroups(loader, size)
