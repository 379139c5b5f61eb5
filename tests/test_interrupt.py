"""What counts as an interrupt, and SIGTERM raised as one."""

import os
import signal

import pytest

from rnnaudio.interrupt import interrupted, terminate_as_interrupt


def _exit_while_handling(error: BaseException) -> SystemExit:
    try:
        try:
            raise error
        except BaseException:
            raise SystemExit(1)  # noqa: B904 - the context is the point
    except SystemExit as exit_:
        return exit_


def test_ctrl_c_and_the_exit_that_follows_it_are_interrupts():
    assert interrupted(KeyboardInterrupt())
    assert interrupted(_exit_while_handling(KeyboardInterrupt()))


def test_lightnings_own_stop_on_sigterm_is_an_interrupt():
    """What is left of a SIGTERM whose KeyboardInterrupt Python dropped (raised inside a
    garbage-collection callback): Lightning's SIGTERMException, a SystemExit with code 0."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    assert SIGTERMException().code is None  # would end the job with exit code 0
    assert interrupted(SIGTERMException())


def test_errors_and_plain_exits_are_not():
    assert not interrupted(ValueError("bad"))
    assert not interrupted(SystemExit(2))
    assert not interrupted(_exit_while_handling(ValueError("bad")))
    assert not interrupted(None)


def test_sigterm_raises_keyboard_interrupt():
    saved = signal.getsignal(signal.SIGTERM)
    try:
        terminate_as_interrupt()
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, saved)
