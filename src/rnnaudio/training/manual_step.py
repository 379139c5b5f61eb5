"""The optimiser step every harness module takes: by hand, through Lightning's manual API."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.precision.amp import _optimizer_handles_unscaling
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.profilers import PassThroughProfiler
from pytorch_lightning.strategies import SingleDeviceStrategy

from rnnaudio.data.step_groups import StepGroup, gathered
from rnnaudio.hooks import listens
from rnnaudio.training.epoch_loss import EpochTrainLoss
from rnnaudio.training.grad_clip import clip_grad_norm

# The hooks Lightning dispatches to callbacks around each manual backward and optimiser step.
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
# The module's own methods on that path, besides this class's on_before_optimizer_step.
MODULE_STEP_METHODS = ("manual_backward", "backward", "on_before_backward", "on_after_backward",
                       "clip_gradients")


class ManualStepModule(EpochTrainLoss):
    """Takes one optimiser step per training batch: zero the gradients, backward, step; the
    gradient norm is clipped to ``gradient_clip_val`` (0 or None: no clipping) just before
    the step. A :class:`~rnnaudio.data.step_groups.StepGroup` from the training loader
    takes one step for each of its batches, in order.

    It is the step of Lightning's automatic optimisation, taken with manual optimisation
    because the automatic loop wraps every step in a closure and a chain of hooks that cost
    up to 0.3 ms of CPU a step (``bench/overhead.py``). ``manual_backward`` and the wrapped
    optimiser keep the precision plugin and every optimiser-step hook, and the clip happens
    where the automatic loop clips: in ``on_before_optimizer_step``, after a 16-bit scaler
    has unscaled the gradients and after the callbacks' own hook has seen them. When nothing
    but that clip would hear the per-step hooks (:func:`step_dispatch_is_silent`, decided
    when training starts), the step skips Lightning's dispatch of them and takes the same
    backward, clip and step, counted alike.

    Batch hooks (``on_train_batch_start``/``end``) run once per group, with the group as
    ``batch`` and the last batch's loss as output; on the CPU a group of clips holds
    deferred batches (:class:`~rnnaudio.data.step_groups.DeferredBatch`), gathered as each
    step takes them. ``trainer.global_step`` counts optimiser steps, as ever. Subclasses
    give the loss: :meth:`batch_loss`.
    """

    def __init__(self, gradient_clip_val: float | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.gradient_clip_val = gradient_clip_val
        self.silent_dispatch = False  # until on_train_start has looked

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets _current_fx_name around every hook it calls, up to 45 times a step,
        # and nn.Module.__setattr__ checks parameters, buffers and submodules each time
        # (0.1 ms a step). The name is a plain string attribute, never one of those.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def batch_loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """The batch's mean loss and the number of items (clips, time steps) it averages."""
        raise NotImplementedError

    def on_train_start(self) -> None:
        self.silent_dispatch = step_dispatch_is_silent(self.trainer, self)

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        batches = batch.batches if isinstance(batch, StepGroup) else (batch,)
        optimizer = self.optimizers()
        for one in batches:
            loss, weight = self.batch_loss(gathered(one))
            self.take_step(optimizer, loss)
            self.add_train_loss(loss, weight)
        # Lightning steps its loggers by passes of its loop; a group is len(batches) of them,
        # so that metrics land at the same MLflow step whatever steps_per_execution is.
        self.trainer.fit_loop.epoch_loop._batches_that_stepped += len(batches) - 1
        self.log_train_loss()
        return loss.detach()

    def take_step(self, optimizer: LightningOptimizer, loss: torch.Tensor) -> None:
        """Zero the gradients, backward, clip, step."""
        optimizer.zero_grad(set_to_none=True)
        if not self.silent_dispatch:
            self.manual_backward(loss)
            optimizer.step()
            return
        # What manual_backward and LightningOptimizer.step do when no hook listens and the
        # precision plugin neither scales nor wraps, without their dispatch: 0.05-0.15 ms of
        # CPU a step (bench/README.md, section 1). _on_before_step and _on_after_step are the
        # manual loop's own step counting (global_step) and profiler marks.
        loss.backward()
        optimizer._on_before_step()
        wrapped = optimizer.optimizer
        # The clip runs inside the optimiser's step, as Lightning's closure runs it: after
        # any step pre-hook registered on the optimiser.
        wrapped.step(closure=lambda: self._clip_quietly(wrapped))
        optimizer._on_after_step()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val,
                                gradient_clip_algorithm="norm")

    def _clip_quietly(self, optimizer: torch.optim.Optimizer) -> None:
        # What clip_gradients comes to under the silent conditions (the plain or autocast
        # plugin clipping the optimiser's parameters by norm, none for a value <= 0),
        # without Lightning's argument checks and torch's wrappers around the arithmetic:
        # 0.04-0.07 ms of CPU a step.
        if self.gradient_clip_val is not None and self.gradient_clip_val > 0:
            clip_grad_norm((p for group in optimizer.param_groups for p in group["params"]),
                           self.gradient_clip_val)


def step_dispatch_is_silent(trainer: pl.Trainer, module: ManualStepModule) -> bool:
    """Whether Lightning's dispatch around a manual backward and optimiser step would reach
    nothing but ``module``'s own clip: one device, a precision plugin without a gradient
    scaler, an optimiser that does not unscale in its step, no clip set on the trainer, no
    profiler, and no callback or module of its own on the step's hooks."""
    plugin = trainer.precision_plugin
    return (
        type(trainer.strategy) is SingleDeviceStrategy
        and type(plugin) in (Precision, MixedPrecision)
        and getattr(plugin, "scaler", None) is None
        # The autocast plugin refuses to clip for an optimiser that unscales in its own step
        # (a fused one); the dispatched path lets that error reach the user. Such optimisers
        # take that path under every plugin, for one rule.
        and not any(_optimizer_handles_unscaling(o) for o in trainer.optimizers)
        # clip_gradients checks the module's clip against the trainer's; the quiet clip
        # does not, so a trainer that sets one takes the dispatched path.
        and trainer.gradient_clip_val is None
        and trainer.gradient_clip_algorithm is None
        and type(trainer.profiler) is PassThroughProfiler
        and not any(listens(callback, hook, pl.Callback)
                    for callback in trainer.callbacks for hook in STEP_HOOKS)
        and not any(listens(module, name, pl.LightningModule) for name in MODULE_STEP_METHODS)
        and not listens(module, "on_before_optimizer_step", ManualStepModule)
    )
