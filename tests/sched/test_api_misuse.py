"""The scheduler's Python API refuses wrong arguments before any schedule runs, in one line
naming the argument; a program calling ``os._exit`` fails its schedule instead of ending the
process; a replay says what it replayed."""

from __future__ import annotations

import functools
import math
import os
import re
import threading

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.sched import (
    PCT,
    DepthFirst,
    FailureKind,
    NondeterminismError,
    RandomWalk,
    Replay,
    assert_interleaving_bug,
    assert_no_interleaving_bug,
    explore,
    explore_program,
    run_controlled,
)

BUFFER = functools.partial(make_buffer, "condition")


def two_lockers() -> None:
    """A tiny program: two threads take one lock once each."""
    lock = threading.Lock()

    def body() -> None:
        with lock:
            pass

    threads = [threading.Thread(target=body) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def never_called() -> None:
    raise AssertionError("a refused argument must stop the exploration before any schedule")


# (keyword, value, error type, words the message must contain)
PROGRAM_MISTAKES = [
    ("max_schedules", True, TypeError, "max_schedules must be an int"),
    ("max_schedules", 2.5, TypeError, "max_schedules must be an int"),
    ("max_schedules", "5", TypeError, "max_schedules must be an int"),
    ("max_schedules", None, TypeError, "max_schedules must be an int"),
    ("seed", None, TypeError, "seed must be an int"),
    ("seed", "1", TypeError, "seed must be an int"),
    ("preemption_bound", 1.5, TypeError, "preemption_bound must be an int"),
    ("preemption_bound", -1, ValueError, "preemption_bound must be at least 0"),
    ("max_steps", math.nan, TypeError, "max_steps must be an int"),
    ("max_steps", 10.5, TypeError, "max_steps must be an int"),
    ("step_timeout", math.nan, ValueError, "step_timeout must be a positive number"),
    ("step_timeout", math.inf, ValueError, "step_timeout must be a positive number"),
    ("step_timeout", "1", TypeError, "step_timeout must be a number of seconds"),
    ("spurious_wakeups", 0.5, TypeError, "spurious_wakeups must be an int"),
    ("spurious_wakeups", True, TypeError, "spurious_wakeups must be an int"),
    ("time_limit", math.nan, ValueError, "time_limit must be a positive number"),
    ("time_limit", "1", TypeError, "time_limit must be a number of seconds"),
    ("minimise_budget", -1, ValueError, "minimise_budget must be at least 0"),
    ("minimise_budget", "x", TypeError, "minimise_budget must be an int"),
    ("reduce", "no", TypeError, "reduce must be True or False"),
    ("allow_polling", "no", TypeError, "allow_polling must be True or False"),
    ("trace", "buffer.py", TypeError, "write trace=['buffer.py']"),
    ("bind", ["threading"], TypeError, "bind must hold modules"),
    ("bind", threading, TypeError, "write bind=[threading]"),
    ("decisions", "012", TypeError, "decisions must be a list of ints"),
    ("decisions", {0: 1}, TypeError, "decisions must be a list of ints"),
    ("decisions", [0.0, 1.0], TypeError, "decisions must hold ints"),
    ("invariants", [1], TypeError, "1 is not callable"),
    ("invariants", lambda: True, TypeError, "write invariants=[check]"),
    ("strategy", DepthFirst, TypeError, "write strategy=DepthFirst(...)"),
]


@pytest.mark.parametrize(("keyword", "value", "error", "words"), PROGRAM_MISTAKES,
                         ids=[f"{k}-{i}" for i, (k, *_) in enumerate(PROGRAM_MISTAKES)])
def test_explore_program_refuses_a_wrong_argument_before_running(keyword, value, error, words):
    with pytest.raises(error, match=re.escape(words)):
        explore_program(never_called, **{keyword: value})


@pytest.mark.parametrize(("keyword", "value"), [("max_steps", 2.5), ("reduce", "no"),
                                                ("trace", "x.py"), ("invariants", [None])])
def test_run_controlled_refuses_what_explore_program_refuses(keyword, value):
    with pytest.raises(TypeError, match=keyword):
        run_controlled(never_called, **{keyword: value})


def test_a_program_that_is_not_callable_is_refused_not_reported_as_its_bug():
    with pytest.raises(TypeError, match="program must be a callable"):
        explore_program(42)


@pytest.mark.timeout(10)
def test_a_huge_pct_depth_is_refused_at_once_instead_of_filling_memory():
    with pytest.raises(ValueError, match="pct_depth must be at least 1 and at most 100"):
        explore_program(never_called, strategy="pct", pct_depth=10**9)
    with pytest.raises(ValueError, match="pct_depth"):
        PCT(0, 10**9)


def test_strategy_classes_check_their_own_arguments():
    with pytest.raises(TypeError, match="seed must be an int"):
        RandomWalk("1")
    with pytest.raises(TypeError, match="preemption_bound must be an int"):
        DepthFirst(2.5)
    with pytest.raises(TypeError, match="decisions must be a list of ints"):
        Replay("012")
    assert Replay([0, None, 1], strict=False).decisions == [0, None, 1]


BUFFER_MISTAKES = [
    ("producers", True, TypeError, "producers must be an int"),
    ("consumers", 0, ValueError, "consumers must be at least 1"),
    ("producers", 10**6, ValueError, "producers must be at least 1 and at most 64"),
    ("items", 10**9, ValueError, "items must be at least 1 and at most 1000"),
    ("capacity", 2.0, TypeError, "capacity must be an int"),
    ("contents", [1], TypeError, "contents must be a function"),
    ("invariants", lambda buffer: True, TypeError, "write invariants=\\[<lambda>\\]"),
    ("trace", "buffer.py", TypeError, "write trace="),
    ("bind", ["threading"], TypeError, "bind must hold modules"),
]


@pytest.mark.parametrize(("keyword", "value", "error", "words"), BUFFER_MISTAKES,
                         ids=[f"{k}-{i}" for i, (k, *_) in enumerate(BUFFER_MISTAKES)])
def test_explore_refuses_a_wrong_argument_before_running(keyword, value, error, words):
    with pytest.raises(error, match=words):
        explore(BUFFER, **{keyword: value})


def test_too_many_items_in_all_are_refused_like_on_the_command_line():
    with pytest.raises(ValueError, match="more than 4000 items per schedule"):
        explore(BUFFER, producers=8, items=1000)


def test_the_testing_helpers_refuse_an_unknown_kind_before_exploring():
    with pytest.raises(ValueError, match="unknown failure kind 'dedlock': choose one of"):
        assert_interleaving_bug(never_called, kind="dedlock")
    with pytest.raises(TypeError, match="replays must be an int"):
        assert_interleaving_bug(never_called, replays=1.5)
    with pytest.raises(TypeError, match="require_complete must be True or False"):
        assert_no_interleaving_bug(never_called, require_complete="no")


def test_a_depth_first_instance_must_cover_its_space_like_the_dfs_name():
    # Before, only strategy="dfs" required a complete search: DepthFirst(...) passed with one
    # schedule out of many explored.
    with pytest.raises(AssertionError, match="exploration incomplete"):
        assert_no_interleaving_bug(BUFFER, strategy=DepthFirst(2), max_schedules=1)


def test_os_exit_inside_a_program_fails_the_schedule_and_the_process_lives_on():
    def program() -> None:
        worker = threading.Thread(target=os._exit, args=(5,))
        worker.start()
        worker.join()

    result = explore_program(program, max_schedules=3)
    assert result.failure is not None
    assert result.failure.kind is FailureKind.EXCEPTION
    assert "os._exit(5) called inside a controlled run" in result.failure.message
    assert os._exit.__module__ == "posix"  # restored after the run


def test_a_replay_that_does_not_fail_says_so_not_that_a_budget_ran_out():
    result = explore_program(two_lockers, decisions=[])
    assert result.ok
    assert result.summary().startswith("no failure in the replayed schedule")


def test_decisions_of_another_configuration_are_named_as_a_possible_cause():
    # Decision 0 of this shape chooses among threads 1 to 3: 5 was recorded elsewhere.
    with pytest.raises(NondeterminismError, match="recorded for another program or other "
                       "arguments"):
        explore(BUFFER, decisions=[5, 5, 5])
