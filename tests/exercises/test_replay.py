"""Verdicts are made in the grader: a scenario replayed on the child's observations.

The replay must accept exactly the observations a live run produces, and turn anything else —
no list, a missing or extra observation, the wrong call, the wrong shape, data that contradicts
itself — into a failed check, never into a pass or a crash of the grader.
"""

from __future__ import annotations

from functools import partial

import pytest

from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.replay import Malformed, Recorder, Replay, judge, shape, verdict


class Counting:
    """A live harness whose observations are a counter and a list."""

    SHAPES = {"count": shape.int, "items": shape.list_of(shape.int)}

    def __init__(self, start: int = 0) -> None:
        self.n = start

    def count(self) -> int:
        self.n += 1
        return self.n

    def items(self, k: int) -> list[int]:
        return list(range(k))


def scenario(h, k):
    if h.count() != 1:
        return {"expected": "1", "got": "another count", "hint": ""}
    items = h.items(k)
    if items[k - 1] != k - 1:
        return {"expected": f"{k - 1} last", "got": repr(items), "hint": ""}
    return None


def test_a_recorded_run_replays_to_the_same_verdict():
    recorder = Recorder(Counting())
    assert scenario(recorder, 3) is None
    assert recorder.log == [["count", 1], ["items", [0, 1, 2]]]
    replay = Replay(recorder.log, Counting.SHAPES)
    assert scenario(replay, 3) is None
    replay.finished()


@pytest.mark.parametrize(("log", "words"), [
    (None, "no list"),
    ([["count", 1]], "end before items"),
    ([["items", [0, 1, 2]], ["count", 1]], "not the result of count"),
    ([["count", "1"], ["items", [0, 1, 2]]], "wrong shape"),
    ([["count", True], ["items", [0, 1, 2]]], "wrong shape"),
    ([["count", 1], ["items", [0, 1, 2]], ["count", 2]], "more than the scenario"),
])
def test_observations_that_do_not_fit_fail_the_check(log, words):
    with pytest.raises(Malformed, match=words) as caught:
        replay = Replay(log, Counting.SHAPES)
        scenario(replay, 3)
        replay.finished()
    assert isinstance(caught.value, CheckFailed)
    assert "do not fit" in caught.value.got


def test_the_verdict_comes_from_the_grader_not_the_child():
    # The child's scenario finds a problem (its count starts at 5), but only the grader's replay
    # of what it observed decides: the same problem, found here.
    found = judge(scenario, partial(Counting, 4), 3)
    assert found == {"expected": "1", "got": "another count", "hint": ""}
    assert judge(scenario, partial(Counting, 0), 3) is None


def test_no_observations_where_the_scenario_needs_some_fail():
    with pytest.raises(Malformed, match="end before count"):
        verdict(scenario, [], Counting.SHAPES, 3)


def test_data_that_contradicts_itself_fails_without_crashing():
    # Well-shaped, but the list is shorter than the scenario asked for.
    with pytest.raises(Malformed, match="contradict"):
        verdict(scenario, [["count", 1], ["items", [0]]], Counting.SHAPES, 3)


def test_a_child_that_raises_fails_the_check():
    class Broken(Counting):
        def items(self, k):
            raise RuntimeError("student bug")

    with pytest.raises(CheckFailed, match="student bug"):
        judge(scenario, partial(Broken, 0), 3)
