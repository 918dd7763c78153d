"""Counting the Python functions a buffer operation calls (a measure of its cost that load does
not change)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable


def python_calls(action: Callable[[], object]) -> list[str]:
    """The Python functions ``action()`` calls, by qualified name, ``action`` itself left out
    (built-ins and C methods are not counted)."""
    calls: list[str] = []

    def record(frame, event, _arg):
        if event == "call":
            calls.append(frame.f_code.co_qualname)

    # A collection inside the action would run the finalizers of earlier tests' garbage
    # (multiprocessing's heap frees its blocks there) and count their calls as the action's.
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    sys.setprofile(record)
    try:
        action()
    finally:
        sys.setprofile(None)
        if collecting:
            gc.enable()
    return calls[1:]
