"""The hand-taken step trains exactly as Lightning's automatic optimisation does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import Logger
from pytorch_lightning.plugins.precision import MixedPrecision

from rnnaudio.config import ModelConfig, TrainerConfig
from rnnaudio.data.datamodule import Batch, FoldDataModule, unpack_batch
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.manual_step import step_dispatch_is_silent
from rnnaudio.training.module import ClassificationModule
from rnnaudio.training.trainer import build_trainer


class AutomaticModule(ClassificationModule):
    """The same module under Lightning's automatic optimisation, clipped by the trainer."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization = True
        self.gradient_clip_val = None  # the trainer clips, not the module's hook

    def training_step(self, batch: Batch, _: int) -> torch.Tensor:
        features, labels, lengths = unpack_batch(batch)
        return F.cross_entropy(self.model(features, lengths), labels)


class GradNorms(pl.Callback):
    """The total gradient norm each optimiser step is about to apply."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.norms.append(_total_norm(pl_module))


def _data(steps_per_execution: int = 1) -> FoldDataModule:
    generator = torch.Generator().manual_seed(0)
    features = (3 * torch.randn(48, 9, 4, generator=generator)).half()
    rows = np.arange(48)
    return FoldDataModule(features, torch.arange(48) % 3, rows, rows[:8], batch_size=8, seed=0,
                          steps_per_execution=steps_per_execution)


def _assert_same_weights(a: pl.LightningModule, b: pl.LightningModule) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def _mixed(precision: str) -> list[MixedPrecision]:
    """Lightning's autocast plugin on the CPU; 16-bit with a real gradient scaler."""
    scaler = torch.amp.GradScaler("cpu") if precision == "16-mixed" else None
    return [MixedPrecision(precision, "cpu", scaler=scaler)]


def _module(cls: type[ClassificationModule], clip: float = 0.05) -> ClassificationModule:
    model = AudioClassifier(4, 3, ModelConfig(cell="gru", hidden_size=8))
    return cls(model, 3, lr=5e-2, weight_decay=1e-2, gradient_clip_val=clip)


def _fit(module_cls: type[ClassificationModule], clip: float, root: Path,
         callbacks: list[pl.Callback] = (), plugins: list | None = None,
         steps_per_execution: int = 1) -> ClassificationModule:
    torch.manual_seed(0)
    module = _module(module_cls, clip)
    if plugins is None:
        cfg = TrainerConfig(accelerator="cpu", max_epochs=2, progress=False)
        trainer = build_trainer(cfg, None, list(callbacks), root)
    else:
        trainer = pl.Trainer(accelerator="cpu", max_epochs=2, plugins=plugins, logger=False,
                             callbacks=list(callbacks), enable_progress_bar=False,
                             enable_checkpointing=False, default_root_dir=root,
                             deterministic=True, num_sanity_val_steps=0)
    if module.automatic_optimization:
        trainer.gradient_clip_val = clip
    trainer.fit(module, datamodule=_data(steps_per_execution))
    assert trainer.global_step == 12  # 6 batches x 2 epochs, one optimiser step each
    return module


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_manual_step_equals_automatic_optimisation(tmp_path: Path, clip: float) -> None:
    manual = _fit(ClassificationModule, clip, tmp_path / "manual")
    automatic = _fit(AutomaticModule, clip, tmp_path / "automatic")
    _assert_same_weights(manual, automatic)


def test_callbacks_see_the_gradients_the_automatic_loop_showed_them(tmp_path: Path) -> None:
    manual, automatic = GradNorms(), GradNorms()
    _fit(ClassificationModule, 0.05, tmp_path / "manual", [manual])
    _fit(AutomaticModule, 0.05, tmp_path / "automatic", [automatic])
    assert manual.norms == automatic.norms
    assert min(manual.norms) > 0.05  # not yet clipped, and the clip binds on every step


def test_a_16_bit_scaler_unscales_before_the_clip(tmp_path: Path) -> None:
    """With a loss scale of 2^16, a clip of the scaled gradients would clip nothing."""
    manual = _fit(ClassificationModule, 0.05, tmp_path / "manual", plugins=_mixed("16-mixed"))
    automatic = _fit(AutomaticModule, 0.05, tmp_path / "automatic", plugins=_mixed("16-mixed"))
    _assert_same_weights(manual, automatic)


class Listener(pl.Callback):
    """Hears every backward, and changes nothing."""

    def __init__(self) -> None:
        self.backwards = 0

    def on_after_backward(self, trainer, pl_module) -> None:
        self.backwards += 1


def test_the_step_skips_lightnings_dispatch_only_when_nothing_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatched = []
    pre_backward = pl.plugins.precision.Precision.pre_backward
    monkeypatch.setattr(pl.plugins.precision.Precision, "pre_backward",
                        lambda *args: dispatched.append(1) or pre_backward(*args))
    quiet = _fit(ClassificationModule, 0.05, tmp_path / "quiet")
    assert quiet.silent_dispatch and not dispatched
    listener = Listener()
    heard = _fit(ClassificationModule, 0.05, tmp_path / "heard", [listener])
    assert not heard.silent_dispatch and len(dispatched) == listener.backwards == 12
    _assert_same_weights(quiet, heard)
    # The loops' progress (what a checkpoint resumes from) counts the same steps.
    assert quiet.trainer.fit_loop.state_dict() == heard.trainer.fit_loop.state_dict()


class PreStepNorms(ClassificationModule):
    """The total gradient norm each optimiser step's pre-hook sees."""

    def on_train_start(self) -> None:
        super().on_train_start()
        self.norms: list[float] = []
        self.optimizers().optimizer.register_step_pre_hook(
            lambda *_: self.norms.append(_total_norm(self)))


def _total_norm(module: pl.LightningModule) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g) for g in grads])))


def test_the_clip_comes_after_the_optimisers_step_pre_hooks_on_either_path(
    tmp_path: Path
) -> None:
    """Lightning clips inside the optimiser's step, after its pre-hooks; so does the step
    without the dispatch."""
    quiet = _fit(PreStepNorms, 0.05, tmp_path / "quiet")
    heard = _fit(PreStepNorms, 0.05, tmp_path / "heard", [Listener()])
    assert quiet.silent_dispatch and not heard.silent_dispatch
    assert quiet.norms == heard.norms and min(quiet.norms) > 0.05  # seen before the clip


def test_a_gradient_scaler_keeps_lightnings_dispatch(tmp_path: Path) -> None:
    module = _fit(ClassificationModule, 0.05, tmp_path / "scaled", plugins=_mixed("16-mixed"))
    assert not module.silent_dispatch


class OwnBackwardHook(ClassificationModule):
    def on_after_backward(self) -> None:
        pass


class OwnBeforeBackward(ClassificationModule):
    def on_before_backward(self, loss) -> None:
        pass


class OwnBackward(ClassificationModule):
    def backward(self, loss, *args, **kwargs) -> None:
        loss.backward(*args, **kwargs)


class OwnClip(ClassificationModule):
    def on_before_optimizer_step(self, optimizer) -> None:
        super().on_before_optimizer_step(optimizer)


class OwnManualBackward(ClassificationModule):
    def manual_backward(self, loss, *args, **kwargs) -> None:
        super().manual_backward(loss, *args, **kwargs)


class OwnClipGradients(ClassificationModule):
    def clip_gradients(self, optimizer, *args, **kwargs) -> None:
        super().clip_gradients(optimizer, *args, **kwargs)


class FusedAdamW(ClassificationModule):
    """An optimiser that unscales in its own step, which Lightning's autocast plugin
    refuses to clip for."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, fused=True)


@pytest.mark.parametrize(("trainer_args", "module_cls", "silent"), [
    ({}, ClassificationModule, True),
    ({"plugins": _mixed("bf16-mixed")}, ClassificationModule, True),
    ({"callbacks": [pl.callbacks.ModelCheckpoint(), pl.callbacks.EarlyStopping("val_loss")]},
     ClassificationModule, True),
    ({"plugins": _mixed("16-mixed")}, ClassificationModule, False),
    ({"profiler": "simple"}, ClassificationModule, False),
    ({"callbacks": [pl.callbacks.LambdaCallback(on_before_backward=lambda *a: None)]},
     ClassificationModule, False),
    ({"strategy": "ddp", "devices": 1}, ClassificationModule, False),
    ({"precision": "bf16-true"}, ClassificationModule, False),
    ({"precision": "64-true"}, ClassificationModule, False),
    ({}, OwnBackwardHook, False),
    ({}, OwnBeforeBackward, False),
    ({}, OwnBackward, False),
    ({}, OwnClip, False),
    ({}, OwnManualBackward, False),
    ({}, OwnClipGradients, False),
    ({"gradient_clip_val": 0.5}, ClassificationModule, False),
    ({"gradient_clip_algorithm": "norm"}, ClassificationModule, False),
])
def test_the_dispatch_is_silent_only_when_nothing_but_the_clip_would_hear_it(
    tmp_path: Path, trainer_args: dict, module_cls: type[ClassificationModule], silent: bool
) -> None:
    trainer = pl.Trainer(accelerator="cpu", logger=False, default_root_dir=tmp_path,
                         **trainer_args)  # Lightning's progress bar and checkpoint included
    assert step_dispatch_is_silent(trainer, _module(module_cls)) is silent


def test_a_clip_value_at_or_below_zero_clips_nothing_on_either_path(tmp_path: Path) -> None:
    unclipped = _fit(ClassificationModule, 0.0, tmp_path / "unclipped")
    quiet = _fit(ClassificationModule, -1.0, tmp_path / "quiet")
    heard = _fit(ClassificationModule, -1.0, tmp_path / "heard", [Listener()])
    assert quiet.silent_dispatch and not heard.silent_dispatch
    _assert_same_weights(quiet, unclipped)
    _assert_same_weights(heard, unclipped)


def test_a_fused_optimiser_keeps_lightnings_refusal_to_clip_for_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not allow for gradient clipping"):
        _fit(FusedAdamW, 0.05, tmp_path / "fused", plugins=_mixed("bf16-mixed"))


class BatchHooks(pl.Callback):
    """How often the loop's batch hook and the optimiser-step hook ran; the epoch's loss."""

    def __init__(self) -> None:
        self.batch_ends = self.steps = 0
        self.train_loss: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batch_ends += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.steps += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train_loss.append(float(trainer.callback_metrics["train_loss"]))


@pytest.mark.parametrize("steps_per_execution", [4, 6, 20])
def test_grouped_batches_train_exactly_as_one_batch_per_loop_pass(
    tmp_path: Path, steps_per_execution: int
) -> None:
    """6 batches an epoch: groups of 4 and 2, one group of 6, one short group of 6."""
    one, grouped = BatchHooks(), BatchHooks()
    plain = _fit(ClassificationModule, 0.05, tmp_path / "one", [one])
    fast = _fit(ClassificationModule, 0.05, tmp_path / "grouped", [grouped],
                steps_per_execution=steps_per_execution)
    _assert_same_weights(fast, plain)
    assert grouped.steps == one.steps == 12 and grouped.train_loss == one.train_loss
    assert (one.batch_ends, grouped.batch_ends) == (12, 2 * -(-6 // steps_per_execution))


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_grouped_batches_under_autocast_use_each_steps_weights(
    tmp_path: Path, precision: str
) -> None:
    """Lightning opens one autocast context per pass of its loop, so a whole group runs in
    one. Autocast's weight cache would keep each weight's low-precision copy for that long,
    and every step of a group would run its forward with the weights the group started
    from; Lightning's plugin opens the context without the cache (``cache_enabled=False``),
    and this test fails if an upgrade turns it back on."""
    plain = _fit(ClassificationModule, 0.05, tmp_path / "one", plugins=_mixed(precision))
    fast = _fit(ClassificationModule, 0.05, tmp_path / "grouped", plugins=_mixed(precision),
                steps_per_execution=6)
    _assert_same_weights(fast, plain)


class Steps(Logger):
    """The step each metric is logged at, as an MLflow logger would receive it."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[str, list[int]] = {}

    name, version = "steps", 0

    def log_metrics(self, metrics, step=None) -> None:
        for key in metrics:
            self.steps.setdefault(key, []).append(step)

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


def test_metrics_are_logged_at_the_same_steps_grouped_or_not(tmp_path: Path) -> None:
    logged = []
    for steps_per_execution in (1, 4):
        logger = Steps()
        trainer = build_trainer(TrainerConfig(accelerator="cpu", max_epochs=2, progress=False),
                                logger, [], tmp_path / str(steps_per_execution))
        model = AudioClassifier(4, 3, ModelConfig(cell="gru", hidden_size=8))
        trainer.fit(ClassificationModule(model, 3, lr=5e-2, weight_decay=0.0),
                    datamodule=_data(steps_per_execution))
        logged.append(logger.steps)
    assert logged[0] == logged[1] and logged[0]["train_loss"] == [5, 11]
