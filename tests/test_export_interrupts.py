"""An interrupt while ffmpeg starts is held until the encoder is known, then raised as usual."""

from __future__ import annotations

import os
import signal

import pytest

from audiogen.export.formats import _defer_interrupts, _deliver_interrupts


class Stopped(Exception):
    """What the test's own handler raises."""


def _stop(signum, frame):
    raise Stopped(signum)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_is_held_then_raised_through_the_usual_handler(number):
    previous = signal.signal(number, _stop)
    try:
        deferred = _defer_interrupts()
        os.kill(os.getpid(), number)  # arrives "inside Popen": noted only
        sum(range(1000))  # bytecodes run: a pending handler would have raised by now
        with pytest.raises(Stopped):
            _deliver_interrupts(deferred)
            sum(range(1000))
        assert signal.getsignal(number) is _stop, "the usual handler is back"
    finally:
        signal.signal(number, previous)


def test_nothing_is_raised_when_no_interrupt_came():
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        _deliver_interrupts(_defer_interrupts())
        assert signal.getsignal(signal.SIGTERM) is _stop
    finally:
        signal.signal(signal.SIGTERM, previous)
