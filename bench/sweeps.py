"""Running the real ``rnnaudio sweep`` for a benchmark, and reading back what it spent.

Each sweep runs as its own process (what a user runs) in a scratch folder that holds its
Optuna and MLflow stores, on the embedded corpus and one shared feature cache, with the
study spec written to a folder named by ``RNNAUDIO_SWEEPS``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml

from rnnaudio.config import DatasetConfig, FeatureConfig
from rnnaudio.data.prepare import labelled_features

RNNAUDIO = Path(sys.executable).with_name("rnnaudio")
@dataclass(frozen=True)
class SweepRun:
    """One finished sweep: its study, wall seconds and where its files are."""

    study: optuna.Study
    wall_s: float
    folder: Path
    launched: float  # epoch seconds, comparable with Optuna's trial timestamps

    @property
    def trials(self) -> list[optuna.trial.FrozenTrial]:
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        return self.study.get_trials(deepcopy=False, states=finished)

    def fold_fits(self) -> int:
        """Fold fits spent: every finished trial keeps each fold's loss as a user attribute."""
        return sum(
            sum(1 for key in t.user_attrs if key.startswith("fold") and key.endswith("_val_loss"))
            for t in self.trials
        )

    def count(self, state: optuna.trial.TrialState) -> int:
        return sum(1 for t in self.trials if t.state == state)

    def best(self) -> optuna.trial.FrozenTrial | None:
        try:
            return self.study.best_trial
        except ValueError:
            return None

    def startup_s(self) -> float:
        """Seconds from launching the command to its first trial starting."""
        return min(t.datetime_start.timestamp() for t in self.trials) - self.launched

    def busy_s(self) -> float:
        """Seconds from the first trial's start to the last trial's end."""
        return (max(t.datetime_complete.timestamp() for t in self.trials)
                - min(t.datetime_start.timestamp() for t in self.trials))

    def trial_seconds(self) -> list[float]:
        return [(t.datetime_complete - t.datetime_start).total_seconds() for t in self.trials]


def spec(name: str, cells: list[str], hidden: list[int], folds: int, epochs: int) -> dict:
    """A grid study over cell x hidden size, scored by ``folds``-fold CV loss."""
    return {
        "study_name": name,
        "n_trials": len(cells) * len(hidden),
        "sampler": "grid",
        "seed": 0,
        "pruner": "none",
        "refit": False,  # the benchmarks count CV fits; a refit is the same for every run
        "overrides": [f"cv.folds={folds}", f"trainer.max_epochs={epochs}",
                      f"trainer.early_stopping_patience={epochs}"],
        "space": {
            "model.cell": {"type": "categorical", "choices": cells},
            "model.hidden_size": {"type": "categorical", "choices": hidden},
        },
    }


def prepare(root: Path) -> list[str]:
    """Builds the embedded corpus and its feature cache once; the overrides that use them."""
    overrides = [f"dataset.root={root / 'synth_commands'}",
                 f"features.cache_dir={root / 'cache'}"]
    dataset = DatasetConfig(name="synth_commands", root=str(root / "synth_commands"))
    labelled_features(dataset, FeatureConfig(cache_dir=str(root / "cache")), 0, progress=False)
    return overrides


def run_sweep(folder: Path, study: dict, overrides: list[str],
              threads: int | None = None) -> SweepRun:
    """``rnnaudio sweep sweep=<study>`` in ``folder`` (emptied first); output in sweep.log."""
    shutil.rmtree(folder, ignore_errors=True)
    specs = folder / "specs"
    specs.mkdir(parents=True)
    (specs / f"{study['study_name']}.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    env = {**os.environ, "RNNAUDIO_SWEEPS": str(specs)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [str(RNNAUDIO), "sweep", f"sweep={study['study_name']}", *overrides,
               "trainer.progress=false", "trainer.accelerator=cpu"]
    launched, start = time.time(), time.perf_counter()
    with (folder / "sweep.log").open("w") as log:
        done = subprocess.run(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (folder / "sweep.log").read_text()[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    loaded = optuna.load_study(study_name=study["study_name"],
                               storage=f"sqlite:///{folder / 'optuna.db'}")
    return SweepRun(loaded, wall, folder, launched)
