"""Batches by batched indexing: fixed-length pairs, variable-length triples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

from rnnaudio.data.datamodule import FoldDataModule, PositionBatches, batch_loader, unpack_batch


def cached(n: int = 10, time: int = 12, features: int = 3) -> torch.Tensor:
    return torch.randn(n, time, features, generator=torch.Generator().manual_seed(0)).half()


def test_fixed_length_batches_are_features_and_labels():
    x, labels = cached(), torch.arange(10)
    batch = next(iter(batch_loader(x, labels, np.array([4, 1, 7]), batch_size=8)))
    features, got_labels = batch
    assert features.dtype == torch.float32 and torch.equal(features, x[[4, 1, 7]].float())
    assert got_labels.tolist() == [4, 1, 7]
    assert unpack_batch(batch)[2] is None


def test_variable_length_batches_carry_lengths_and_stop_at_the_longest_clip():
    x, labels = cached(), torch.arange(10)
    lengths = torch.tensor([12, 3, 5, 9, 2, 12, 7, 1, 4, 6])
    loader = batch_loader(x, labels, np.array([1, 4, 8]), batch_size=8, lengths=lengths)
    features, got_labels, got_lengths = next(iter(loader))
    assert got_lengths.tolist() == [3, 2, 4]
    assert features.shape == (3, 4, 3)  # cut to the batch's longest clip
    assert torch.equal(features, x[[1, 4, 8], :4].float())
    assert unpack_batch((features, got_labels, got_lengths))[2] is got_lengths


def test_fold_datamodule_passes_lengths_to_both_loaders():
    lengths = torch.randint(1, 13, (10,), generator=torch.Generator().manual_seed(2))
    rows = np.arange(10)
    module = FoldDataModule(cached(), torch.arange(10), rows[:6], rows[6:], 4, seed=0,
                            lengths=lengths)
    for loader in (module.train_dataloader(), module.val_dataloader()):
        for features, labels, batch_lengths in loader:
            assert torch.equal(batch_lengths, lengths[labels])
            assert features.size(1) == int(batch_lengths.max())


def test_augmentation_is_for_shuffled_training_loaders_only():
    with pytest.raises(ValueError, match="augment needs shuffle_seed"):
        batch_loader(cached(), torch.arange(10), np.arange(10), 4,
                     augment=lambda x, lengths, generator: x)


@pytest.mark.parametrize("n", [5, 24, 23])
def test_position_batches_permute_afresh_each_pass(n):
    """The first pass is torch's BatchSampler(RandomSampler) with the same seed; each pass
    after it is the generator's next permutation."""
    ours = PositionBatches(n, 8, torch.Generator().manual_seed(4))
    torchs = BatchSampler(RandomSampler(range(n), generator=torch.Generator().manual_seed(4)),
                          batch_size=8, drop_last=False)
    assert len(ours) == len(torchs) and [b.tolist() for b in ours] == list(torchs)
    passes = PositionBatches(n, 8, torch.Generator().manual_seed(4))
    draws = torch.Generator().manual_seed(4)
    for _ in range(3):
        expected = [b.tolist() for b in torch.randperm(n, generator=draws).split(8)]
        assert [b.tolist() for b in passes] == expected
    in_order = BatchSampler(SequentialSampler(range(n)), batch_size=8, drop_last=False)
    assert [b.tolist() for b in PositionBatches(n, 8, None)] == list(in_order)
    assert list(PositionBatches(0, 8, None)) == [] and len(PositionBatches(0, 8, None)) == 0
