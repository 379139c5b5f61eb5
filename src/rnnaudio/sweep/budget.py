"""The trial budget, claimed atomically in the study's storage.

Workers that each count the study's trials and then start one race: two of them see one
slot left and both take it. So the count and the new trial's row are made under one lock
that every worker, on this machine or another, takes from the storage itself: a lock file
beside a SQLite database, an advisory lock in PostgreSQL, a named lock in MySQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator

import sqlalchemy
from filelock import FileLock
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

# A retry waiting in the queue holds a slot: it replaces a trial that failed.
CLAIMED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
LOCK_TIMEOUT_S = 120


class BudgetClaimed(RuntimeError):
    """Every trial the budget asks for is finished, running, or queued."""


class BudgetedStorage(RDBStorage):
    """An RDB storage that refuses a new trial once ``budget`` trials hold a slot.

    Popping a queued trial (a retry) or copying one in (``add_trial``, ``enqueue_trial``)
    is not a new claim and passes through.
    """

    def __init__(self, url: str, budget: int | None, **kwargs) -> None:
        super().__init__(url, **kwargs)
        self.budget = budget

    # Optuna's cached storage calls this private method directly; the public one wraps it.
    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None):
        if self.budget is None or template_trial is not None:
            return super()._create_new_trial(study_id, template_trial)
        with self.claim_lock(study_id):
            claimed = len(self.get_all_trials(study_id, deepcopy=False, states=CLAIMED))
            if claimed >= self.budget:
                raise BudgetClaimed(f"all {self.budget} trials are finished, running or queued")
            return super()._create_new_trial(study_id, template_trial)

    @contextlib.contextmanager
    def claim_lock(self, study_id: int) -> Iterator[None]:
        """Held by one worker at a time, across processes and machines."""
        url = sqlalchemy.engine.make_url(self.url)
        name = f"rnnaudio-budget-{study_id}"
        backend = url.get_backend_name()
        if backend == "sqlite":
            lock = _file_lock(url.database)
        elif backend == "postgresql":
            lock = _postgres_lock(self.engine, name)
        elif backend == "mysql":
            lock = _mysql_lock(self.engine, name)
        else:
            log.warning("no cross-worker lock for %s storage: parallel workers may run a "
                        "trial or two beyond sweep.n_trials", backend)
            lock = contextlib.nullcontext()
        try:
            with lock:
                yield
        except TimeoutError as error:  # how each lock below reports running out of time
            raise BudgetClaimed(f"the budget lock stayed busy for {LOCK_TIMEOUT_S} s") from error


@contextlib.contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        yield  # one process only
        return
    with FileLock(f"{database}.budget.lock", timeout=LOCK_TIMEOUT_S):
        yield


@contextlib.contextmanager
def _postgres_lock(engine: sqlalchemy.Engine, name: str) -> Iterator[None]:
    # Keyed by a signed 64-bit integer; held by the transaction, so commit or rollback
    # releases it whatever happens, and the pooled connection never keeps it.
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))
        try:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        except sqlalchemy.exc.OperationalError as error:  # lock_timeout ran out
            raise TimeoutError(f"no budget lock {name!r} after {LOCK_TIMEOUT_S} s") from error
        yield


@contextlib.contextmanager
def _mysql_lock(engine: sqlalchemy.Engine, name: str) -> Iterator[None]:
    with engine.connect() as conn:
        try:
            taken = conn.execute(sqlalchemy.text("SELECT GET_LOCK(:name, :timeout)"),
                                 {"name": name, "timeout": LOCK_TIMEOUT_S}).scalar()
            if taken != 1:  # 0: timed out, NULL: an error
                raise TimeoutError(f"no budget lock {name!r} after {LOCK_TIMEOUT_S} s")
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:name)"), {"name": name})
