"""Ctrl-C and SIGTERM: stop the work, end its runs as KILLED, leave it resumable.

Lightning turns a KeyboardInterrupt inside ``fit`` into ``sys.exit(1)`` after its own
shutdown, so an interrupt can reach us as a ``SystemExit`` whose context is the
KeyboardInterrupt. Schedulers (SLURM, Kubernetes) stop a job with SIGTERM, and a job started
with ``&`` from a script ignores SIGINT: both should end the same way as Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def interrupted(error: BaseException | None) -> bool:
    """True for a KeyboardInterrupt, or an exit raised while handling one, or Lightning's
    own stop on SIGTERM."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt) or _lightning_sigterm(error):
            return True
        if not isinstance(error, SystemExit):
            return False
        error = error.__context__
    return False


def _lightning_sigterm(error: BaseException) -> bool:
    """Lightning also hears SIGTERM, and raises SIGTERMException (a SystemExit with code 0)
    at its next step. Our KeyboardInterrupt usually comes first; but one raised while Python
    runs a garbage-collection callback is dropped, and then this is all that is left of the
    signal: taken for a plain exit, the job would end 0 with its runs and trial open."""
    lightning = sys.modules.get("pytorch_lightning.utilities.exceptions")
    return lightning is not None and isinstance(error, lightning.SIGTERMException)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _raise_interrupt_once(signum: int, frame: FrameType | None) -> None:
    # A terminal's Ctrl-C reaches a worker and its driver, which then interrupts the worker
    # too: the second signal must not cut the first one's cleanup short.
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    _raise_interrupt(signum, frame)


def terminate_as_interrupt(once: bool = False) -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does. ``once``: the
    first SIGINT or SIGTERM does, and any later one is ignored (a worker's cleanup)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if once:
        for stop in STOP_SIGNALS:
            signal.signal(stop, _raise_interrupt_once)
    else:
        signal.signal(signal.SIGTERM, _raise_interrupt)
