"""A hook listens unless it is the base class's own method: subclasses, lambdas and mocks do."""

from __future__ import annotations

from unittest.mock import Mock

import pytest
import pytorch_lightning as pl
from pytorch_lightning.callbacks import LambdaCallback, ModelCheckpoint

from rnnaudio.hooks import listens


class Heard(ModelCheckpoint):
    def on_after_backward(self, trainer, pl_module) -> None:
        pass


class Called:
    def __call__(self, *args) -> None:
        pass


@pytest.mark.parametrize(("callback", "expected"), [
    (pl.Callback(), False),
    (ModelCheckpoint(), False),  # Lightning's own callbacks leave the step's hooks alone
    (Heard(), True),
    (LambdaCallback(on_after_backward=lambda trainer, module: None), True),
    (LambdaCallback(on_after_backward=Mock()), True),
    (LambdaCallback(on_after_backward=Called()), True),
])
def test_a_callback_listens_to_a_hook_of_its_own(callback: pl.Callback, expected: bool) -> None:
    assert listens(callback, "on_after_backward", pl.Callback) is expected


def test_no_object_and_no_such_hook_hear_nothing() -> None:
    assert not listens(None, "on_after_backward", pl.Callback)
    assert not listens(object(), "on_after_backward", pl.Callback)
