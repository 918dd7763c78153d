"""The timeout a buffer's blocking call is given: checked once, the same for every buffer.

``queue.Queue`` refuses a negative timeout and lets anything else through to its wait loop,
where NaN makes a blocked call spin for ever (every comparison with NaN is false) and infinity,
or anything past ``threading.TIMEOUT_MAX``, overflows the lock's wait. A buffer refuses all of
them before it does anything. (A module of its own, with no imports from the package, so that
every buffer, the process queue included, can use it.)
"""

from __future__ import annotations

from threading import TIMEOUT_MAX

__all__ = ["check_timeout"]


def check_timeout(block: bool, timeout: float | None) -> None:
    """``ValueError`` for a timeout no wait can have, only where it would be used (``block``
    true, ``timeout`` not None): negative, NaN, or longer than ``threading.TIMEOUT_MAX``;
    ``TypeError`` for one that is not a number at all (a string, a list)."""
    if block and timeout is not None:
        try:
            if 0 <= timeout <= TIMEOUT_MAX:
                return
        except TypeError:  # a comparison the value does not support: say so, not '<='
            raise TypeError(f"'timeout' must be a number of seconds (or None to wait "
                            f"forever), not {timeout!r}") from None
        raise ValueError(f"'timeout' must be a non-negative number of seconds up to "
                         f"{TIMEOUT_MAX:g} (or None to wait forever), got {timeout!r}")
