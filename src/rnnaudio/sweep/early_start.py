"""The processes a sweep with several local workers needs, started before the driver imports.

The workers fork from a fork server that has imported torch, Lightning and MLflow, and log
through a loopback ``mlflow server`` when the store is a local SQLite file. Each takes about
5 s of CPU to start. ``rnnaudio sweep`` starts both first (this module imports neither torch
nor MLflow), so they start on the second core while the driver imports Optuna and MLflow on
the first, rather than after it.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

from rnnaudio.config import Config
from rnnaudio.tracking.server import LocalServer, is_local_store, local_server

WORKER_MODULE = "rnnaudio.sweep.worker"


def fork_context() -> BaseContext:
    """The context local workers start from, its fork server started: forks of one process
    that has imported the worker module, and only imported (no store opened, no torch op
    run). The fork server starts once per process, so its environment is the first
    sweep's; what differs per sweep (tracking URI, threads) reaches the workers as
    arguments."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_MODULE])
    with _sigint_ignored():
        forkserver.ensure_running()  # returns at once; the fork server imports on its own
    return context


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """For a child started inside: the fork server ignores Ctrl-C once it has imported,
    and ignoring it from the start keeps a Ctrl-C during those 5 s from printing a
    traceback. Workers set their own handlers. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_worker(overrides: list[str], sweep_run_id: str, threads: int, worker: int) -> None:
    """A local worker's entry point, named without importing the worker module (torch,
    Lightning), which the fork server has imported already."""
    from rnnaudio.sweep.worker import worker_process

    worker_process(overrides, sweep_run_id, threads, worker)


@contextmanager
def started_early(cfg: Config) -> Iterator[LocalServer | None]:
    """Starts the fork server, and the MLflow server when the workers need one, without
    waiting for either; yields that server (None: one worker, or a remote store) and
    stops it when the block ends."""
    spec = cfg.sweep
    if spec is None or spec.workers == 1:
        yield None
        return
    fork_context()
    if not is_local_store(cfg.tracking.uri):
        yield None
        return
    with local_server(cfg.tracking.uri, cfg.tracking.artifact_root, wait=False) as server:
        yield server
