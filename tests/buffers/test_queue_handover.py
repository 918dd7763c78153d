"""The ``queue`` variant between processes hands an item to its feeder thread without the lock."""

from __future__ import annotations

import multiprocessing
import sys
import threading

import pytest

from pcmodel.buffers import make_buffer
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")


def _in_feeder_hand_over(thread: threading.Thread) -> bool:
    """True while ``thread`` is handing an item over to its process's feeder thread."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "hand_over" and code.co_filename.endswith("item_pipe.py"):
            return True
        frame = frame.f_back
    return False


@pytest.mark.timeout(30)
def test_a_getter_is_not_kept_out_while_a_putter_hands_its_item_to_the_feeder():
    buf = make_buffer("queue", 4, "process", context=FORK)
    pipe = buf._queue._pipe
    got: list = []
    putter = threading.Thread(target=buf.put, args=("second",))
    getter = threading.Thread(target=lambda: got.append(buf.get(timeout=10)))
    try:
        buf.put("first")
        wait_until(lambda: pipe._reader.poll(0))  # "first" is in the pipe
        feeder = pipe._here()
        # Another write under way sends "second" to the feeder, and its hand-over is held up.
        with pipe._write_lock, feeder._ready:
            putter.start()
            wait_until(lambda: _in_feeder_hand_over(putter))
            getter.start()
            getter.join(5)
            assert got == ["first"], "a get waited for another put's hand-over to its feeder"
        putter.join(10)
        getter.join(10)
        assert buf.get(timeout=10) == "second"
    finally:
        buf.close()
