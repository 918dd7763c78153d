"""Exercise 04's stepped verdicts report an exception in any call of a round, whichever call.

Each verdict is replayed here on observations written by hand (as :func:`replay.verdict` does
in the grader), so the rounds need no processes: the first call of a round that raised is the
one reported, with where the stopped call was.
"""

from __future__ import annotations

import pytest

from pcmodel.grading.process_harness import ProcessBuffers
from pcmodel.grading.process_stepped_checks import _stepped, _stepped_gets, _stepped_put_get
from pcmodel.grading.replay import verdict

BASE = 10_000_000
# Braces and a colon, as a student's exception text may have them.
RAISED = "KeyError: '{slot}' (at buf.py:31: self._slots[{slot}])"


def _replayed(scenario, method_name: str, round_: dict) -> dict:
    log = [[method_name, {"started": True, "rounds": [round_]}]]
    problem = verdict(scenario, log, ProcessBuffers.SHAPES, "fork", BASE)
    assert problem is not None
    return problem


@pytest.mark.parametrize("raising", ["b_end", "a_end"])
def test_two_puts_report_what_the_second_or_the_stopped_one_raised(raising):
    # The stopped put() raising once let go is told with where it was stopped, as the second.
    ends = {"a_end": ["done", None], "b_end": ["done", None], raising: ["error", RAISED]}
    problem = _replayed(_stepped, "stepped", {
        "items": [BASE + 1, BASE + 2], "a_held": ["held", 7], "b_while": ["still", None],
        **ends, "got": []})
    assert problem == {
        "expected": "no exception (2 producer processes (fork) putting at once into a buffer "
                    "of capacity 2)",
        "got": f"put() raised {RAISED} while the first put() was stopped before line 7 of "
               "your file",
        "hint": ""}


@pytest.mark.parametrize("first", ["a_held", "b_while", "a_end"])
def test_a_stopped_get_reports_the_first_call_that_raised(first):
    ends = {"a_held": ["held", 12], "b_while": ["still", None], "a_end": ["done", BASE + 1],
            "b_end": ["error", "a later exception"]}
    ends[first] = ["error", RAISED]
    if first == "a_held":  # it raised before reaching the line it was to stop at
        ends.update(b_while=None, a_end=ends["a_held"], b_end=None)
        where = "in the get() on a full buffer"
    else:
        where = "while the get() was stopped before line 12 of your file"
    problem = _replayed(_stepped_gets, "stepped_gets", {
        "items": [BASE + 1, BASE + 2, BASE + 3], "filled": True, **ends, "got": []})
    assert problem["expected"].startswith("no exception (a consumer process (fork) taking")
    assert problem["got"] == f"{RAISED} {where}"


def test_a_stopped_put_reports_what_the_get_raised_after_it_returned():
    problem = _replayed(_stepped_put_get, "stepped_put_get", {
        "item": BASE + 1, "a_held": ["done", None], "b_while": None, "a_end": ["done", None],
        "b_end": ["error", RAISED]})
    assert problem["expected"].startswith("no exception (a producer process (fork) putting")
    assert problem["got"] == f"{RAISED} after the put() returned"
    assert problem["hint"] == ""


def test_a_put_that_raised_before_it_was_stopped_is_said_to_have_raised():
    raised = ["error", RAISED]  # the harness's record: a_end is a_held, no get() was made
    problem = _replayed(_stepped_put_get, "stepped_put_get", {
        "item": BASE + 1, "a_held": raised, "b_while": None, "a_end": raised, "b_end": None})
    assert problem["got"] == f"{RAISED} in the put() into an empty buffer"
