"""Batches of cached features for one fold, drawn by batched indexing.

On two CPU cores a worker process per loader costs more than it gives, and per-sample
``__getitem__`` plus collation costs more than the recurrent step for small models. So a
batch is one fancy-index into the cached ``(N, time, F)`` tensor, in the main process.
"""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


class IndexedBatches(Dataset):
    """Serves whole batches: ``dataset[list_of_rows]`` gives ``(features, labels)``.

    ``features`` ``(N, time, F)`` (float16 in the cache) come out as float32 ``(B, time, F)``.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, rows: np.ndarray) -> None:
        self.features = features
        self.labels = labels
        self.rows = torch.as_tensor(rows, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.rows[positions]
        return self.features[rows].float(), self.labels[rows]


def batch_loader(
    features: torch.Tensor,
    labels: torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> DataLoader:
    """A loader over ``rows``; shuffled by a generator of its own when a seed is given."""
    dataset = IndexedBatches(features, labels, rows)
    if shuffle_seed is None:
        order = SequentialSampler(dataset)
    else:
        order = RandomSampler(dataset, generator=torch.Generator().manual_seed(shuffle_seed))
    sampler = BatchSampler(order, batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=0)


class FoldDataModule(pl.LightningDataModule):
    """The training and validation rows of one fold over one cached feature tensor."""

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        train_rows: np.ndarray,
        val_rows: np.ndarray,
        batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.features = features
        self.labels = labels
        self.train_rows = train_rows
        self.val_rows = val_rows
        self.batch_size = batch_size
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        return batch_loader(
            self.features, self.labels, self.train_rows, self.batch_size, shuffle_seed=self.seed
        )

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.features, self.labels, self.val_rows, self.batch_size)
