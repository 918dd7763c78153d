"""Failing schedules are shown as a table and as timeline data, and the command line replays
them."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from pcmodel.cli import main
from pcmodel.sched import Interval, ThreadStatus, explore, format_table, timeline

ZOO = Path(__file__).parent / "zoo"
SMALL = {"producers": 1, "consumers": 2, "capacity": 1, "items": 2}


def zoo(name):
    return importlib.import_module(f"tests.sched.zoo.{name}").BoundedBuffer


def test_table_has_one_column_per_thread_and_the_buffer():
    failure = explore(zoo("missing_notify"), **SMALL).failure
    table = failure.table()
    header = table.splitlines()[0]
    for column in ("step", "main", "P1", "C1", "C2", "buffer"):
        assert column in header
    assert "wait not_empty" in table  # primitives are named after the buffer's attributes
    assert "[1]" in table  # the buffer's contents
    text = str(failure)
    assert "deadlock" in text and "Replay it with: pcmodel.sched.explore(" in text
    assert "waits on not_empty for a notify" in failure.message
    assert "items not received yet" in failure.message


def test_preemptions_are_marked():
    failure = explore(zoo("lost_wakeup"), **SMALL).failure
    assert failure.preemptions == 1
    marked = [e for e in failure.trace if e.preempted]
    assert len(marked) == 1
    assert any(line.startswith("*") for line in failure.table().splitlines())


def test_timeline_intervals_are_well_formed():
    failure = explore(zoo("if_not_while"), **SMALL).failure
    intervals = failure.timeline()
    allowed = {state.value for state in ThreadStatus}
    assert intervals and all(isinstance(iv, Interval) for iv in intervals)
    by_actor: dict[str, list[Interval]] = {}
    for iv in intervals:
        assert iv.state in allowed
        assert 0 <= iv.start < iv.end <= failure.steps
        by_actor.setdefault(iv.actor, []).append(iv)
    for actor, bars in by_actor.items():
        for before, after in zip(bars, bars[1:]):
            assert before.end <= after.start, actor
    # Exactly one thread runs during each step.
    running = [iv for iv in intervals if iv.state == "running"]
    assert sum(iv.end - iv.start for iv in running) == failure.steps
    states = {iv.state for iv in intervals}
    assert "waiting for items" in states


def test_timeline_merges_repeated_states():
    rows = [
        (("A", ThreadStatus.RUNNING), ("B", ThreadStatus.BLOCKED)),
        (("A", ThreadStatus.RUNNING), ("B", ThreadStatus.BLOCKED)),
        (("B", ThreadStatus.RUNNING),),
    ]
    assert timeline(rows) == [
        Interval("A", "running", 0, 2),
        Interval("B", "blocked", 0, 2),
        Interval("B", "running", 2, 3),
    ]


def test_format_table_keeps_the_last_rows():
    failure = explore(zoo("missing_notify"), **SMALL).failure
    short = format_table(failure.trace, max_rows=3)
    assert "earlier rows left out" in short
    with pytest.raises(ValueError, match="width"):
        format_table(failure.trace, width=2)


def test_cli_finds_replays_and_passes(capsys):
    target = f"{ZOO / 'ring_no_mutex.py'}:BoundedBuffer"
    status = main(["explore", target, "--capacity", "2", "--lines"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED (invariant)" in out
    command = out.split("Replay it with: ")[1].splitlines()[0]
    assert command.startswith("pcmodel explore ")
    replay = command.split("--replay ")[1]
    status = main(["explore", target, "--capacity", "2", "--lines", "--replay", replay])
    again = capsys.readouterr().out
    assert status == 1
    assert again.split("\n", 1)[1] == out.split("\n", 1)[1]  # same failure, same table

    # The shape that found the ring's bug, every line scheduled: a correct buffer passes it
    # (96 schedules; the default shapes search about 2,000).
    status = main(["explore", f"{ZOO / 'ok_condition.py'}:BoundedBuffer", "--capacity", "2",
                   "--lines"])
    assert status == 0
    assert "passed (complete)" in capsys.readouterr().out


def test_cli_rejects_bad_targets(capsys):
    assert main(["explore", "no_colon"]) == 2
    assert "PATH.py:NAME" in capsys.readouterr().err
    assert main(["explore", f"{ZOO / 'ok_condition.py'}:Nope"]) == 2
    assert "defines no 'Nope'" in capsys.readouterr().err


def test_explore_validates_arguments():
    with pytest.raises(ValueError, match="producers"):
        explore(zoo("ok_condition"), producers=0)
    with pytest.raises(ValueError, match="strategy"):
        explore(zoo("ok_condition"), strategy="bfs")
    with pytest.raises(ValueError, match="lines"):
        explore(zoo("ok_condition"), lines="some")


def test_lines_work_for_a_module_loaded_from_a_path():
    """A student's file loaded by path (not in sys.modules) still gets line-level points."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("student_ring", ZOO / "ring_no_mutex.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = explore(module.BoundedBuffer, **dict(SMALL, capacity=2), lines=True)
    assert result.failure is not None
    assert any(event.op == "line" for event in result.failure.trace)


def test_storage_guess_is_only_trusted_when_unambiguous():
    from collections import deque

    from pcmodel.sched.harness import find_storage

    class Named:
        def __init__(self):
            self.waiters = deque()
            self.items = deque([1])

    class Ambiguous:
        def __init__(self):
            self.a = deque()
            self.b = deque()

    class Ring:
        def __init__(self):
            self.slots = [None, None]

    storage, sure = find_storage(Named())
    assert list(storage) == [1] and sure
    assert find_storage(Ambiguous())[1] is False
    storage, sure = find_storage(Ring())
    assert storage == [None, None] and not sure
    assert find_storage(object()) == (None, False)


def test_a_replayed_schedule_is_counted_in_the_singular(capsys):
    target = f"{ZOO / 'ring_no_mutex.py'}:BoundedBuffer"
    main(["explore", target, "--capacity", "2", "--lines"])
    replay = capsys.readouterr().out.split("--replay ")[1].split()[0]
    assert main(["explore", target, "--capacity", "2", "--lines", "--replay", replay]) == 1
    assert "FAILED (invariant): 1 schedule, strategy" in capsys.readouterr().out
