"""Groups of consecutive batches: the plain loader's batches, in its order, pass after pass."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from rnnaudio.config import AugmentConfig, FeatureConfig
from rnnaudio.data.augment import FeatureAugment
from rnnaudio.data.datamodule import FoldDataModule, batch_loader
from rnnaudio.data.step_groups import DeferredBatch, StepGroup, StepGroups, gathered, step_groups


def _loader(clips: int = 22):
    features = torch.randn(clips, 3, 2).half()
    return batch_loader(features, torch.arange(clips), np.arange(clips), 4, shuffle_seed=3)


def _labels(batches) -> list[list[int]]:
    return [batch[1].tolist() for batch in batches]


def test_groups_hold_the_loaders_batches_in_order_and_the_last_is_short() -> None:
    plain, grouped = _loader(), StepGroups(_loader(), 4)
    assert len(plain) == 6 and len(grouped) == 2
    for _ in range(3):  # each pass reshuffles as the plain loader does
        groups = list(grouped)
        assert all(isinstance(group, StepGroup) for group in groups)
        assert [len(group.batches) for group in groups] == [4, 2]
        assert _labels(b for group in groups for b in group.batches) == _labels(plain)


def test_a_pass_never_reads_past_the_loaders_length() -> None:
    """A RandomSampler draws its next permutation when asked past its end: a pass that did
    would shuffle the next epoch otherwise than Lightning's pass of the plain loader."""
    plain, grouped = _loader(24), StepGroups(_loader(24), 6)
    for _ in range(3):
        lightning_pass = [next(batches) for batches in [iter(plain)] for _ in range(len(plain))]
        assert _labels(b for group in grouped for b in group.batches) == _labels(lightning_pass)


def test_a_shuffled_torch_loader_is_not_read_past_its_end() -> None:
    """Read past its end, a RandomSampler (10 items, batches of 5) draws the next epoch's
    permutation once more."""
    def loader() -> DataLoader:
        return DataLoader(range(10), batch_size=5, shuffle=True,
                          generator=torch.Generator().manual_seed(0))
    plain, grouped = loader(), StepGroups(loader(), 2)
    for _ in range(3):
        lightning_pass = [next(batches).tolist() for batches in [iter(plain)] for _ in range(2)]
        assert [b.tolist() for group in grouped for b in group.batches] == lightning_pass


def test_one_step_per_group_is_the_plain_loader_and_none_is_an_error() -> None:
    loader = _loader()
    assert step_groups(loader, 1) is loader
    assert isinstance(step_groups(loader, 2), StepGroups)
    with pytest.raises(ValueError, match="at least one batch, not 0"):
        StepGroups(loader, 0)


def _augmented_loader(deferred: bool) -> DataLoader:
    """MFCC features with noise mixed in (a matmul through the DCT, which autocast would
    run in bf16) and spectrogram masks (draws from the global generator)."""
    features = torch.randn(22, 30, 8, generator=torch.Generator().manual_seed(9)).half()
    cfg = AugmentConfig(spec_time_mask=5, spec_freq_mask=2, noise_snr_db=[0.0, 10.0])
    noise = [torch.randn(50, 8, generator=torch.Generator().manual_seed(1))]
    augment = FeatureAugment(cfg, FeatureConfig(n_mfcc=8, n_mels=8), 16000, noise)
    return batch_loader(features, torch.arange(22), np.arange(22), 4, shuffle_seed=3,
                        augment=augment, deferred=deferred)


def test_deferred_batches_gather_the_plain_loaders_batches_and_draws() -> None:
    """Same positions, same augmentation draws, same global random state, pass after pass,
    when each batch is gathered only as a step takes it: inside the step's autocast."""
    plain, deferred = _augmented_loader(False), StepGroups(_augmented_loader(True), 4)
    for _ in range(3):
        torch.manual_seed(0)
        expected = list(plain)
        after_plain = torch.rand(1)
        torch.manual_seed(0)
        groups = list(deferred)  # Lightning fetches ahead: every position drawn first
        batches = [one for group in groups for one in group.batches]
        assert all(isinstance(one, DeferredBatch) for one in batches)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = [gathered(one) for one in batches]
        assert torch.equal(after_plain, torch.rand(1))
        for one, want in zip(got, expected, strict=True):
            assert type(one) is type(want)
            assert all(torch.equal(a, b) for a, b in zip(one, want, strict=True))


class OwnTransfer(pl.LightningModule):
    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch


class OwnBeforeTransfer(pl.LightningModule):
    def on_before_batch_transfer(self, batch, dataloader_idx):
        return batch


class DataAfterTransfer(FoldDataModule):
    def on_after_batch_transfer(self, batch, dataloader_idx):
        return batch


def _fold_data(cls: type[FoldDataModule] = FoldDataModule) -> FoldDataModule:
    rows = np.arange(12)
    return cls(torch.randn(12, 5, 2).half(), torch.arange(12) % 2, rows, rows[:4], 4, seed=0,
               steps_per_execution=2)


def _first_group_deferred(data: FoldDataModule, trainer: pl.Trainer,
                          module: pl.LightningModule) -> bool:
    data.trainer = trainer
    trainer.strategy.connect(module)
    return any(isinstance(one, DeferredBatch)
               for one in next(iter(data.train_dataloader())).batches)


@pytest.mark.parametrize(("precision", "module", "data_cls", "deferred"), [
    ("32-true", pl.LightningModule(), FoldDataModule, True),
    ("bf16-mixed", pl.LightningModule(), FoldDataModule, True),
    ("bf16-true", pl.LightningModule(), FoldDataModule, False),  # it converts each input
    ("32-true", OwnTransfer(), FoldDataModule, False),  # the hook would see no tensors
    ("32-true", OwnBeforeTransfer(), FoldDataModule, False),
    ("32-true", pl.LightningModule(), DataAfterTransfer, False),
])
def test_a_cpu_trainer_gets_deferred_groups_when_nothing_touches_a_batch_on_its_way(
    precision: str, module: pl.LightningModule, data_cls: type[FoldDataModule], deferred: bool
) -> None:
    data = _fold_data(data_cls)
    group = next(iter(data.train_dataloader()))
    assert not any(isinstance(one, DeferredBatch) for one in group.batches)  # no trainer
    trainer = pl.Trainer(accelerator="cpu", precision=precision, logger=False,
                         enable_progress_bar=False)
    assert _first_group_deferred(data, trainer, module) is deferred
    assert gathered(next(iter(data.train_dataloader())).batches[0])[0].dtype == torch.float32


def test_another_device_gets_whole_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU (here a strategy that reports one) Lightning copies the group at once."""
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    monkeypatch.setattr(type(trainer.strategy), "root_device",
                        property(lambda _: torch.device("cuda", 0)))
    assert not _first_group_deferred(_fold_data(), trainer, pl.LightningModule())
