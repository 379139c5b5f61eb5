"""``trainer.steps_per_execution`` reaches every fit the harness runs: a fold's and the
refit's, for audio clips and for piano rolls."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl

from local_runs import local_overrides
from rnnaudio.compose import compose_config
from rnnaudio.data.folds import cv_folds
from rnnaudio.data.prepare import labelled_features
from rnnaudio.data.rolls import piano_rolls
from rnnaudio.data.step_groups import StepGroup
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training import crossval, refit, sequence_fit

GROUP = 3


class GroupSizes(pl.Callback):
    """How many batches each pass of Lightning's training loop handed the module."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.sizes.append(len(batch.batches) if isinstance(batch, StepGroup) else 1)


@pytest.fixture
def group_sizes(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Group sizes seen by the trainers that crossval (folds) and refit build."""
    seen: dict[str, list[int]] = {"fold": [], "refit": []}
    for module, phase in ((crossval, "fold"), (refit, "refit")):
        def build(cfg, logger, callbacks, root, *args, _build=module.build_trainer,
                  _sizes=seen[phase], **kwargs):
            return _build(cfg, logger, [*callbacks, GroupSizes(_sizes)], root, *args, **kwargs)

        monkeypatch.setattr(module, "build_trainer", build)
    return seen


def _assert_grouped(seen: dict[str, list[int]]) -> None:
    for phase, sizes in seen.items():
        assert sizes and max(sizes) == GROUP and set(sizes) <= set(range(1, GROUP + 1)), phase


def test_audio_folds_and_refit_group_their_batches(synth_corpus: Path, tmp_path: Path,
                                                   group_sizes: dict[str, list[int]]) -> None:
    cfg = compose_config(local_overrides(synth_corpus, tmp_path, "trainer.batch_size=8",
                                         f"trainer.steps_per_execution={GROUP}"))
    data = labelled_features(cfg.dataset, cfg.features, cfg.seed, progress=False)
    tracker = RunTracker(cfg.tracking)
    with tracker.run("fold0") as run_id:
        crossval.fit_fold(cfg, data, cv_folds(data.manifest, cfg.cv.folds, cfg.seed)[0], 0,
                          tracker, run_id, tmp_path / "fold0")
    with tracker.run("refit") as run_id:
        refit.refit_and_test(cfg, 1, tracker, run_id, tmp_path / "refit")
    _assert_grouped(group_sizes)


@pytest.mark.slow
def test_piano_roll_folds_and_refit_group_their_batches(
    tmp_path: Path, group_sizes: dict[str, list[int]]
) -> None:
    cfg = compose_config([
        "dataset=jsb", "dataset.jsb.chorales=20", f"dataset.root={tmp_path / 'rolls'}",
        f"tracking.uri=sqlite:///{tmp_path / 'm.db'}", f"tracking.artifact_root={tmp_path / 'a'}",
        "model.hidden_size=8", "trainer.max_epochs=1", "trainer.batch_size=2",
        "trainer.progress=false", f"trainer.steps_per_execution={GROUP}",
    ])
    data = piano_rolls(cfg.dataset)
    train = data.rows("train")
    tracker = RunTracker(cfg.tracking)
    with tracker.run("fold0") as run_id:
        sequence_fit.fit_sequence_fold(cfg, data, (train[::2], train[1::2]), 0, tracker, run_id,
                                       tmp_path / "fold0")
    with tracker.run("refit") as run_id:
        sequence_fit.refit_sequence_and_test(cfg, 1, tracker, run_id, tmp_path / "refit")
    _assert_grouped(group_sizes)
