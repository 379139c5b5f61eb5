"""The optimiser step every harness module takes: by hand, through Lightning's manual API."""

from __future__ import annotations

from typing import Any

import torch

from rnnaudio.training.epoch_loss import EpochTrainLoss


class ManualStepModule(EpochTrainLoss):
    """Takes one optimiser step per training batch: zero the gradients, backward, clip the
    gradient norm to ``gradient_clip_val`` (0 or None: no clipping), step.

    It is the step of Lightning's automatic optimisation, taken with manual optimisation
    because the automatic loop wraps every step in a closure and a chain of hooks that cost
    about 0.3 ms of CPU a step: 3-5 % of a 64-unit model's step (``bench/overhead.py``).
    ``manual_backward``, ``clip_gradients`` and the wrapped optimiser keep the precision
    plugin and the callbacks' hooks in the loop, so bf16-mixed and ``on_before_*`` hooks
    work as before. Subclasses give the loss: :meth:`batch_loss`.
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
        loss, weight = self.batch_loss(batch)
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val,
                                gradient_clip_algorithm="norm")
        optimizer.step()
        self.log_train_loss(loss, weight)
        return loss.detach()
