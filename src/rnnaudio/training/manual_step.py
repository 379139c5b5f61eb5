"""The optimiser step every harness module takes: by hand, through Lightning's manual API."""

from __future__ import annotations

from typing import Any

import torch

from rnnaudio.data.step_groups import StepGroup
from rnnaudio.training.epoch_loss import EpochTrainLoss


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
    has unscaled the gradients and after the callbacks' own hook has seen them. Batch hooks
    (``on_train_batch_start``/``end``) run once per group, with the group as ``batch`` and
    the last batch's loss as output. ``trainer.global_step`` counts
    optimiser steps, as ever. Subclasses give the loss: :meth:`batch_loss`.
    """

    def __init__(self, gradient_clip_val: float | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.gradient_clip_val = gradient_clip_val

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets _current_fx_name around every hook it calls, about 45 times a step,
        # and nn.Module.__setattr__ checks parameters, buffers and submodules each time
        # (0.1 ms a step). The name is a plain string attribute, never one of those.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def batch_loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """The batch's mean loss and the number of items (clips, time steps) it averages."""
        raise NotImplementedError

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        batches = batch.batches if isinstance(batch, StepGroup) else (batch,)
        optimizer = self.optimizers()
        for one in batches:
            loss, weight = self.batch_loss(one)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
            self.add_train_loss(loss, weight)
        # Lightning steps its loggers by passes of its loop; a group is len(batches) of them,
        # so that metrics land at the same MLflow step whatever steps_per_execution is.
        self.trainer.fit_loop.epoch_loop._batches_that_stepped += len(batches) - 1
        self.log_train_loss()
        return loss.detach()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val,
                                gradient_clip_algorithm="norm")
