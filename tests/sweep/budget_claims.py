"""What each process of the concurrent budget test runs. A module of its own, so that a
spawned process imports Optuna and the study alone (about 1 s) and not the test module's
training stack (about 11 s, six times over on two cores)."""

from __future__ import annotations

import time

import optuna

from rnnaudio.config import SearchParam, SweepConfig
from rnnaudio.sweep.budget import BudgetClaimed
from rnnaudio.sweep.study import open_storage

BUDGET = 40


def claims(url: str, n_trials: int | None = BUDGET) -> SweepConfig:
    return SweepConfig(study_name="claims", storage=url, n_trials=n_trials,
                       space={"model.cell": SearchParam(choices=["rnn", "gru"])})


def claim_until_refused(url: str, start: float) -> int:
    """Asks for trials from ``start`` on, the same moment in every process, until refused."""
    study = optuna.load_study(study_name="claims", storage=open_storage(claims(url)))
    time.sleep(max(0.0, start - time.time()))
    claimed = 0
    while True:
        try:
            study.ask()
        except BudgetClaimed:
            return claimed
        claimed += 1
