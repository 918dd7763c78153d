"""Hints for the buffer exercises, in the vocabulary of each exercise.

A hint is given only by a check that knows the cause of what it saw, and it speaks the language
of the exercise: conditions and ``notify()`` in the monitor exercise, semaphores and
``release()`` in the semaphore one, never the other's. A check's workload names a hint by key
(``"@wake"``); :func:`hinted` replaces the key with the text for the exercise's style, or with
nothing when that style has no hint for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pcmodel.grading.checks import CheckFailed

__all__ = ["HINTS", "STYLES", "hinted", "resolve"]

STYLES = ("condition", "semaphore")

HINTS: dict[str, dict[str, str]] = {
    "wake": {
        "condition": "after every change, wake the threads that wait for it: notify not_empty "
        "after a put and not_full after a get",
        "semaphore": "after every change, release the semaphore the other side waits on: the "
        "items semaphore after a put, the free-slots semaphore after a get",
    },
    "wait-full": {
        "condition": "in put(): while the buffer is full, wait() on the not_full condition",
        "semaphore": "in put(): acquire the free-slots semaphore before writing a slot",
    },
    "wait-empty": {
        "condition": "in get(): while the buffer is empty, wait() on the not_empty condition",
        "semaphore": "in get(): acquire the items semaphore before reading a slot",
    },
    "no-poll": {
        "condition": "do not loop with sleep() or a timed wait(): wait() on a condition without "
        "a timeout and let the other side notify",
        "semaphore": "do not loop with sleep() or acquire(blocking=False): block in acquire() "
        "and let the other side release",
    },
    "lock-order": {
        "condition": "never wait while holding a second lock that the waker needs: a monitor "
        "has one lock, shared by its conditions",
        "semaphore": "acquire the counting semaphore BEFORE the mutex: a thread asleep on it "
        "must not hold the mutex the other side needs to wake it",
    },
    "wrong-waiter": {
        "condition": "with one condition for both kinds of waiter, notify() can wake a thread "
        "of the wrong kind and then everyone sleeps: use two conditions (not_full, not_empty) "
        "or notify_all(), and wait in a while loop",
    },
    "recheck": {
        "condition": "wait in a loop: `while <buffer is full/empty>: cond.wait()` rechecks the "
        "state after every wake-up; `if` trusts a wake-up that may be spurious or stolen",
    },
    "fifo": {
        "condition": "remove from the opposite end to where put() adds (deque: append and "
        "popleft)",
        "semaphore": "read at head and write at tail, each index taken modulo capacity",
    },
}


def resolve(hint: str, style: str) -> str:
    """The text of ``hint`` for ``style`` when it is a key (``"@wake"``); other text as it is."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if hint.startswith("@"):
        return HINTS.get(hint[1:], {}).get(style, "")
    return hint


@contextlib.contextmanager
def hinted(style: str) -> Iterator[None]:
    """Within the block, a CheckFailed whose hint is a key gets the text for ``style``."""
    resolve("", style)  # validate the style before running anything
    try:
        yield
    except CheckFailed as failure:
        failure.hint = resolve(failure.hint, style)
        raise
