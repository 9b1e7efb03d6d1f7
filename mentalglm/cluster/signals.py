"""SIGTERM takes the Ctrl-C path: what `docker stop`, systemd and Kubernetes send stops a command the way Ctrl-C
does (the verb's own clean-up runs, the CLI prints one line), instead of Ray's C++ handler printing a stack trace
and exiting with status 15.

Within `sigterm_as_interrupt()` (the CLI runs every verb in it) SIGTERM raises `Terminated`, a `KeyboardInterrupt`,
in the main thread. `ray.init` installs Ray's own SIGTERM handlers, so `ensure_ray` calls `rearm()` after it, which
puts ours back inside that block (a library user's handlers are left alone).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, where Ctrl-C raises a plain KeyboardInterrupt."""


_armed = False
_terminated = False


def _terminate(signum: int, frame: object) -> None:
    global _terminated
    _terminated = True  # a library may catch the interrupt and raise its own: the cause is kept here
    raise Terminated(f"signal {signal.Signals(signum).name}")


def stopped_by() -> str:
    """What stopped the block: "SIGTERM" once one arrived inside `sigterm_as_interrupt`, else "Ctrl-C"."""
    return "SIGTERM" if _terminated else "Ctrl-C"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread (and again after `ray.init`, see `rearm`);
    the handler before it is put back after. A no-op outside the main thread."""
    global _armed, _terminated
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminate)
    _armed, _terminated = True, False
    try:
        yield
    finally:
        _armed = False
        signal.signal(signal.SIGTERM, before)


def rearm() -> None:
    """Put the SIGTERM handler back after something (ray.init) replaced it, inside `sigterm_as_interrupt`."""
    if _armed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
