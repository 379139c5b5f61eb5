"""Batches of cached features for one fold, drawn by batched indexing.

On two CPU cores a worker process per loader costs more than it gives, and per-sample
``__getitem__`` plus collation costs more than the recurrent step for small models. So a
batch is one fancy-index into the cached ``(N, time, F)`` tensor, in the main process.

A batch is ``(features, labels)`` for fixed-length clips, and ``(features, labels, lengths)``
when the clips carry their own lengths (``dataset.length=variable``): the model then reads
each clip's valid frames only. :func:`unpack_batch` reads either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from torch.utils.data import DataLoader, Dataset, Sampler

from rnnaudio.data.step_groups import Deferring, StepGroups, step_groups
from rnnaudio.hooks import listens

# Raw features (B, T, F), lengths (B,) or None, a generator -> augmented features (B, T, F).
Augment = Callable[[torch.Tensor, torch.Tensor | None, torch.Generator], torch.Tensor]

# Lightning's hooks that see (and may change) a batch between its loader and the step.
BATCH_TRANSFER_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device",
                        "on_after_batch_transfer")
# Offset between the sampler's seed and the augmentation's, so the two draw independently.
AUGMENT_SEED_OFFSET = 7919

Batch = tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def unpack_batch(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(features, labels, lengths)`` of either batch form; ``lengths`` None when fixed."""
    if len(batch) == 3:
        return batch  # type: ignore[return-value]
    features, labels = batch
    return features, labels, None


class IndexedBatches(Dataset):
    """Serves whole batches: ``dataset[positions]`` gives one :data:`Batch`.

    ``features`` ``(N, time, F)`` (float16 in the cache) come out as float32 ``(B, time, F)``;
    with ``lengths`` ``(N,)`` the batch is cut to its longest clip and carries the lengths.
    ``augment`` (training only) transforms each batch with draws from ``generator``.
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        rows: np.ndarray,
        lengths: torch.Tensor | None = None,
        augment: Augment | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if augment is not None and generator is None:
            raise ValueError("an augmented loader needs a generator for its draws")
        self.features = features
        self.labels = labels
        self.rows = torch.as_tensor(rows, dtype=torch.long)
        self.lengths = lengths
        self.augment = augment
        self.generator = generator

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions: torch.Tensor | list[int]) -> Batch:
        rows = self.rows[positions]
        # index_select gathers whole rows in half the time of features[rows] (68 against
        # 149 us for 64 clips of 101 x 40): advanced indexing takes a general path.
        features = torch.index_select(self.features, 0, rows).float()
        labels = self.labels[rows]
        lengths = None
        if self.lengths is not None:
            lengths = self.lengths[rows]
            # Frames past the batch's longest clip are padding for every clip: not computed.
            features = features[:, : int(lengths.max())]
        if self.augment is not None:
            features = self.augment(features, lengths, self.generator)
        return (features, labels) if lengths is None else (features, labels, lengths)


def batch_loader(
    features: torch.Tensor,
    labels: torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
    *,
    lengths: torch.Tensor | None = None,
    augment: Augment | None = None,
    deferred: bool = False,
) -> DataLoader:
    """A loader over ``rows``; shuffled by a generator of its own when a seed is given.

    ``augment`` needs ``shuffle_seed``: its draws come from a generator seeded from it, so a
    seed fixes the augmented batches too. ``deferred``: the loader yields deferred batches
    (:class:`~rnnaudio.data.step_groups.DeferredBatch`), the same batches in the same order,
    gathered (and augmented) only when a step gathers them.
    """
    generator = None
    if augment is not None:
        if shuffle_seed is None:
            raise ValueError("augment needs shuffle_seed: augmentation is for training loaders")
        generator = torch.Generator().manual_seed(shuffle_seed + AUGMENT_SEED_OFFSET)
    dataset = IndexedBatches(features, labels, rows, lengths, augment, generator)
    order = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    sampler = PositionBatches(len(dataset), batch_size, order)
    return DataLoader(Deferring(dataset) if deferred else dataset, sampler=sampler,
                      batch_size=None, num_workers=0)


class PositionBatches(Sampler[torch.Tensor]):
    """Positions ``0 .. n-1`` in batches of ``batch_size`` (the last may be shorter), as
    tensor slices: in order, or permuted afresh each pass by ``generator``.

    A pass draws one ``torch.randperm(n, generator=generator)``, as ``RandomSampler`` does
    when a pass starts, so the first pass equals ``BatchSampler(RandomSampler(...))``'s for
    the same seed; later passes can differ, as ``RandomSampler`` draws once more at the end
    of a pass whose last batch is short. No list of Python ints per batch (about 25 us).
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.generator is None:
            order = torch.arange(self.n)
        else:
            order = torch.randperm(self.n, generator=self.generator)
        return iter(order.split(self.batch_size) if self.n else ())  # no empty batch


class FoldDataModule(pl.LightningDataModule):
    """The training and validation rows of one fold over one cached feature tensor.

    ``lengths`` ``(N,)``: valid frames per clip (``dataset.length=variable``), passed on in
    every batch. ``augment``: applied to training batches only, never to validation.
    Training batches come in groups of ``steps_per_execution`` (:class:`StepGroups`) when
    it is above 1; validation batches one at a time. A group for a CPU trainer holds
    deferred batches (:class:`~rnnaudio.data.step_groups.DeferredBatch`), each gathered
    when its step comes; on a GPU the group is gathered whole, so that Lightning copies it
    to the device at once.
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        train_rows: np.ndarray,
        val_rows: np.ndarray,
        batch_size: int,
        seed: int,
        *,
        lengths: torch.Tensor | None = None,
        augment: Augment | None = None,
        steps_per_execution: int = 1,
    ) -> None:
        super().__init__()
        self.features = features
        self.labels = labels
        self.train_rows = train_rows
        self.val_rows = val_rows
        self.batch_size = batch_size
        self.seed = seed
        self.lengths = lengths
        self.augment = augment
        self.steps_per_execution = steps_per_execution

    def train_dataloader(self) -> DataLoader | StepGroups[Batch]:
        loader = batch_loader(
            self.features, self.labels, self.train_rows, self.batch_size,
            shuffle_seed=self.seed, lengths=self.lengths, augment=self.augment,
            deferred=self._defers_gathering(),
        )
        return step_groups(loader, self.steps_per_execution)

    def _defers_gathering(self) -> bool:
        """Groups for a CPU trainer whose batches need nothing on their way to the step:
        Lightning's batch hooks and its precision plugin's input conversion see the group,
        never the batches a deferred group gathers later."""
        trainer = self.trainer
        if self.steps_per_execution == 1 or trainer is None:
            return False
        module = trainer.lightning_module
        return (
            trainer.strategy.root_device.type == "cpu"
            and type(trainer.precision_plugin) in (Precision, MixedPrecision)
            and not any(listens(module, hook, pl.LightningModule)
                        or listens(self, hook, pl.LightningDataModule)
                        for hook in BATCH_TRANSFER_HOOKS)
        )

    def val_dataloader(self) -> DataLoader:
        return batch_loader(
            self.features, self.labels, self.val_rows, self.batch_size, lengths=self.lengths
        )
