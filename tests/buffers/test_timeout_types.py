"""The condition and semaphore buffers refuse a timeout that is not a number with the one
TypeError of ``check_timeout``, as the queue variant does (tests/buffers/test_buffer_misuse.py),
never with a comparison's ``'<=' not supported``; and nothing changes in the buffer."""

from __future__ import annotations

import queue

import pytest

from pcmodel.buffers import make_buffer

NOT_A_NUMBER = "'timeout' must be a number of seconds"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
@pytest.mark.parametrize("timeout", ["1", [1], b"1"], ids=["str", "list", "bytes"])
def test_a_timeout_that_is_not_a_number_says_so(variant, backend, timeout):
    with make_buffer(variant, 1, backend) as buf:
        buf.put("x")
        for call in (lambda: buf.put("y", timeout=timeout),
                     lambda: buf.put_many(["y"], timeout=timeout)):
            with pytest.raises(TypeError, match=NOT_A_NUMBER):
                call()
        assert buf.qsize() == 1  # nothing was put
        for call in (lambda: buf.get(timeout=timeout),
                     lambda: buf.get_many(1, timeout=timeout)):
            with pytest.raises(TypeError, match=NOT_A_NUMBER):
                call()
        assert buf.get_nowait() == "x"  # nothing was taken
        with pytest.raises(queue.Empty):
            buf.get_nowait()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_timeout_is_not_checked_where_it_is_not_used(variant):
    """``block=False`` ignores the timeout, as ``queue.Queue`` does: nothing to refuse."""
    with make_buffer(variant, 1) as buf:
        buf.put("x", block=False, timeout="1")
        assert buf.get(block=False, timeout="1") == "x"
